// The KE-FER losses exactly as ../shared/docs/method.md states them.
//   Ls: cross-entropy over s * cos(v, t_k)
//   Lt: mean over non-neutral samples of 1 - cos(v - n, t_y - t_N)
//   Lc: self-contrast with anchor t_y, positive v, negative n (all L2-normalised), "+2" offset,
//       either over all pairs of non-neutral samples (released code) or per sample (paper text).
// Text embeddings enter L2-normalised (as CLIP uses them); they are constants.
// Soft targets (the FER+ label schemes, `--ferplus-labels`) and class weights (`--balance weights`) take
// the weighted path below: every (sample, class) pair is weighted by the sample's target share of that
// class, so the losses are the expected KE-FER losses under a label drawn from the target distribution;
// a one-hot target gives exactly the hard-label losses.
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
  /**
   * Per-class weights of Ls (`--balance weights`): Ls = sum_i w_i CE_i / sum_i w_i with w_i the weight of
   * the sample's target (torch's CrossEntropyLoss(weight=...) for hard labels). Lt and Lc stay unweighted.
   */
  classWeights?: readonly number[];
}

/**
 * Per-sample targets other than a hard label, as the FER+ paper's schemes define them (Barsoum et al. 2016;
 * train/labelSchemes.ts builds them from the votes). q: [B, K].
 *  - 'distribution' (crossentropy): q is the label distribution; Ls = -sum_k q_k log p_k; Lt and Lc weight
 *    each class k by q_k (the expected loss under a label drawn from q).
 *  - 'multitarget': q is 1 on every accepted class, 0 elsewhere; Ls = -log max_k q_k p_k (the paper's
 *    multi-label loss with its indicator I(q_k): whichever accepted class the model favours is the target);
 *    Lt and Lc use that same class k* = argmax over accepted k of p_k as the sample's label. The FER+ code
 *    puts 0.001 instead of 0 on rejected classes; then a confidently wrong prediction (p_wrong > 1000
 *    p_accepted, common at logit scale 100) makes the max pick the wrong class and the loss pull toward it,
 *    which the paper's formula does not do: rejected classes are left out of the max here.
 */
export interface SoftTargets {
  kind: 'distribution' | 'multitarget';
  q: tf.Tensor2D;
}

/** SoftTargets as plain data (what a training step and a worker message carry): q is [B, K] row-major. */
export interface SoftTargetRows {
  kind: SoftTargets['kind'];
  q: Float32Array;
}

/** The tensor form of soft rows for a batch of `batch` samples over k classes (undefined stays undefined). */
export function softTargets(rows: SoftTargetRows | undefined, batch: number, k: number): SoftTargets | undefined {
  return rows ? { kind: rows.kind, q: tf.tensor2d(rows.q, [batch, k]) } : undefined;
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
export function keferLoss(v: tf.Tensor2D, n: tf.Tensor2D, textNorm: tf.Tensor2D, labels: tf.Tensor1D, opts: LossOptions, soft?: SoftTargets): LossTerms {
  if (soft || opts.classWeights) return weightedKeferLoss(v, n, textNorm, labels, opts, soft);
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

/** Smallest denominator: weight sums are 0 (then the numerator is 0 too) or at least a vote share. */
const TINY = 1e-6;

/**
 * keferLoss with a target weight matrix W [B, K] instead of hard labels: W = one-hot(labels) (class weights
 * only), q (distribution) or one-hot(k*) (multitarget). The neutral column of W is left out of Lt and Lc,
 * as neutral samples are in the hard-label form; the denominators are the summed non-neutral weights
 * (the count |M| for one-hot W).
 */
function weightedKeferLoss(v: tf.Tensor2D, n: tf.Tensor2D, textNorm: tf.Tensor2D, labels: tf.Tensor1D, opts: LossOptions, soft?: SoftTargets): LossTerms {
  return tf.tidy(() => {
    const k = textNorm.shape[0];
    const logits = cosineLogits(v, textNorm, opts.logitScale);
    const logp = tf.logSoftmax(logits) as tf.Tensor2D;
    let w: tf.Tensor2D;
    let perSample: tf.Tensor1D;
    if (!soft || soft.kind === 'distribution') {
      w = soft ? soft.q : (tf.cast(tf.oneHot(labels, k), 'float32') as tf.Tensor2D);
      perSample = tf.neg(tf.sum(tf.mul(w, logp), 1)) as tf.Tensor1D;
    } else {
      // -log max over accepted k of p_k = -log p_k*: the max's gradient reaches p_k* only, so this is it.
      const score = tf.where(tf.greater(soft.q, 0.5), logp, tf.fill(logp.shape, -1e30));
      w = tf.cast(tf.oneHot(tf.argMax(score, 1), k), 'float32') as tf.Tensor2D;
      perSample = tf.neg(tf.sum(tf.mul(w, logp), 1)) as tf.Tensor1D;
    }
    let ls: tf.Scalar;
    if (opts.classWeights) {
      if (opts.classWeights.length !== k) throw new Error(`class weights: ${opts.classWeights.length} given for ${k} classes`);
      const sw = tf.squeeze(tf.matMul(w, tf.tensor2d([...opts.classWeights], [k, 1])), [1]);
      ls = tf.div(tf.sum(tf.mul(sw, perSample)), tf.maximum(tf.sum(sw), TINY)) as tf.Scalar;
    } else ls = tf.mean(perSample) as tf.Scalar;

    const notNeutral = tf.sub(1, tf.oneHot(tf.tensor1d([opts.neutralIndex], 'int32'), k)) as tf.Tensor2D; // [1, K]
    const wn = tf.mul(w, notNeutral) as tf.Tensor2D;
    const m = tf.sum(wn, 1); // non-neutral weight of each sample (the mask for one-hot W)
    const total = tf.sum(m);
    const tN = tf.slice(textNorm, [opts.neutralIndex, 0], [1, -1]) as tf.Tensor2D;
    // cos(v_i - n_i, t_k - t_N) for every class: [B, K] (the neutral column is 0 and weighted 0).
    const cosAll = tf.matMul(l2normalize(tf.sub(v, n) as tf.Tensor2D), l2normalize(tf.sub(textNorm, tN) as tf.Tensor2D), false, true);
    const lt = tf.div(tf.sum(tf.mul(wn, tf.sub(1, cosAll))), tf.maximum(total, TINY)) as tf.Scalar;

    const diff = tf.sub(l2normalize(n), l2normalize(v)) as tf.Tensor2D;
    let lc: tf.Scalar;
    if (opts.contrast === 'pairwise') {
      // S[i, j] = sum_k W[i, k] t_k . (n_j - v_j), pair (i, j) weighted by m_j (and by m_i inside S).
      const s = tf.matMul(wn, tf.matMul(textNorm, diff, false, true));
      const num = tf.add(tf.sum(tf.mul(s, tf.reshape(m, [1, -1]))), tf.mul(2, tf.square(total)));
      lc = tf.div(num, tf.maximum(tf.square(total), TINY * TINY)) as tf.Scalar;
    } else {
      const s = tf.sum(tf.mul(tf.matMul(wn, textNorm), diff), 1);
      lc = tf.div(tf.add(tf.sum(s), tf.mul(2, total)), tf.maximum(total, TINY)) as tf.Scalar;
    }
    const all = tf.addN([tf.mul(ls, opts.lambdaS), tf.mul(lt, opts.lambdaT), tf.mul(lc, opts.lambdaC)]) as tf.Scalar;
    return { total: all, ls, lt, lc, logits };
  });
}
