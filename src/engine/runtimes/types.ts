// The one interface every training runtime implements (tfjs, onnx, onednn, cuda; one folder each) and the
// descriptor the registry (registry.ts) keeps per runtime. The trainer sees only these types.
import type * as tf from '@tensorflow/tfjs-core';
import type { RuntimeEncoder } from '../eval/evaluate.js';
import type { BackendReport } from '../events.js';
import type { LossOptions, SoftTargetRows } from '../losses.js';
import type { Encoder, Transform } from '../model/index.js';
import type { Sgd } from './sgd.js';

export type RuntimeName = 'tfjs' | 'onnx' | 'onednn' | 'cuda';

/** What a runtime's step can take beyond hard labels and plain Ls. */
export interface StepSupport {
  /** Soft targets from annotator votes (--ferplus-labels crossentropy / multitarget). */
  softTargets: boolean;
  /** Ls class weights (--balance weights). */
  classWeights: boolean;
}

export interface StepResult {
  /** ls, lt, lc of the batch. */
  terms: number[];
  /** Samples whose argmax logit is the label. */
  correct: number;
}

/**
 * An encoder in inference mode on a runtime (BatchNorm on running statistics). evaluate() runs F_n and the
 * logits on tfjs from its v, so the per-sample records are built exactly as on tfjs.
 */
export interface EvalEncoder extends RuntimeEncoder {
  /** What runs it, for the log (e.g. "oneDNN 2.6.3 inference (avx2; BatchNorm folded, ...)"). */
  detail: string;
}

/**
 * One training runtime, created for a model, an optimizer and a batch size. Between steps a runtime may
 * keep the weights in its own layouts; sync() writes them (and momentum, BN running statistics) back into
 * the tfjs model and the Sgd before anything reads those (checkpoints, the resume state).
 */
export interface TrainStep {
  readonly runtime: RuntimeName;
  readonly supports: StepSupport;
  /** What runs the model, for the log, the UI and run.json. */
  readonly report: BackendReport;
  /** x: [N, S, S, 3] normalised, augmented images; one optimizer step. */
  step(x: Float32Array, labels: number[], lr: number, soft?: SoftTargetRows): Promise<StepResult>;
  sync(): Promise<void>;
  /** The current weights in inference mode on this runtime (call sync() first when the weights moved). */
  evalEncoder(): Promise<EvalEncoder>;
  dispose(): Promise<void>;
}

/** Everything a runtime needs to train: the model (tfjs variables, the canonical copy), loss and optimizer. */
export interface StepInputs {
  encoder: Encoder;
  transform: Transform;
  sgd: Sgd;
  /** L2-normalised text embeddings [K, D]. */
  textNorm: tf.Tensor2D;
  loss: LossOptions;
  batch: number;
  /** The active tfjs backend (runs the model on 'tfjs', F_n + losses on onnx and onednn). */
  backend: BackendReport;
  /** Native threads (onnx, onednn; default one per core). */
  threads?: number;
  /** Data-parallel replicas (tfjs on wasm only). */
  workers?: number;
  /** oneDNN's convolution algorithm: 'auto' (Winograd where oneDNN expects a gain) or 'direct' (PyTorch's). */
  convolution?: 'auto' | 'direct';
  /** cuda: 'fp32' | 'tf32' | 'amp'. */
  precision?: string;
}

export interface Availability {
  ok: boolean;
  /** Why not, when not ok. */
  why?: string;
}

/** What the registry keeps per runtime folder. */
export interface RuntimeDefinition {
  name: RuntimeName;
  /** One line for --help and the README. */
  summary: string;
  supports: StepSupport;
  /** Whether it can run here (addon built, device present), and why not. */
  available(): Availability;
  create(inputs: StepInputs): Promise<TrainStep>;
  /** A saved model's encoder in inference mode on this runtime (kefer eval, --diagnose). */
  evalEncoder(encoder: Encoder, opts: EvalEncoderOptions): Promise<EvalEncoder>;
}

/** An int8 encoder's activation scales (q = value x scale): the images, and each op's output. */
export interface ActivationScales {
  input: number;
  out: number[];
}

/** Normalised NHWC images an int8 encoder measures its activation ranges on (labels never read). */
export interface Int8Calibration {
  /** The images in batches of at most `batch`. */
  batches(batch: number): AsyncIterable<{ x: Float32Array; n: number }>;
  /** What they are, for the log (e.g. "256 images of ferplus:...#test, seed 29"). */
  what: string;
  /** Scales kept from an earlier calibration on these images (the pass is skipped), and where new ones go. */
  kept?: { load(): Promise<ActivationScales | undefined>; save(scales: ActivationScales): Promise<void> };
}

export interface EvalEncoderOptions {
  batchSize?: number;
  threads?: number;
  /** Run in int8, calibrated on these images (onednn only). */
  int8?: Int8Calibration;
}
