// The KE-FER losses exactly as ../shared/docs/method.md states them.
//   Ls: cross-entropy over s * cos(v, t_k)
//   Lt: mean over non-neutral samples of 1 - cos(v - n, t_y - t_N)
//   Lc: self-contrast with anchor t_y, positive v, negative n (all L2-normalised), "+2" offset,
//       either over all pairs of non-neutral samples (released code) or per sample (paper text).
// Text embeddings enter L2-normalised (as CLIP uses them); they are constants.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone ships no gradient functions; training needs them all registered.
import './backend/gradients.js';

export type ContrastVariant = 'pairwise' | 'per-sample';

export interface LossOptions {
  neutralIndex: number;
  contrast: ContrastVariant;
  lambdaS: number;
  lambdaT: number;
  lambdaC: number;
  logitScale: number;
}

export const DEFAULT_LOSS_OPTIONS: Omit<LossOptions, 'neutralIndex'> = {
  contrast: 'pairwise',
  lambdaS: 1,
  lambdaT: 1,
  lambdaC: 1,
  logitScale: 100,
};

export interface LossTerms {
  total: tf.Scalar;
  ls: tf.Scalar;
  lt: tf.Scalar;
  lc: tf.Scalar;
  logits: tf.Tensor2D;
}

const EPS = 1e-8;

export function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  // sqrt(sum(x * x)) rather than tf.norm, which squares with Pow: tfjs-wasm's Pow (and the Pow in its
  // gradient) is a scalar loop, and was half of the head retrainer's step at [256, 512].
  return tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), 1, true)), EPS)) as tf.Tensor2D;
}

/** Row-wise cosine of two [B, D] tensors. */
function rowCos(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(l2normalize(a), l2normalize(b)), 1) as tf.Tensor1D;
}

/** Logits s * cos(v, t_k): [B, K]. `textNorm` must be L2-normalised [K, D]. */
export function cosineLogits(v: tf.Tensor2D, textNorm: tf.Tensor2D, logitScale: number): tf.Tensor2D {
  return tf.mul(tf.matMul(l2normalize(v), textNorm, false, true), logitScale) as tf.Tensor2D;
}

/**
 * All KE-FER loss terms for one batch. v, n: [B, D]; textNorm: [K, D] normalised; labels: int32 [B].
 * Neutral samples take part in Ls only. With no non-neutral sample, Lt = Lc = 0 (not NaN).
 */
export function keferLoss(v: tf.Tensor2D, n: tf.Tensor2D, textNorm: tf.Tensor2D, labels: tf.Tensor1D, opts: LossOptions): LossTerms {
  return tf.tidy(() => {
    const k = textNorm.shape[0];
    const logits = cosineLogits(v, textNorm, opts.logitScale);
    const onehot = tf.cast(tf.oneHot(labels, k), 'float32') as tf.Tensor2D;
    const ls = tf.mean(tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;

    // mask of non-neutral samples; its sum (clamped to 1) divides, so an empty set gives 0.
    const mask = tf.cast(tf.notEqual(labels, opts.neutralIndex), 'float32') as tf.Tensor1D;
    const m = tf.sum(mask);
    const denom = tf.maximum(m, 1);

    const tY = tf.matMul(onehot, textNorm) as tf.Tensor2D; // t_{y_i}
    const tN = tf.slice(textNorm, [opts.neutralIndex, 0], [1, -1]) as tf.Tensor2D;
    const cosT = rowCos(tf.sub(v, n) as tf.Tensor2D, tf.sub(tY, tN) as tf.Tensor2D);
    const lt = tf.div(tf.sum(tf.mul(mask, tf.sub(1, cosT))), denom) as tf.Scalar;

    const vN = l2normalize(v);
    const nN = l2normalize(n);
    let lc: tf.Scalar;
    if (opts.contrast === 'pairwise') {
      // S[i, j] = t_{y_i} . (n_j - v_j); mean over i, j in M of S[i, j] + 2. Computed as
      // onehot x (T (n - v)^T): T has K rows, so this is a [K, D] x [D, B] product instead of
      // [B, D] x [D, B] (a quarter of the head retrainer's step at B = 256); onehot picks rows exactly.
      const s = tf.matMul(onehot, tf.matMul(textNorm, tf.sub(nN, vN), false, true));
      const w = tf.outerProduct(mask, mask);
      lc = tf.div(tf.sum(tf.mul(w, tf.add(s, 2))), tf.maximum(tf.mul(m, m), 1)) as tf.Scalar;
    } else {
      const s = tf.sum(tf.mul(tY, tf.sub(nN, vN)), 1);
      lc = tf.div(tf.sum(tf.mul(mask, tf.add(s, 2))), denom) as tf.Scalar;
    }
    const total = tf.addN([tf.mul(ls, opts.lambdaS), tf.mul(lt, opts.lambdaT), tf.mul(lc, opts.lambdaC)]) as tf.Scalar;
    return { total, ls, lt, lc, logits };
  });
}
