// A self-contained ResNet (torchvision layout and padding, NHWC, pooled output) on tfjs-core ops,
// with adjustable widths so the backend tests can run a whole training step against the slow cpu
// reference backend. Independent of src/engine/model so kernel tests do not move with it.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../src/engine/util/rng.js';

export interface ProbeNet {
  params: Map<string, tf.Variable>;
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D;
  dispose(): void;
}

const BN_EPS = 1e-5;

/** Deterministic He-normal init so runs on two backends start from the same weights. */
function heInit(shape: number[], seed: number): tf.Tensor {
  const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed);
}

/**
 * widths: channels of the 4 stages; resnet18 = [64,128,256,512]. Small widths keep tests fast.
 * blocks: basic blocks per stage (2 for ResNet-18).
 */
export function createProbeNet(opts: { widths?: number[]; blocks?: number; inChannels?: number; seed?: number } = {}): ProbeNet {
  const widths = opts.widths ?? [64, 128, 256, 512];
  const blocks = opts.blocks ?? 2;
  const inC = opts.inChannels ?? 3;
  let seed = opts.seed ?? 1;
  const params = new Map<string, tf.Variable>();
  const conv = (name: string, k: number, cin: number, cout: number) =>
    params.set(`${name}.weight`, tf.variable(heInit([k, k, cin, cout], seed++), true, `${name}.weight`));
  const bn = (name: string, c: number) => {
    params.set(`${name}.weight`, tf.variable(tf.ones([c]), true, `${name}.weight`));
    params.set(`${name}.bias`, tf.variable(tf.zeros([c]), true, `${name}.bias`));
  };
  conv('conv1', 7, inC, widths[0]);
  bn('bn1', widths[0]);
  let cin = widths[0];
  widths.forEach((w, s) => {
    for (let b = 0; b < blocks; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 && s > 0 ? 2 : 1;
      conv(`${p}.conv1`, 3, cin, w); bn(`${p}.bn1`, w);
      conv(`${p}.conv2`, 3, w, w); bn(`${p}.bn2`, w);
      if (stride !== 1 || cin !== w) { conv(`${p}.downsample.0`, 1, cin, w); bn(`${p}.downsample.1`, w); }
      cin = w;
    }
  });
  const P = (n: string) => params.get(n) as tf.Variable;
  const batchNorm = (x: tf.Tensor4D, name: string): tf.Tensor4D => {
    // Training-mode BN from batch moments (the running stats do not matter for a probe).
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const scale = tf.mul(P(`${name}.weight`), tf.rsqrt(tf.add(variance, BN_EPS)));
    return tf.add(tf.mul(tf.sub(x, mean), scale), P(`${name}.bias`));
  };
  const convBn = (x: tf.Tensor4D, name: string, bnName: string, stride: number, relu: boolean) => {
    const y = batchNorm(tf.conv2d(x, P(`${name}.weight`) as tf.Tensor4D, stride, Math.floor(P(`${name}.weight`).shape[0] / 2)), bnName);
    return relu ? tf.relu(y) : y;
  };
  const apply = (x: tf.Tensor4D, _training: boolean): tf.Tensor2D => tf.tidy(() => {
    let h = convBn(x, 'conv1', 'bn1', 2, true);
    h = tf.maxPool(h, 3, 2, 1) as tf.Tensor4D;
    widths.forEach((_w, s) => {
      for (let b = 0; b < blocks; b++) {
        const p = `layer${s + 1}.${b}`;
        const stride = b === 0 && s > 0 ? 2 : 1;
        const y = convBn(convBn(h, `${p}.conv1`, `${p}.bn1`, stride, true), `${p}.conv2`, `${p}.bn2`, 1, false);
        const sc = params.has(`${p}.downsample.0.weight`) ? convBn(h, `${p}.downsample.0`, `${p}.downsample.1`, stride, false) : h;
        h = tf.relu(tf.add(y, sc)) as tf.Tensor4D;
      }
    });
    return tf.mean(h, [1, 2]) as tf.Tensor2D;
  });
  return { params, apply, dispose: () => params.forEach((v) => v.dispose()) };
}

/** Deterministic data in [-0.5, 0.5), identical on every backend (the project's seeded PRNG). */
export function randomData(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.next() - 0.5);
}
