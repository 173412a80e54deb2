// What a training run is given and gives back: its configuration, inputs, per-epoch history, the state a
// resume starts from, and the result.
import type { DataCheckRecord } from '../data/preflight.js';
import type { Dataset } from '../data/types.js';
import type { ImageCache } from '../data/decode.js';
import type { AugmentMode } from '../data/augment.js';
import type { EvalResult } from '../eval/evaluate.js';
import type { BackendReport, EngineEvent } from '../events.js';
import type { ContrastVariant } from '../losses.js';
import type { BackboneName } from '../model/index.js';
import type { CudaPrecision } from '../runtimes/cuda/addon.js';
import type { RuntimeChoice } from '../runtimes/registry.js';
import type { TextEmbeddings } from '../text/types.js';
import type { BalanceMode } from './balance.js';
import type { FerplusLabelScheme } from './labelSchemes.js';

export interface TrainConfig {
  backbone: BackboneName;
  inputSize?: number;
  epochs: number;
  /** Stop after this many optimizer steps in total (bounded runs, tests). */
  maxSteps?: number;
  batchSize: number;
  lr: number;
  warmupLr: number;
  warmupEpochs: number;
  momentum: number;
  weightDecay: number;
  contrast: ContrastVariant;
  lambdaS: number;
  lambdaT: number;
  lambdaC: number;
  logitScale: number;
  seed: number;
  /** torchvision-named ResNet-18 safetensors to start the encoder from. */
  init?: string;
  /** Training augmentation: the released code's ('standard'), without random erasing ('light'), or none. */
  augment?: AugmentMode;
  /** Data-parallel replicas on worker threads, the calling thread included (wasm only; 1 = single thread). See parallel.ts. */
  workers?: number;
  /**
   * Where the model trains (runtimes/: 'tfjs', 'onnx', 'onednn', 'cuda') or 'auto' (default:
   * runtimes/registry.ts resolveRuntime). With onnx and onednn the head (F_n + losses) stays on tfjs.
   */
  runtime?: RuntimeChoice;
  /** Threads of the native runtime, 'onnx' or 'onednn' (default: one per core). */
  onnxThreads?: number;
  /**
   * oneDNN's convolution algorithm with runtime 'onednn': 'auto' (default; Winograd for the 3x3 stride-1
   * layers where oneDNN expects a gain, on AVX-512 CPUs) or 'direct' (PyTorch's, slower, closest numerics).
   */
  convAlgorithm?: 'auto' | 'direct';
  /**
   * Training targets from the annotators' votes (FER+ paper's schemes, labelSchemes.ts): 'majority' (default,
   * the label one-hot), 'probability', 'crossentropy', 'multitarget'. The others need Sample.votes.
   */
  ferplusLabels?: FerplusLabelScheme;
  /** Class imbalance: 'none' (default), 'sampler' (class-balanced sampling) or 'weights' (Ls class weights); balance.ts. */
  balance?: BalanceMode;
  /**
   * Runtime 'cuda': 'fp32' (default; no TF32, as PyTorch with TF32 off), 'tf32' (cuDNN's default math, as
   * PyTorch's default) or 'amp' (fp16 NHWC convolutions on tensor cores, fp32 master weights, BN and head).
   */
  precision?: CudaPrecision;
  /**
   * Decode + augment each batch on this many worker threads, a few batches ahead (data/prefetch.ts), instead
   * of on the training thread. Default: 1 when every training sample is a PNG file (FERPlus, FER2013
   * folders), else 0 (in-memory pixels, JPEGs: on the training thread, decoded once and cached).
   */
  loaderWorkers?: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  backbone: 'resnet18',
  epochs: 50,
  batchSize: 64,
  lr: 0.002,
  warmupLr: 1e-4,
  warmupEpochs: 1,
  momentum: 0.9,
  weightDecay: 5e-4,
  contrast: 'pairwise',
  lambdaS: 1,
  lambdaT: 1,
  lambdaC: 1,
  logitScale: 100,
  seed: 29,
};

export interface TrainInputs {
  train: Dataset;
  /** Selects the checkpoint; never the test split. */
  val?: Dataset;
  /** Describes where `val` came from, e.g. "ferplus#valid" or "10% held out of train". */
  valDescription?: string;
  text: TextEmbeddings;
  backend: BackendReport;
  outDir: string;
  resume?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: EngineEvent) => void;
  /** Per-sample diagnostics after training: none, the validation set, or train + validation. */
  diagnose?: 'none' | 'val' | 'all';
  /** The data pre-flight's findings (problems dropped with --skip-bad), recorded in run.json and events. */
  dataCheck?: DataCheckRecord;
  /** Optional shared image caches (tests and the CLI reuse decoded images). */
  trainImages?: ImageCache;
  valImages?: ImageCache;
}

export interface EpochHistory {
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  ls: number;
  lt: number;
  lc: number;
  trainAccuracy: number;
  valAccuracy: number | null;
  valMeanClassAccuracy: number | null;
  valLoss: number | null;
  seconds: number;
}

export interface ResumeState {
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  bestEpoch: number;
  bestValAccuracy: number | null;
  history: EpochHistory[];
  elapsedSec: number;
}

export interface TrainResult {
  runDir: string;
  bestCheckpoint: string;
  lastCheckpoint: string;
  bestEpoch: number;
  selectedOn: 'validation' | 'last-epoch';
  history: EpochHistory[];
  cancelled: boolean;
  valEval?: EvalResult;
}

/** Why a resume with `b` cannot continue a run configured as `a` (options added later default as when absent). */
export function sameConfig(a: TrainConfig, b: TrainConfig): string | undefined {
  const withDefaults = (c: TrainConfig) => ({ ...c, ferplusLabels: c.ferplusLabels ?? 'majority', balance: c.balance ?? 'none', augment: c.augment ?? 'standard' });
  [a, b] = [withDefaults(a), withDefaults(b)];
  for (const key of ['backbone', 'batchSize', 'lr', 'epochs', 'seed', 'contrast', 'lambdaS', 'lambdaT', 'lambdaC', 'weightDecay', 'momentum', 'ferplusLabels', 'balance', 'augment'] as const) {
    if (a[key] !== b[key]) return `${key} was ${String(a[key])}, now ${String(b[key])}`;
  }
  return undefined;
}
