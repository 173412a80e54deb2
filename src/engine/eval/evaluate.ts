// Evaluation: metrics, the loss terms over the set, and one diagnostic record per sample
// (probabilities, emotional-to-neutral similarity gap, text alignment).
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/types.js';
import type { ImageCache } from '../data/decode.js';
import type { Encoder, Transform } from '../model/index.js';
import { l2normalize } from '../losses.js';
import { normaliseInto, type Normalisation } from '../train/augment.js';
import { computeMetrics } from './metrics.js';
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

const round = (x: number) => Math.round(x * 1e6) / 1e6;

export async function evaluate(model: EvalModel, dataset: Dataset, images: ImageCache, opts: EvalOptions = {}): Promise<EvalResult> {
  const bs = opts.batchSize ?? 100;
  const size = model.encoder.inputSize;
  const N = dataset.samples.length;
  const K = model.classes.length;
  const records: SampleRecord[] = [];
  const embeddings = opts.keepEmbeddings ? new Float32Array(N * model.encoder.featureDim) : undefined;
  let lsSum = 0, ltSum = 0, lcSum = 0, nonNeutral = 0;
  for (let start = 0; start < N; start += bs) {
    if (opts.signal?.aborted) throw new Error('evaluation cancelled');
    const idx = Array.from({ length: Math.min(bs, N - start) }, (_, i) => start + i);
    const raw = await images.getBatch(idx);
    const x = new Float32Array(idx.length * size * size * 3);
    for (let i = 0; i < idx.length; i++) normaliseInto(raw.subarray(i * size * size * 3, (i + 1) * size * size * 3), size, model.norm, x, i * size * size * 3);
    const labels = idx.map((i) => dataset.samples[i].label);
    const out = tf.tidy(() => {
      const v = model.encoder.apply(tf.tensor4d(x, [idx.length, size, size, 3]), false);
      const n = model.transform.apply(v);
      const vN = l2normalize(v), nN = l2normalize(n);
      const logits = tf.mul(tf.matMul(vN, model.textNorm, false, true), model.logitScale);
      const probs = tf.softmax(logits);
      const logp = tf.logSoftmax(logits);
      const simText = tf.matMul(vN, model.textNorm, false, true); // cos(v, t_k) for all k
      const simNeutral = tf.matMul(nN, model.textNorm, false, true); // cos(n, t_k)
      const tNeutral = tf.slice(model.textNorm, [model.neutralIndex, 0], [1, -1]);
      const dirT = tf.sub(model.textNorm, tNeutral); // t_k - t_N
      const align = tf.matMul(l2normalize(tf.sub(v, n) as tf.Tensor2D), l2normalize(dirT as tf.Tensor2D), false, true);
      return [probs, logp, simText, simNeutral, align, v];
    });
    // Async reads: WebGPU in Node cannot read synchronously.
    const [probs, logp, simText, simNeutral, align, v] = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
    tf.dispose(out);
    for (let i = 0; i < idx.length; i++) {
      const s = dataset.samples[idx[i]];
      const y = labels[i];
      const p = Array.from(probs.subarray(i * K, (i + 1) * K), round);
      let pred = 0;
      for (let k = 1; k < K; k++) if (probs[i * K + k] > probs[i * K + pred]) pred = k;
      const st = simText[i * K + y], sn = simNeutral[i * K + y];
      const isNeutral = y === model.neutralIndex;
      records.push({
        id: s.id, path: s.path, split: s.split, label: y, pred, probs: p,
        simText: round(st), simNeutral: round(sn), gap: round(st - sn),
        align: isNeutral ? null : round(align[i * K + y]),
      });
      lsSum -= logp[i * K + y];
      if (!isNeutral) {
        nonNeutral++;
        ltSum += 1 - align[i * K + y];
        lcSum += sn - st + 2; // t_y . n^ - t_y . v^ + 2 (cosines, since t is normalised)
      }
      if (embeddings) embeddings.set(v.subarray(i * model.encoder.featureDim, (i + 1) * model.encoder.featureDim), idx[i] * model.encoder.featureDim);
    }
    opts.onProgress?.(Math.min(start + bs, N), N);
  }
  const m = computeMetrics(records.map((r) => r.label), records.map((r) => r.pred), K);
  return {
    summary: {
      classes: model.classes, n: m.n, accuracy: m.accuracy, meanClassAccuracy: m.meanClassAccuracy,
      confusion: m.confusion, perClassAccuracy: m.perClassAccuracy,
      losses: { ls: N ? lsSum / N : 0, lt: nonNeutral ? ltSum / nonNeutral : 0, lcPerSample: nonNeutral ? lcSum / nonNeutral : 0 },
    },
    records,
    embeddings,
  };
}
