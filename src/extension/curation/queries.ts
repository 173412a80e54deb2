// Pure queries over one run's per-sample records and the label overlay: the paging, filtering and
// sorting the diagnostics grid needs, the confusion matrix, alignment stats and run comparison.
// Kept free of I/O so they are unit-tested and run unchanged inside the curation worker process.
import type { SampleRecord } from '../../engine/eval/types.js';
import type { GridFilter, GridQuery, RunComparison, ScatterPoint, SortKey } from '../../webviews/protocol.js';

export interface OverlayState {
  /** Current label after relabels; absent = dataset label. */
  label?: number;
  excluded?: boolean;
  unsure?: boolean;
}

export type OverlayLookup = (id: string) => OverlayState | undefined;

export interface Scored {
  r: SampleRecord;
  currentLabel: number;
  confidence: number;
  issue: number;
  relabeled: boolean;
  excluded: boolean;
  unsure: boolean;
}

/** Issue score: 1 - p(current label) (cleanlab's self-confidence, inverted so higher = worse). */
export function score(r: SampleRecord, o: OverlayState | undefined): Scored {
  const currentLabel = o?.label ?? r.label;
  return {
    r,
    currentLabel,
    confidence: r.probs[r.pred] ?? 0,
    issue: 1 - (r.probs[currentLabel] ?? 0),
    relabeled: o?.label !== undefined && o.label !== r.label,
    excluded: !!o?.excluded,
    unsure: !!o?.unsure,
  };
}

export function matches(s: Scored, f: GridFilter): boolean {
  if (f.trueClass !== null && s.currentLabel !== f.trueClass) return false;
  if (f.predClass !== null && s.r.pred !== f.predClass) return false;
  if (f.split !== null && s.r.split !== f.split) return false;
  if (f.relabeled !== null && s.relabeled !== f.relabeled) return false;
  if (f.mistakesOnly && s.r.pred === s.currentLabel) return false;
  return true;
}

const SORTERS: Record<SortKey, (a: Scored, b: Scored) => number> = {
  // most confident mistakes first: those are the likeliest label errors
  confidence: (a, b) => b.confidence - a.confidence,
  // smallest emotional-to-neutral gap first: faces the model sees as nearly neutral
  gap: (a, b) => a.r.gap - b.r.gap,
  issue: (a, b) => b.issue - a.issue,
};

/** Filters and sorts once per (filter, sort, overlay version); callers cache the result and slice pages. */
export function selectSorted(records: readonly SampleRecord[], overlay: OverlayLookup, filter: GridFilter, sort: SortKey): Scored[] {
  const out: Scored[] = [];
  for (const r of records) {
    const s = score(r, overlay(r.id));
    if (matches(s, filter)) out.push(s);
  }
  const cmp = SORTERS[sort];
  out.sort((a, b) => cmp(a, b) || (a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0));
  return out;
}

export function page<T>(all: readonly T[], q: Pick<GridQuery, 'offset' | 'limit'>): T[] {
  return all.slice(q.offset, q.offset + q.limit);
}

/** confusion[current label][pred]; excluded samples are left out. */
export function confusion(records: readonly SampleRecord[], overlay: OverlayLookup, numClasses: number, split: string | null = null): number[][] {
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (const r of records) {
    if (split !== null && r.split !== split) continue;
    const o = overlay(r.id);
    if (o?.excluded) continue;
    const y = o?.label ?? r.label;
    if (y < numClasses && r.pred < numClasses) m[y][r.pred]++;
  }
  return m;
}

export function accuracy(records: readonly SampleRecord[], split: string | null = null): number {
  let n = 0;
  let ok = 0;
  for (const r of records) {
    if (split !== null && r.split !== split) continue;
    n++;
    if (r.pred === r.label) ok++;
  }
  return n ? ok / n : 0;
}

export function alignStats(records: readonly SampleRecord[], overlay: OverlayLookup, cls: number): { mean: number; std: number; p10: number; p90: number } | null {
  const v: number[] = [];
  for (const r of records) {
    if (r.align === null) continue;
    if ((overlay(r.id)?.label ?? r.label) === cls) v.push(r.align);
  }
  if (v.length === 0) return null;
  v.sort((a, b) => a - b);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  const q = (p: number): number => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  return { mean, std, p10: q(0.1), p90: q(0.9) };
}

/**
 * Compares two runs on the samples both evaluated. Accuracy is measured against each run's own labels
 * (the retrained run sees corrected labels); `changed` lists every sample whose prediction moved.
 */
export function compareRuns(before: readonly SampleRecord[], after: readonly SampleRecord[], split: string | null, limit = 500): Omit<RunComparison, 'before' | 'after'> & { accBefore: number; accAfter: number; changedIds: { id: string; label: number; predBefore: number; predAfter: number }[] } {
  const prev = new Map(before.map((r) => [r.id, r]));
  const changedIds: { id: string; label: number; predBefore: number; predAfter: number }[] = [];
  let fixed = 0;
  let broken = 0;
  for (const a of after) {
    if (split !== null && a.split !== split) continue;
    const b = prev.get(a.id);
    if (!b || b.pred === a.pred) continue;
    if (a.pred === a.label && b.pred !== a.label) fixed++;
    if (b.pred === a.label && a.pred !== a.label) broken++;
    if (changedIds.length < limit) changedIds.push({ id: a.id, label: a.label, predBefore: b.pred, predAfter: a.pred });
  }
  return { accBefore: accuracy(before, split), accAfter: accuracy(after, split), changedIds, changed: [], fixed, broken };
}

/**
 * 2-D projection for the embedding scatter: PCA (power iteration, two components) of the record's
 * embedding when the engine wrote one, else of its probability vector (the model's output space).
 */
export function project2d(records: readonly (SampleRecord & { embedding?: number[] })[], overlay: OverlayLookup, max = 20000): ScatterPoint[] {
  const step = Math.max(1, Math.ceil(records.length / max));
  const rows: { r: SampleRecord; v: number[] }[] = [];
  for (let i = 0; i < records.length; i += step) {
    const r = records[i];
    rows.push({ r, v: r.embedding ?? r.probs });
  }
  if (rows.length === 0) return [];
  const d = rows[0].v.length;
  const mean = new Array<number>(d).fill(0);
  for (const { v } of rows) for (let j = 0; j < d; j++) mean[j] += v[j] / rows.length;
  const centered = rows.map(({ v }) => v.map((x, j) => x - mean[j]));
  const comps: number[][] = [];
  for (let c = 0; c < 2; c++) {
    let w = Array.from({ length: d }, (_, j) => Math.sin(j * 12.9898 + c * 78.233 + 1));
    for (let it = 0; it < 30; it++) {
      const next = new Array<number>(d).fill(0);
      for (const x of centered) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += x[j] * w[j];
        for (let j = 0; j < d; j++) next[j] += dot * x[j];
      }
      for (const p of comps) {
        const k = next.reduce((a, v, j) => a + v * p[j], 0);
        for (let j = 0; j < d; j++) next[j] -= k * p[j];
      }
      const n = Math.hypot(...next) || 1;
      w = next.map((v) => v / n);
    }
    comps.push(w);
  }
  return rows.map(({ r }, i) => {
    const x = centered[i];
    const label = overlay(r.id)?.label ?? r.label;
    return {
      id: r.id,
      x: x.reduce((a, v, j) => a + v * comps[0][j], 0),
      y: x.reduce((a, v, j) => a + v * comps[1][j], 0),
      label,
      mistake: r.pred !== label,
    };
  });
}
