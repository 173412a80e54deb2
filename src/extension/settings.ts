// Maps the `kefer.*` settings to `kefer train` arguments. Pure (no vscode import) so it is unit-tested.
import { isSortKey, type SortKey } from '../webviews/protocol.js';

export type Backend = 'auto' | 'tensorflow' | 'webgpu' | 'wasm';
/** Where the encoder trains: see `kefer train --runtime`; 'torch' is `kefer train --engine torch` (PyTorch, torchrun). */
export type TrainRuntime = 'auto' | 'cuda' | 'onednn' | 'onnx' | 'tfjs' | 'torch';
export const TRAIN_RUNTIMES: readonly TrainRuntime[] = ['auto', 'cuda', 'onednn', 'onnx', 'tfjs', 'torch'];
/** swin_t trains on the torch runtime only. */
export type Backbone = 'resnet18' | 'compact' | 'swin_t';
export type Contrast = 'pairwise' | 'per-sample';
/** `kefer train --ferplus-labels` (FERPlus data only) and `--balance`. */
export type FerplusLabels = 'majority' | 'probability' | 'crossentropy' | 'multitarget';
export type Balance = 'none' | 'sampler' | 'weights';

export interface TrainSettings {
  backend: Backend;
  trainRuntime: TrainRuntime;
  backbone: Backbone;
  epochs: number;
  batchSize: number;
  learningRate: number;
  lambdaS: number;
  lambdaT: number;
  lambdaC: number;
  contrast: Contrast;
  /** Text-embedding source passed as --text ("auto", "clip", "standin", or a file path). */
  textEncoder: string;
  seed: number | null;
  ferplusLabels: FerplusLabels;
  balance: Balance;
  /** Runtime 'torch': processes on this machine (torchrun --nproc_per_node; one per GPU). */
  torchProcesses: number;
  /** Runtime 'torch': the Python with torch (KEFER_PYTHON for the engine); empty: the engine's search. */
  torchPython: string;
}

/** The method's defaults (shared/docs/method.md). */
export const DEFAULT_SETTINGS: TrainSettings = {
  backend: 'auto',
  trainRuntime: 'auto',
  backbone: 'resnet18',
  epochs: 50,
  batchSize: 64,
  learningRate: 0.002,
  lambdaS: 1,
  lambdaT: 1,
  lambdaC: 1,
  contrast: 'pairwise',
  textEncoder: 'auto',
  seed: null,
  ferplusLabels: 'majority',
  balance: 'none',
  torchProcesses: 1,
  torchPython: '',
};

export interface TrainRequest {
  data: string;
  val?: string;
  outDir: string;
  settings: TrainSettings;
  /** Bounded run (the sample dataset's short train, tests). */
  maxSteps?: number;
  epochsOverride?: number;
  /** Workspace store: the engine applies its relabel overlay, then registers the run and its records. */
  storePath?: string;
  /** Store id of the run this one retrains. */
  parent?: string;
  /** Quick retrain: only the head + F_n train on this checkpoint's frozen encoder features. */
  head?: { checkpoint: string };
  /** Extra engine flags (the sample dataset's short-run settings). */
  extra?: readonly string[];
}

/**
 * The synthetic sample's short run uses the settings `kefer demo` measured to learn in a few dozen
 * steps (no warm-up, lr 0.02, logit scale 16, no random erasing, 32 px); the method's defaults
 * (1 warm-up epoch at 1e-4, s = 100) leave a 20-step run at chance.
 */
export const SAMPLE_RUN_FLAGS: readonly string[] = ['--warmup-epochs', '0', '--lr', '0.02', '--logit-scale', '16', '--augment', 'light', '--input-size', '32'];

/** Environment of the engine process for these settings: KEFER_PYTHON for the torch runtime. */
export function trainEnv(s: TrainSettings): Record<string, string> | undefined {
  return s.trainRuntime === 'torch' && s.torchPython ? { KEFER_PYTHON: s.torchPython } : undefined;
}

export function trainArgs(r: TrainRequest): string[] {
  const s = r.settings;
  if (r.head) {
    // The head retrain reads its architecture and text embeddings from the checkpoint and re-scores
    // every split, so the full-training flags do not apply.
    const a = ['train', '--data', r.data, '--out', r.outDir, '--mode', 'head', '--checkpoint', r.head.checkpoint];
    if (r.storePath) a.push('--store', r.storePath);
    if (r.parent) a.push('--parent', r.parent);
    a.push('--events', 'json');
    return a;
  }
  const a = ['train', '--data', r.data];
  if (r.val) a.push('--val', r.val);
  a.push('--out', r.outDir, '--backbone', s.backbone, '--epochs', String(r.epochsOverride ?? s.epochs), '--batch', String(s.batchSize));
  a.push('--lr', String(s.learningRate), '--contrast', s.contrast);
  a.push('--lambda-s', String(s.lambdaS), '--lambda-t', String(s.lambdaT), '--lambda-c', String(s.lambdaC));
  if (s.textEncoder && s.textEncoder !== 'auto') a.push('--text', s.textEncoder);
  if (s.trainRuntime === 'torch') {
    // PyTorch under torchrun; with several processes, BatchNorm over the global batch (a step equals one process's)
    a.push('--engine', 'torch');
    if (s.torchProcesses > 1) a.push('--nproc', String(s.torchProcesses), '--sync-bn');
  } else a.push('--backend', s.backend, '--runtime', s.trainRuntime);
  if (s.seed !== null) a.push('--seed', String(s.seed));
  // The vote schemes need FERPlus's votes: other datasets keep their labels.
  if (s.ferplusLabels !== 'majority' && r.data.startsWith('ferplus:')) a.push('--ferplus-labels', s.ferplusLabels);
  if (s.balance !== 'none') a.push('--balance', s.balance);
  if (r.maxSteps !== undefined) a.push('--max-steps', String(r.maxSteps));
  if (r.extra) a.push(...r.extra);
  if (r.storePath) a.push('--store', r.storePath);
  if (r.parent) a.push('--parent', r.parent);
  // records for every training sample too, so the panel lists training-set mistakes (label noise)
  a.push('--diagnose', 'all', '--events', 'json');
  return a;
}

/** Precision of `KE-FER: Evaluate` (`kefer eval --precision`): int8 is ~3x faster on CPUs, fp32 exact. */
export type EvalPrecision = 'fp32' | 'int8';

/** `kefer eval` arguments that write a run's records.jsonl. int8 calibrates on the evaluated images when needed. */
export function evalArgs(checkpoint: string, dataSpec: string, recordsFile: string, precision: EvalPrecision): string[] {
  const a = ['eval', '--checkpoint', checkpoint, '--data', dataSpec, '--json', '--per-sample', recordsFile];
  if (precision === 'int8') a.push('--precision', 'int8');
  return a;
}

export function readEvalPrecision(get: <T>(key: string) => T | undefined): EvalPrecision {
  return get<string>('evalPrecision') === 'int8' ? 'int8' : 'fp32';
}

/** `kefer.suspiciousLabels.ranker`: the diagnostics grid's initial order (default: the combined issue score). */
export function readRanker(get: <T>(key: string) => T | undefined): SortKey {
  const v = get<string>('suspiciousLabels.ranker');
  // The spot-check and calibrated orders depend on a run's reviews: the panel switches to them, a setting does not start there.
  return isSortKey(v) && v !== 'spotcheck' && v !== 'calibrated' ? v : 'issue';
}

/** Reads settings from any getter (vscode's WorkspaceConfiguration in the host, a map in tests). */
export function readSettings(get: <T>(key: string) => T | undefined): TrainSettings {
  const d = DEFAULT_SETTINGS;
  const num = (k: string, def: number, min: number): number => {
    const v = get<number>(k);
    return typeof v === 'number' && Number.isFinite(v) && v >= min ? v : def;
  };
  const pick = <T extends string>(k: string, allowed: readonly T[], def: T): T => {
    const v = get<string>(k);
    return allowed.includes(v as T) ? (v as T) : def;
  };
  const seed = get<number | null>('seed');
  return {
    backend: pick('backend', ['auto', 'tensorflow', 'webgpu', 'wasm'] as const, d.backend),
    trainRuntime: pick('trainRuntime', TRAIN_RUNTIMES, d.trainRuntime),
    backbone: pick('backbone', ['resnet18', 'compact', 'swin_t'] as const, d.backbone),
    epochs: Math.round(num('epochs', d.epochs, 1)),
    batchSize: Math.round(num('batchSize', d.batchSize, 1)),
    learningRate: num('learningRate', d.learningRate, 0),
    lambdaS: num('lambdaS', d.lambdaS, 0),
    lambdaT: num('lambdaT', d.lambdaT, 0),
    lambdaC: num('lambdaC', d.lambdaC, 0),
    contrast: pick('contrast', ['pairwise', 'per-sample'] as const, d.contrast),
    textEncoder: get<string>('textEncoder')?.trim() || d.textEncoder,
    seed: typeof seed === 'number' && Number.isInteger(seed) ? seed : null,
    ferplusLabels: pick('ferplusLabels', ['majority', 'probability', 'crossentropy', 'multitarget'] as const, d.ferplusLabels),
    balance: pick('balance', ['none', 'sampler', 'weights'] as const, d.balance),
    torchProcesses: Math.round(num('torch.processes', d.torchProcesses, 1)),
    torchPython: get<string>('torch.python')?.trim() ?? d.torchPython,
  };
}

/** Filesystem-safe run folder name (also the store's run id): <date>-<dataset>[-retrain-head|-retrain-full]. */
export function runFolderName(datasetName: string, now: Date, retrain?: 'head' | 'full'): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const ds = datasetName.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40) || 'data';
  return `${stamp}-${ds}${retrain ? `-retrain-${retrain}` : ''}`;
}
