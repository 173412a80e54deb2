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
    const [logits, v, n] = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
    tf.dispose(out);
    const samples = idx.map((i) => dataset.samples[i]);
    builder.add(samples, samples.map((s) => s.label), idx, logits, v, n);
    opts.onProgress?.(Math.min(start + bs, N), N);
  }
  return builder.finish();
}
