// "KE-FER: Find Duplicates" without vscode: the `kefer data dups` arguments, the CLI's JSON event lines
// and the progress they mean, and what the notification says at the end. The command in
// findDuplicates.ts is the glue around these (unit-tested in test/unit/duplicates-command.test.ts).
import type { DupsCliEvent, DupsCliEventType, DupsTierCounts } from '../engine/events.js';
import { eventObject, finiteNumbers } from './engine/eventStream.js';
import type { ProgressUpdate } from './crossValidation.js';

export interface DupsRequest {
  /** The dataset spec (`folder:/abs/path`, `ferplus:...`). */
  spec: string;
  /** The workspace store: the scan is kept there (the view reads it). */
  storePath: string;
  /** A run folder: its best checkpoint's embeddings add the semantic tier. */
  run?: string;
  /** kefer.duplicates.nearThreshold / semanticThreshold; null: the engine's defaults. */
  nearThreshold?: number | null;
  semanticThreshold?: number | null;
}

export function dupsArgs(r: DupsRequest): string[] {
  const a = ['data', 'dups', r.spec, '--store', r.storePath, '--events', 'json'];
  if (r.run) a.push('--run', r.run);
  if (typeof r.nearThreshold === 'number') a.push('--near-threshold', String(r.nearThreshold));
  if (r.run && typeof r.semanticThreshold === 'number') a.push('--semantic-threshold', String(r.semanticThreshold));
  return a;
}

/** A similarity threshold setting: a number in [-1, 1], else null (the engine's default). */
export function readThreshold(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= -1 && v <= 1 ? v : null;
}

const TYPES: ReadonlySet<string> = new Set<DupsCliEventType>(['start', 'progress', 'tier', 'done']);
const PHASES = ['embeddings', 'fingerprints', 'near', 'semantic', 'store'] as const;
type Phase = (typeof PHASES)[number];

/** One stdout line of `kefer data dups --events json`; undefined for anything else (logged as text). */
export function parseDupsLine(line: string): DupsCliEvent | undefined {
  const o = eventObject(line, TYPES);
  if (!o) return undefined;
  const nums = (...keys: string[]) => finiteNumbers(o, ...keys);
  // The fields progress and the notification read must be there: a malformed line is text, never a wrong value.
  switch (o.type) {
    case 'start': return nums('images') && Array.isArray(o.tiers) ? (o as unknown as DupsCliEvent) : undefined;
    case 'progress': return (PHASES as readonly unknown[]).includes(o.phase) && nums('done', 'total') ? (o as unknown as DupsCliEvent) : undefined;
    case 'tier': return typeof o.tier === 'string' && nums('clusters', 'images', 'leakedCopies', 'conflicts') ? (o as unknown as DupsCliEvent) : undefined;
    case 'done': return nums('images', 'seconds') && Array.isArray(o.tiers) && typeof o.datasetRoot === 'string' ? (o as unknown as DupsCliEvent) : undefined;
    default: return undefined;
  }
}

/**
 * Progress of one scan from its events: the phases in order, each weighted by what it costs (the near
 * search dominates on FER-sized images; embeddings only with a run), each advancing with its counts.
 */
export class DupsProgress {
  private weights: Record<Phase, number> = { embeddings: 0, fingerprints: 0.35, near: 0.55, semantic: 0, store: 0.1 };
  private fraction = 0;
  private images = 0;
  /** The last event `done`: the counts the notification reports. */
  done: Extract<DupsCliEvent, { type: 'done' }> | undefined;

  update(e: DupsCliEvent): ProgressUpdate | undefined {
    switch (e.type) {
      case 'start': {
        this.images = e.images;
        const has = (t: string) => e.tiers.includes(t as 'exact');
        this.weights = { embeddings: has('semantic') ? 0.3 : 0, fingerprints: 0.25, near: has('near') ? 0.5 : 0, semantic: has('semantic') ? 0.1 : 0, store: 0.05 };
        const sum = Object.values(this.weights).reduce((a, b) => a + b, 0);
        for (const p of PHASES) this.weights[p] /= sum;
        return this.at(0, `${fmt(e.images)} images; tiers ${e.tiers.join(', ')}`);
      }
      case 'progress': {
        const before = PHASES.slice(0, PHASES.indexOf(e.phase)).reduce((a, p) => a + this.weights[p], 0);
        const within = e.total > 0 ? Math.min(1, e.done / e.total) : 0;
        const what: Record<Phase, string> = {
          embeddings: `embeddings ${fmt(e.done)}/${fmt(e.total)}`,
          fingerprints: `decoding and hashing ${fmt(this.images || e.total)} images`,
          // the near search counts each image twice: its views hashed, then its lookups
          near: `near search ${Math.round(100 * within)}%`,
          semantic: `semantic: ${e.note ?? 'searching'}`,
          store: 'keeping the scan in the workspace store',
        };
        return this.at(before + this.weights[e.phase] * within, what[e.phase]);
      }
      case 'tier':
        return this.at(this.fraction, `${e.tier}: ${tierLine(e)}`);
      case 'done':
        this.done = e;
        return this.at(1, `done in ${e.seconds.toFixed(1)} s`);
    }
  }

  private at(fraction: number, message: string): ProgressUpdate {
    this.fraction = Math.max(this.fraction, Math.min(1, fraction));
    return { fraction: this.fraction, message };
  }
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** "3 clusters (11 images), 2 leaking: 6 leaked copies; 1 with conflicting labels". */
export function tierLine(t: DupsTierCounts): string {
  const leaking = Math.max(t.leaks['train-test'].clusters, t.leaks['train-val'].clusters, t.leaks['val-test'].clusters);
  const kinds = (['train-test', 'train-val', 'val-test'] as const).filter((k) => t.leaks[k].clusters > 0).map((k) => `${k} ${fmt(t.leaks[k].clusters)}`);
  return `${fmt(t.clusters)} cluster${t.clusters === 1 ? '' : 's'} (${fmt(t.images)} images)${leaking ? `, leaks ${kinds.join(', ')}: ${fmt(t.leakedCopies)} leaked cop${t.leakedCopies === 1 ? 'y' : 'ies'}` : ', no cross-split leak'}${t.conflicts ? `; ${fmt(t.conflicts)} with conflicting labels` : ''}`;
}

/** The notification after a scan: each tier's line. */
export function dupsSummary(done: Extract<DupsCliEvent, { type: 'done' }>): string {
  return done.tiers.map((t) => `${t.tier}: ${tierLine(t)}`).join(' · ');
}
