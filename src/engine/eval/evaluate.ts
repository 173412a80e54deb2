// Evaluation on the tfjs engine: the model gives logits, v and n per batch; RecordBuilder turns them
// into metrics, the loss terms over the set and one diagnostic record per sample (probabilities,
// emotional-to-neutral similarity gap, text alignment), exactly as the other runtimes do.
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/types.js';
import type { ImageCache } from '../data/decode.js';
import type { Encoder, Transform } from '../model/index.js';
import { cosineLogits } from '../losses.js';
import { normaliseInto, type Normalisation } from '../train/augment.js';
import { RecordBuilder } from './records.js';
import { ttaViews, viewInto } from './tta.js';
import type { EvalSummary, SampleRecord } from './types.js';

export interface EvalModel {
  encoder: Encoder;
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
  const per = size * size * 3;
  const N = dataset.samples.length;
  const builder = new RecordBuilder({
    classes: model.classes, neutralIndex: model.neutralIndex, textEmbeddings: (await model.textNorm.data()) as Float32Array,
    featureDim: model.encoder.featureDim, keepEmbeddings: opts.keepEmbeddings, total: N,
  });
  const views = ttaViews(opts.tta ?? 1, size);
  for (let start = 0; start < N; start += bs) {
    if (opts.signal?.aborted) throw new Error('evaluation cancelled');
    const idx = Array.from({ length: Math.min(bs, N - start) }, (_, i) => start + i);
    const raw = await images.getBatch(idx);
    const x = new Float32Array(idx.length * per);
    for (let i = 0; i < idx.length; i++) normaliseInto(raw.subarray(i * per, (i + 1) * per), size, model.norm, x, i * per);
    const out = tf.tidy(() => {
      const v = model.encoder.apply(tf.tensor4d(x, [idx.length, size, size, 3]), false);
      const n = model.transform.apply(v);
      return [cosineLogits(v, model.textNorm, model.logitScale), v, n];
    });
    // Async reads: WebGPU in Node cannot read synchronously.
    const [plain, v, n] = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
    tf.dispose(out);
    const logits = views.length > 1 ? await averagedLogits(model, plain, raw, idx.length, views) : plain;
    const samples = idx.map((i) => dataset.samples[i]);
    builder.add(samples, samples.map((s) => s.label), idx, logits, v, n);
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
