// A small self-contained KE-FER head on fixed features, for k-fold cross-validation (crossval.ts):
// v = f W + b (feature dim -> text dim), n = F_n(v) (the model's own MLP), trained with the full KE-FER loss
// (Ls + Lt + Lc, src/engine/losses.ts) by Adam. Held-out samples are scored with RecordBuilder, so their
// records are exactly what `kefer eval` writes (probs, simText, simNeutral, gap, align).
// Why not src/engine/train/quickRetrain.ts: that one starts from a checkpoint (its F_n, its text
// embeddings, its encoder's features) and writes a checkpoint per call; this one needs only features and
// text embeddings, so benches and tests can cross-validate without a trained encoder.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import type { Sample } from '../data/types.js';
import type { SampleRecord } from '../eval/types.js';
import { DEFAULT_LOSS_OPTIONS, keferLoss, l2normalize, type ContrastVariant } from '../losses.js';
import { createTransform } from '../model/index.js';
import { RecordBuilder } from '../eval/records.js';
import { Rng } from '../util/rng.js';
import type { Fold, FoldTrainer } from './crossval.js';

export interface FeatureHeadOptions {
  /** Input feature dimension (features is [N, featureDim] in dataset order). */
  featureDim: number;
  classes: string[];
  neutralIndex: number;
  /** [K, D] text embeddings (normalised here); D is the head's output dimension. */
  textEmbeddings: Float32Array;
  epochs?: number;
  batchSize?: number;
  /** Adam learning rate. Default 1e-3. */
  lr?: number;
  /** Default 100, the method's (CLIP's) scale. */
  logitScale?: number;
  contrast?: ContrastVariant;
  lambdaS?: number;
  lambdaT?: number;
  lambdaC?: number;
  seed?: number;
  signal?: AbortSignal;
}

/**
 * Trains a head on `fold.train` and returns the records of `fold.heldOut`. `labels` are the labels as
 * given (possibly noisy); they are what the records carry.
 */
export function featureHeadFoldTrainer(features: Float32Array, samples: readonly Sample[], labels: readonly number[], opts: FeatureHeadOptions): FoldTrainer {
  return async (fold: Fold) => trainAndScore(features, samples, labels, fold.train, fold.heldOut, { ...opts, seed: (opts.seed ?? 7) + fold.index });
}

export async function trainAndScore(
  features: Float32Array, samples: readonly Sample[], labels: readonly number[],
  trainIdx: readonly number[], scoreIdx: readonly number[], opts: FeatureHeadOptions,
): Promise<SampleRecord[]> {
  const F = opts.featureDim;
  const K = opts.classes.length;
  const D = opts.textEmbeddings.length / K;
  if (!Number.isInteger(D)) throw new RangeError(`text embeddings: ${opts.textEmbeddings.length} values is not ${K} x D`);
  if (features.length !== samples.length * F) throw new RangeError(`features: expected ${samples.length} x ${F}, got ${features.length}`);
  const seed = opts.seed ?? 7;
  const rng = new Rng(seed);
  const bound = 1 / Math.sqrt(F);
  const W0 = Float32Array.from({ length: F * D }, () => rng.uniform(-bound, bound));
  const fn = createTransform(seed, D);
  const W = tf.variable(tf.tensor2d(W0, [F, D]), true);
  const b = tf.variable(tf.zeros([D]), true);
  const vars = [W, b, ...fn.params.values()];
  const textNorm = tf.tidy(() => l2normalize(tf.tensor2d(opts.textEmbeddings, [K, D])));
  const lossOpts = {
    ...DEFAULT_LOSS_OPTIONS, neutralIndex: opts.neutralIndex, logitScale: opts.logitScale ?? DEFAULT_LOSS_OPTIONS.logitScale,
    contrast: opts.contrast ?? DEFAULT_LOSS_OPTIONS.contrast, lambdaS: opts.lambdaS ?? 1, lambdaT: opts.lambdaT ?? 1, lambdaC: opts.lambdaC ?? 1,
  };
  const head = (f: tf.Tensor2D) => tf.add(tf.matMul(f, W), b) as tf.Tensor2D;
  const optimizer = tf.train.adam(opts.lr ?? 1e-3);
  try {
    const bs = Math.min(opts.batchSize ?? 128, trainIdx.length);
    const order = trainIdx.slice();
    const fb = new Float32Array(bs * F);
    const yb = new Int32Array(bs);
    const epochs = opts.epochs ?? 20;
    for (let e = 0; e < epochs; e++) {
      rng.shuffle(order);
      for (let s = 0; s + bs <= order.length; s += bs) {
        if (opts.signal?.aborted) throw new Error('cross-validation cancelled');
        for (let r = 0; r < bs; r++) {
          const i = order[s + r];
          fb.set(features.subarray(i * F, (i + 1) * F), r * F);
          yb[r] = labels[i];
        }
        const f = tf.tensor2d(fb, [bs, F]);
        const y = tf.tensor1d(yb, 'int32');
        optimizer.minimize(() => {
          const v = head(f);
          return keferLoss(v, fn.apply(v), textNorm, y, lossOpts).total;
        }, false, vars);
        f.dispose();
        y.dispose();
      }
      // Yield between epochs so a caller's timers / abort signals get a turn.
      await new Promise((r) => setImmediate(r));
    }

    const builder = new RecordBuilder({ classes: opts.classes, neutralIndex: opts.neutralIndex, textEmbeddings: opts.textEmbeddings, featureDim: D, total: samples.length });
    const CH = 1024;
    for (let s = 0; s < scoreIdx.length; s += CH) {
      const idx = scoreIdx.slice(s, s + CH);
      const fbuf = new Float32Array(idx.length * F);
      idx.forEach((i, r) => fbuf.set(features.subarray(i * F, (i + 1) * F), r * F));
      const [logits, v, n] = tf.tidy(() => {
        const vv = head(tf.tensor2d(fbuf, [idx.length, F]));
        const lg = tf.mul(tf.matMul(l2normalize(vv), textNorm, false, true), lossOpts.logitScale);
        return [lg, vv, fn.apply(vv)].map((x) => x.dataSync() as Float32Array);
      });
      builder.add(idx.map((i) => samples[i]), idx.map((i) => labels[i]), idx, logits, v, n);
    }
    return builder.finish().records;
  } finally {
    optimizer.dispose();
    textNorm.dispose();
    W.dispose();
    b.dispose();
    fn.dispose();
  }
}
