// "KE-FER: Find Label Issues (Cross-Validation)" without vscode: the `kefer issues --cross-val` arguments,
// the K the user typed, the CLI's JSON event lines and the progress they mean. The command in
// labelIssues.ts is the glue around these (unit-tested in test/unit/crossValidation.test.ts).
import type { CrossValCliEvent, CrossValCliEventType } from '../engine/events.js';
import { eventObject, finiteNumbers } from './engine/eventStream.js';
import type { TrainSettings } from './settings.js';

/** The three fold trainers of `kefer issues --cross-val` (docs/label-issues.md, "What is out-of-sample"). */
export type CrossValMode =
  | { kind: 'hog' }
  | { kind: 'checkpoint'; checkpoint: string }
  | { kind: 'backbone'; backbone: TrainSettings['backbone'] };

export interface CrossValRequest {
  data: string;
  outDir: string;
  k: number;
  mode: CrossValMode;
  /** The extension's store: relabel overlay in, the run and its out-of-fold records out. */
  storePath: string;
  /** The user's training settings: text source for every mode; backend, runtime, batch and lr for backbone mode. */
  settings: TrainSettings;
  /** Per-fold epochs; absent: the CLI's defaults (10 head epochs, 15 model epochs). */
  epochs?: number;
}

export const DEFAULT_K = 5;
export const MAX_K = 20;

/** K as typed in the input box: a whole number 2..MAX_K, or the message to show. */
export function parseK(text: string): { k: number } | { error: string } {
  const t = text.trim();
  if (t === '') return { k: DEFAULT_K };
  if (!/^\d+$/.test(t)) return { error: `K must be a whole number (2-${MAX_K}), got '${t}'` };
  const k = Number(t);
  if (k < 2 || k > MAX_K) return { error: `K must be between 2 and ${MAX_K}: each fold trains on (K-1)/K of the data` };
  return { k };
}

export function crossValArgs(r: CrossValRequest): string[] {
  if (!Number.isInteger(r.k) || r.k < 2) throw new RangeError(`cross-validation needs K >= 2, got ${r.k}`);
  const a = ['issues', '--cross-val', String(r.k), '--data', r.data, '--out', r.outDir];
  const s = r.settings;
  switch (r.mode.kind) {
    case 'hog':
      a.push('--features', 'hog');
      break;
    case 'checkpoint':
      // the head on the checkpoint's frozen features, with the checkpoint's own text embeddings
      a.push('--checkpoint', r.mode.checkpoint);
      break;
    case 'backbone':
      // cross-validation trains on the engine: the torch runtime's folds would each start torchrun
      a.push('--backbone', r.mode.backbone, '--batch', String(s.batchSize), '--lr', String(s.learningRate), '--backend', s.backend, '--runtime', s.trainRuntime === 'torch' ? 'auto' : s.trainRuntime);
      break;
  }
  // As `kefer train`: an explicit text source is passed on; 'auto' leaves the CLI's offline default.
  if (r.mode.kind !== 'checkpoint' && s.textEncoder && s.textEncoder !== 'auto') a.push('--text', s.textEncoder);
  if (r.epochs !== undefined) a.push('--epochs', String(r.epochs));
  if (s.seed !== null) a.push('--seed', String(s.seed));
  a.push('--store', r.storePath, '--events', 'json');
  return a;
}

const TYPES: ReadonlySet<string> = new Set<CrossValCliEventType>(['start', 'features', 'fold-start', 'fold-done', 'fold-epoch', 'log', 'done', 'registered']);

/** One stdout line of `kefer issues --cross-val --events json`; undefined for anything else (logged as text). */
export function parseCrossValLine(line: string): CrossValCliEvent | undefined {
  const o = eventObject(line, TYPES);
  if (!o) return undefined;
  const nums = (...keys: string[]) => finiteNumbers(o, ...keys);
  // The fields progress reads must be there: a malformed line is text, never a wrong progress value.
  switch (o.type) {
    case 'start': return nums('k', 'samples') ? (o as unknown as CrossValCliEvent) : undefined;
    case 'fold-start': case 'fold-done': return nums('fold', 'k') ? (o as unknown as CrossValCliEvent) : undefined;
    case 'fold-epoch': return nums('fold', 'epoch') ? (o as unknown as CrossValCliEvent) : undefined;
    case 'features': return nums('rows', 'dim', 'seconds') ? (o as unknown as CrossValCliEvent) : undefined;
    case 'log': return typeof o.message === 'string' ? (o as unknown as CrossValCliEvent) : undefined;
    case 'done': return nums('records', 'accuracy', 'estimatedIssues') ? (o as unknown as CrossValCliEvent) : undefined;
    case 'registered': return typeof o.run === 'string' && nums('records') ? (o as unknown as CrossValCliEvent) : undefined;
    default: return undefined;
  }
}

export interface ProgressUpdate {
  /** Done so far, 0..1 (never decreases). */
  fraction: number;
  message: string;
}

/**
 * Progress of one cross-validation from its events: fold i of K, and inside a fold its epochs when the
 * CLI reports them (backbone mode). A resumed fold counts as done at once.
 */
export class CrossValProgress {
  private k = 0;
  private epochs = 0;
  private foldsDone = 0;
  private fraction = 0;
  /** Out-of-fold accuracy and confident learning's estimate, from `done`. */
  summary: { records: number; accuracy: number; estimatedIssues: number } | undefined;
  /** The store run id, from `registered`. */
  run: string | undefined;

  /** The progress after `e`, or undefined when the event does not move it (a log line). */
  update(e: CrossValCliEvent): ProgressUpdate | undefined {
    switch (e.type) {
      case 'start':
        this.k = e.k;
        this.epochs = e.epochs ?? 0;
        return this.at(0, `${e.samples} samples in ${e.k} folds (${e.mode === 'hog' ? 'KE-FER head on HOG features' : e.mode === 'checkpoint' ? 'KE-FER head on the checkpoint’s features' : 'whole model per fold'})`);
      case 'features':
        return this.at(this.fraction, `features ${e.rows} x ${e.dim} in ${e.seconds.toFixed(0)} s`);
      case 'fold-start':
        this.k = e.k;
        return this.at(this.foldsDone / this.k, `fold ${e.fold}/${e.k}: training on ${e.train}, holding out ${e.heldOut}`);
      case 'fold-epoch': {
        const within = this.epochs > 0 ? Math.min(1, e.epoch / this.epochs) : 0;
        return this.at((this.foldsDone + within) / Math.max(1, this.k), `fold ${e.fold}/${this.k} epoch ${e.epoch}${this.epochs ? `/${this.epochs}` : ''}: loss ${e.trainLoss.toFixed(3)}`);
      }
      case 'fold-done':
        this.k = e.k;
        this.foldsDone = Math.max(this.foldsDone, e.fold);
        return this.at(this.foldsDone / this.k, `fold ${e.fold}/${e.k} ${e.resumed ? 'read back from an earlier run' : `done in ${e.seconds.toFixed(0)} s`}`);
      case 'done':
        this.summary = { records: e.records, accuracy: e.accuracy, estimatedIssues: e.estimatedIssues };
        return this.at(1, `${e.records} out-of-fold records, accuracy ${(100 * e.accuracy).toFixed(1)}%, confident learning estimates ${e.estimatedIssues} issues`);
      case 'registered':
        this.run = e.run;
        return this.at(1, `run ${e.run} registered in the store`);
      case 'log':
        return undefined;
    }
  }

  private at(fraction: number, message: string): ProgressUpdate {
    this.fraction = Math.max(this.fraction, Math.min(1, fraction));
    return { fraction: this.fraction, message };
  }
}
