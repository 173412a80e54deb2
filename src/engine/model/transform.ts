// Transformation network F_n: v -> n, the sample's neutral counterpart (512 -> 128 -> ReLU -> 512).
// Parameter names follow the released code's `MLP.fc1` / `MLP.fc2`.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';
import { addLinear, linear, type ParamStore } from './layers.js';

export interface Transform extends ParamStore {
  apply(v: tf.Tensor2D): tf.Tensor2D;
  dispose(): void;
}

export function createTransform(seed: number, dim = 512, hidden = 128): Transform {
  const rng = new Rng(seed ^ 0x5f3759df);
  const store: ParamStore = { params: new Map(), buffers: new Map() };
  addLinear(store, 'MLP.fc1', dim, hidden, rng);
  addLinear(store, 'MLP.fc2', hidden, dim, rng);
  return {
    ...store,
    apply: (v) => tf.tidy(() => linear(store, 'MLP.fc2', tf.relu(linear(store, 'MLP.fc1', v)))),
    dispose() {
      for (const p of store.params.values()) p.dispose();
    },
  };
}
