// Functional layers over named tf.Variables. Names follow torchvision's state-dict keys so a
// checkpoint maps one-to-one onto PyTorch; layouts stay tfjs-native (conv HWIO, linear [in, out])
// and are transposed only at checkpoint I/O.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone ships no gradient functions; training needs them all registered.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import type { Rng } from '../util/rng.js';

export interface ParamStore {
  params: Map<string, tf.Variable>;
  buffers: Map<string, tf.Variable>;
}

export const BN_EPS = 1e-5;
/** PyTorch's BatchNorm momentum (weight of the new batch statistic). */
export const BN_MOMENTUM = 0.1;

/** Kaiming-normal (fan_out, ReLU) like torchvision's ResNet init. */
export function addConv(store: ParamStore, name: string, k: number, cin: number, cout: number, rng: Rng): void {
  const std = Math.sqrt(2 / (cout * k * k));
  const w = new Float32Array(k * k * cin * cout);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
  store.params.set(`${name}.weight`, tf.variable(tf.tensor4d(w, [k, k, cin, cout]), true));
}

export function addBatchNorm(store: ParamStore, name: string, c: number): void {
  store.params.set(`${name}.weight`, tf.variable(tf.ones([c]), true));
  store.params.set(`${name}.bias`, tf.variable(tf.zeros([c]), true));
  store.buffers.set(`${name}.running_mean`, tf.variable(tf.zeros([c]), false));
  store.buffers.set(`${name}.running_var`, tf.variable(tf.ones([c]), false));
  store.buffers.set(`${name}.num_batches_tracked`, tf.variable(tf.scalar(0), false));
}

/** PyTorch nn.Linear default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias. */
export function addLinear(store: ParamStore, name: string, cin: number, cout: number, rng: Rng): void {
  const bound = 1 / Math.sqrt(cin);
  const w = new Float32Array(cin * cout);
  for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-bound, bound);
  const b = new Float32Array(cout);
  for (let i = 0; i < b.length; i++) b[i] = rng.uniform(-bound, bound);
  store.params.set(`${name}.weight`, tf.variable(tf.tensor2d(w, [cin, cout]), true));
  store.params.set(`${name}.bias`, tf.variable(tf.tensor1d(b), true));
}

function get(map: Map<string, tf.Variable>, key: string): tf.Variable {
  const v = map.get(key);
  if (!v) throw new Error(`missing parameter ${key}`);
  return v;
}

/** Conv with PyTorch-style symmetric padding (k // 2), no bias. */
export function conv(store: ParamStore, name: string, x: tf.Tensor4D, stride: number): tf.Tensor4D {
  const w = get(store.params, `${name}.weight`) as unknown as tf.Tensor4D;
  const k = w.shape[0];
  return tf.conv2d(x, w, stride, Math.floor(k / 2));
}

/**
 * BatchNorm2d. In training mode it normalises with the batch statistics and updates the running
 * statistics as PyTorch does (unbiased variance for the running estimate).
 */
export function batchNorm(store: ParamStore, name: string, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  const gamma = get(store.params, `${name}.weight`);
  const beta = get(store.params, `${name}.bias`);
  const rMean = get(store.buffers, `${name}.running_mean`);
  const rVar = get(store.buffers, `${name}.running_var`);
  if (!training) {
    return tf.batchNorm(x, rMean as tf.Tensor1D, rVar as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, BN_EPS);
  }
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  // The running-stat update does not feed the output, so backprop ignores these ops.
  tf.tidy(() => {
    const unbiased = tf.mul(variance, count / Math.max(count - 1, 1));
    rMean.assign(tf.add(tf.mul(rMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
    rVar.assign(tf.add(tf.mul(rVar, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM)));
    const nbt = get(store.buffers, `${name}.num_batches_tracked`);
    nbt.assign(tf.add(nbt, 1));
  });
  const inv = tf.rsqrt(tf.add(variance, BN_EPS));
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), inv), gamma), beta) as tf.Tensor4D;
}

export function linear(store: ParamStore, name: string, x: tf.Tensor2D): tf.Tensor2D {
  const w = get(store.params, `${name}.weight`) as unknown as tf.Tensor2D;
  const b = get(store.params, `${name}.bias`);
  return tf.add(tf.matMul(x, w), b) as tf.Tensor2D;
}
