// Evaluation: the encoder gives v per batch (on tfjs, or on a runtime's inference forward: EvalModel.forward),
// F_n and the logits run on tfjs; RecordBuilder turns them into metrics, the loss terms over the set and one
// diagnostic record per sample (probabilities, emotional-to-neutral similarity gap, text alignment), exactly
// as the other runtimes do. The next batch decodes while this one runs.
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/types.js';
import type { ImageCache } from '../data/decode.js';
import type { Encoder, Transform } from '../model/index.js';
import { cosineLogits } from '../losses.js';
import type { Normalisation } from '../data/augment.js';
import { evalBatches } from '../data/batches.js';
import { RecordBuilder } from './records.js';
import { ttaViews, viewInto } from './tta.js';
import type { EvalSummary, SampleRecord } from './types.js';

/** n normalised NHWC images -> the encoder's v [n, D] (a runtime's inference forward). */
export type EncoderForward = (x: Float32Array, n: number) => Promise<Float32Array>;

/** The same from n images' RGB bytes as decoded, NHWC: the runtime normalises them with `norm`. */
export type PixelForward = (rgb: Uint8Array, n: number, norm: Normalisation) => Promise<Float32Array>;

/** A runtime's inference encoder as evaluation uses it (runtimes/types.ts EvalEncoder). */
export interface RuntimeEncoder {
  forward: EncoderForward;
  /** Where the runtime normalises natively (onednn): evaluation skips its own float copy of each batch. */
  forwardPixels?: PixelForward;
  /** The batch to hand it. */
  batchSize: number;
  release(): void;
}

export interface EvalModel {
  encoder: Encoder;
  /** Runs the encoder instead of encoder.apply on tfjs (runtimes/: oneDNN, CUDA, onnxruntime). */
  forward?: EncoderForward;
  /** Preferred over `forward` where given (without test-time augmentation). */
  forwardPixels?: PixelForward;
  transform: Transform;
  /** L2-normalised [K, D]. */
  textNorm: tf.Tensor2D;
  neutralIndex: number;
  logitScale: number;
  norm: Normalisation;
  classes: string[];
}

export interface EvalOptions {
  batchSize?: number;
  /** Keep v (embeddings) per sample, for the scatter view and head-only retraining. */
  keepEmbeddings?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /**
   * Test-time augmentation: average the softmax over this many fixed views (tta.ts; 1 = none). The
   * per-sample similarities (gap, align) stay those of the plain view.
   */
  tta?: number;
}

export interface EvalResult {
  summary: EvalSummary;
  records: SampleRecord[];
  embeddings?: Float32Array;
}

export async function evaluate(model: EvalModel, dataset: Dataset, images: ImageCache, opts: EvalOptions = {}): Promise<EvalResult> {
  const bs = opts.batchSize ?? 100;
  const size = model.encoder.inputSize;
  const N = dataset.samples.length;
  const builder = new RecordBuilder({
    classes: model.classes, neutralIndex: model.neutralIndex, textEmbeddings: (await model.textNorm.data()) as Float32Array,
    featureDim: model.encoder.featureDim, keepEmbeddings: opts.keepEmbeddings, total: N,
  });
  const views = ttaViews(opts.tta ?? 1, size);
  if (views.length > 1 && model.forward) throw new Error('test-time augmentation runs the encoder on tfjs: evaluate without a runtime forward');
  const pixels = views.length === 1 ? model.forwardPixels : undefined;
  // A pixel forward (onednn) runs on every core: the next batch is decoded after it, not during it.
  for await (const { start, indices: idx, x, raw } of evalBatches(dataset, images, model.norm, bs, opts.signal, { normalise: !pixels, ahead: !pixels })) {
    const v = pixels ? await pixels(raw, idx.length, model.norm) : model.forward ? await model.forward(x, idx.length) : undefined;
    const out = tf.tidy(() => {
      const vt = v ? tf.tensor2d(v, [idx.length, model.encoder.featureDim]) : model.encoder.apply(tf.tensor4d(x, [idx.length, size, size, 3]), false);
      const n = model.transform.apply(vt);
      return [cosineLogits(vt, model.textNorm, model.logitScale), vt, n];
    });
    // Async reads: WebGPU in Node cannot read synchronously.
    const [plain, vOut, n] = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
    tf.dispose(out);
    const logits = views.length > 1 ? await averagedLogits(model, plain, raw, idx.length, views) : plain;
    const samples = idx.map((i) => dataset.samples[i]);
    builder.add(samples, samples.map((s) => s.label), idx, logits, vOut, n);
    opts.onProgress?.(Math.min(start + bs, N), N);
  }
  return builder.finish();
}

/**
 * log of the softmax averaged over the views (view 0 = `plainLogits`): the record builder's softmax of
 * these is the averaged probability.
 */
async function averagedLogits(model: EvalModel, plainLogits: Float32Array, raw: Uint8Array, b: number, views: ReturnType<typeof ttaViews>): Promise<Float32Array> {
  const size = model.encoder.inputSize;
  const per = size * size * 3;
  const x = new Float32Array(b * per);
  let sum: tf.Tensor = tf.softmax(tf.tensor2d(plainLogits, [b, plainLogits.length / b]));
  for (const view of views.slice(1)) {
    for (let i = 0; i < b; i++) viewInto(raw.subarray(i * per, (i + 1) * per), size, model.norm, view, x, i * per);
    const next = tf.tidy(() => tf.add(sum, tf.softmax(cosineLogits(model.encoder.apply(tf.tensor4d(x, [b, size, size, 3]), false), model.textNorm, model.logitScale))));
    sum.dispose();
    sum = next;
  }
  const avg = tf.tidy(() => tf.log(tf.maximum(tf.div(sum, views.length), 1e-30)));
  sum.dispose();
  const data = (await avg.data()) as Float32Array;
  avg.dispose();
  return data;
}
