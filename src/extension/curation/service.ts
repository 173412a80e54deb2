// The curation service: answers the diagnostics views' queries for a run and records label changes.
// It runs inside the curation worker process (system Node), so big record sets and native store
// modules never load into the extension host. Paths come back relative; the host makes webview URIs.
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { SampleRecord } from '../../engine/eval/types.js';
import type { GridFilter, GridRow, LabelChange, ScatterPoint, SortKey } from '../../webviews/protocol.js';
import { JsonOverlay, type LabelOverlay } from './overlay.js';
import { alignStats, compareRuns, confusion, page, project2d, score, selectSorted, type Scored } from './queries.js';
import { classesFor, readMeta, readRecords } from '../runlist/runFiles.js';

/** A grid row before the host turns `path` into a webview URI. */
export type RawRow = Omit<GridRow, 'src'> & { path: string; root: string };

export interface RawSample {
  id: string;
  path: string;
  root: string;
  split: string;
  label: number;
  currentLabel: number;
  pred: number;
  probs: number[];
  simText: number;
  simNeutral: number;
  gap: number;
  align: number | null;
  classAlign: { mean: number; std: number; p10: number; p90: number } | null;
  history: LabelChange[];
  excluded: boolean;
  unsure: boolean;
}

interface LoadedRun {
  records: SampleRecord[];
  byId: Map<string, SampleRecord>;
  root: string;
  classes: string[];
  overlay: LabelOverlay;
  cache?: { key: string; version: number; rows: Scored[] };
}

export class CurationService {
  private runs = new Map<string, LoadedRun>();
  private overlays = new Map<string, LabelOverlay>();

  /** keferDir: <workspace>/.kefer, where overlays live (one per dataset root). */
  constructor(private readonly keferDir: string) {}

  overlayFile(datasetRoot: string): string {
    const h = crypto.createHash('sha1').update(path.resolve(datasetRoot)).digest('hex').slice(0, 12);
    return path.join(this.keferDir, 'overlays', `${path.basename(datasetRoot)}-${h}.json`);
  }

  private overlayFor(root: string): LabelOverlay {
    let o = this.overlays.get(root);
    if (!o) {
      o = new JsonOverlay(this.overlayFile(root));
      this.overlays.set(root, o);
    }
    return o;
  }

  private run(runDir: string): LoadedRun {
    let r = this.runs.get(runDir);
    if (!r) {
      const meta = readMeta(runDir);
      const records = readRecords(runDir);
      const root = meta?.datasetRoot ?? runDir;
      const maxLabel = records.reduce((m, x) => Math.max(m, x.label, x.pred), 0);
      r = { records, byId: new Map(records.map((x) => [x.id, x])), root, classes: meta?.classes ?? classesFor(maxLabel + 1), overlay: this.overlayFor(root) };
      if (records.length) this.runs.set(runDir, r);
    }
    return r;
  }

  /** Drops cached records (after a run finishes writing them). */
  reload(runDir: string): void {
    this.runs.delete(runDir);
  }

  info(runDir: string): { classes: string[]; n: number; root: string } {
    const r = this.run(runDir);
    return { classes: r.classes, n: r.records.length, root: r.root };
  }

  page(runDir: string, filter: GridFilter, sort: SortKey, offset: number, limit: number): { total: number; rows: RawRow[] } {
    const r = this.run(runDir);
    const key = JSON.stringify([filter, sort]);
    if (!r.cache || r.cache.key !== key || r.cache.version !== r.overlay.version) {
      r.cache = { key, version: r.overlay.version, rows: selectSorted(r.records, (id) => r.overlay.get(id), filter, sort) };
    }
    const rows = page(r.cache.rows, { offset, limit }).map((s) => this.row(r, s));
    return { total: r.cache.rows.length, rows };
  }

  private row(r: LoadedRun, s: Scored): RawRow {
    return {
      id: s.r.id, path: s.r.path, root: r.root, label: s.r.label, currentLabel: s.currentLabel, pred: s.r.pred,
      confidence: s.confidence, gap: s.r.gap, issue: s.issue, split: s.r.split, relabeled: s.relabeled,
      excluded: s.excluded, unsure: s.unsure,
    };
  }

  confusion(runDir: string): { classes: string[]; matrix: number[][] } {
    const r = this.run(runDir);
    return { classes: r.classes, matrix: confusion(r.records, (id) => r.overlay.get(id), r.classes.length) };
  }

  sample(runDir: string, id: string): RawSample | undefined {
    const r = this.run(runDir);
    const rec = r.byId.get(id);
    if (!rec) return undefined;
    const s = score(rec, r.overlay.get(id));
    return {
      id, path: rec.path, root: r.root, split: rec.split, label: rec.label, currentLabel: s.currentLabel, pred: rec.pred,
      probs: rec.probs, simText: rec.simText, simNeutral: rec.simNeutral, gap: rec.gap, align: rec.align,
      classAlign: alignStats(r.records, (x) => r.overlay.get(x), s.currentLabel),
      history: r.overlay.history(id), excluded: s.excluded, unsure: s.unsure,
    };
  }

  change(runDir: string, id: string, action: 'relabel' | 'exclude' | 'unsure', label: number | null): string[] {
    const r = this.run(runDir);
    if (!r.byId.has(id)) throw new Error(`unknown sample ${id}`);
    if (action === 'relabel' && (label === null || label < 0 || label >= r.classes.length)) throw new Error(`bad class ${label}`);
    r.overlay.apply(id, action, label);
    return [id];
  }

  undo(runDir: string): string[] {
    const id = this.run(runDir).overlay.undo();
    return id ? [id] : [];
  }

  scatter(runDir: string): ScatterPoint[] {
    const r = this.run(runDir);
    return project2d(r.records, (id) => r.overlay.get(id));
  }

  compare(beforeDir: string, afterDir: string): { accBefore: number; accAfter: number; fixed: number; broken: number; root: string; changed: { id: string; path: string; label: number; predBefore: number; predAfter: number }[] } {
    const b = this.run(beforeDir);
    const a = this.run(afterDir);
    const split = a.records.some((x) => x.split === 'test') ? 'test' : null;
    const c = compareRuns(b.records, a.records, split);
    return {
      accBefore: c.accBefore, accAfter: c.accAfter, fixed: c.fixed, broken: c.broken, root: a.root,
      changed: c.changedIds.map((x) => ({ ...x, path: a.byId.get(x.id)?.path ?? '' })),
    };
  }

  /** Corrected labels for the dataset a run used: id, path, original and current label, flags. */
  corrections(runDir: string): { root: string; classes: string[]; rows: { id: string; path: string; label: number; newLabel: number | null; excluded: boolean; unsure: boolean }[] } {
    const r = this.run(runDir);
    const rows = r.overlay.entries().map(([id, s]) => {
      const rec = r.byId.get(id);
      return { id, path: rec?.path ?? id, label: rec?.label ?? -1, newLabel: s.label ?? null, excluded: !!s.excluded, unsure: !!s.unsure };
    });
    return { root: r.root, classes: r.classes, rows };
  }
}
