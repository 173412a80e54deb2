// Events a training or evaluation process emits. The CLI prints them (as text, or as JSON lines
// with --events json) and the extension parses the JSON lines from the child process's stdout.

export interface BackendReport {
  /** tfjs backend name actually in use: "tensorflow", "webgpu", "wasm". */
  name: string;
  /** Adapter / library detail, e.g. "Dawn Vulkan: NVIDIA H100" or "XNNPACK SIMD, 1 thread". */
  detail: string;
}

export type EngineEvent =
  | { type: 'start'; runDir: string; backend: BackendReport; textSource: string; textKind: string; dataset: string; nTrain: number; nVal: number; epochs: number; stepsPerEpoch: number; backbone: string; synthetic: boolean }
  | { type: 'step'; step: number; epoch: number; totalSteps: number; loss: number; ls: number; lt: number; lc: number; lr: number; imgPerSec: number; etaSec: number; trainAcc: number }
  | { type: 'epoch'; epoch: number; step: number; trainLoss: number; valAccuracy: number | null; valMeanClassAccuracy: number | null; valLoss: number | null; best: boolean; checkpoint: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'done'; runDir: string; bestEpoch: number; selectedOn: 'validation' | 'last-epoch'; valAccuracy: number | null; checkpoint: string; cancelled: boolean }
  | { type: 'error'; message: string };

export type EngineEventType = EngineEvent['type'];

/**
 * What `kefer issues --cross-val K --events json` prints, one JSON object a line (cli/issuesCrossVal.ts);
 * the extension's "Find Label Issues" command turns them into progress. Not EngineEvents: a
 * cross-validation has folds, not one training run.
 */
export type CrossValCliEvent =
  /** epochs: per fold (head epochs, or model epochs in backbone mode). */
  | { type: 'start'; k: number; samples: number; mode: 'hog' | 'checkpoint' | 'backbone'; epochs: number }
  | { type: 'features'; rows: number; dim: number; seconds: number }
  | { type: 'fold-start'; fold: number; k: number; train: number; heldOut: number }
  | { type: 'fold-done'; fold: number; k: number; seconds: number; resumed: boolean; elapsed: number }
  /** backbone mode: one per model epoch of a fold */
  | { type: 'fold-epoch'; fold: number; epoch: number; trainLoss: number }
  | { type: 'log'; message: string; relabeled?: number; excluded?: number }
  | { type: 'done'; records: number; accuracy: number; estimatedIssues: number; recordsFile: string }
  /** with --store: the run id the records were registered under */
  | { type: 'registered'; run: string; records: number };

export type CrossValCliEventType = CrossValCliEvent['type'];

/** One tier's counts, as `kefer data dups --events json` reports them when the tier is done. */
export interface DupsTierCounts {
  tier: 'exact' | 'near' | 'semantic';
  threshold: number;
  clusters: number;
  /** Images in clusters. */
  images: number;
  /** Clusters and images of the later split, per leak kind. */
  leaks: Record<'train-test' | 'train-val' | 'val-test', { clusters: number; images: number }>;
  /** Images an exclusion of the leaked copies would exclude. */
  leakedCopies: number;
  /** Clusters whose members carry different labels. */
  conflicts: number;
  seconds: number;
}

/**
 * What `kefer data dups SPEC --events json` prints, one JSON object a line (cli/dups.ts); the
 * extension's "Find Duplicates" command turns them into progress. Phases: embeddings (with --run),
 * fingerprints (decode + hash every image), near (the perceptual-hash search), semantic, store.
 */
export type DupsCliEvent =
  | { type: 'start'; spec: string; images: number; tiers: ('exact' | 'near' | 'semantic')[] }
  /** done / total images of a phase (total 0: a phase without a count, e.g. the semantic index) */
  | { type: 'progress'; phase: 'embeddings' | 'fingerprints' | 'near' | 'semantic' | 'store'; done: number; total: number; note?: string }
  | ({ type: 'tier' } & DupsTierCounts)
  /** scan: the store's scan id, null with --no-store */
  | { type: 'done'; images: number; seconds: number; scan: number | null; store: string | null; datasetRoot: string; tiers: DupsTierCounts[] };

export type DupsCliEventType = DupsCliEvent['type'];
