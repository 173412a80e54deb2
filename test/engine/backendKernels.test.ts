// The wasm training kernels (src/engine/backend/wasmKernels.ts) against tfjs's reference cpu
// kernels: forward conv and both conv gradients over strides, kernel sizes, paddings and odd
// sizes, transposed matMuls, and a whole small ResNet training step.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../src/engine/backend/index.js';
import { setFrugalGradients } from '../../src/engine/backend/tapeMemory.js';
import { wasmKernelLimits } from '../../src/engine/backend/wasmKernels.js';
import { createProbeNet, randomData } from './backendProbeNet.js';

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0, worst = 0, at = -1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) { worst = d; at = i; }
  }
  assert.ok(worst <= rel * Math.max(scale, 1e-6), `${what}: max abs diff ${worst} at ${at} (scale ${scale})`);
}

interface ConvCase { n: number; h: number; w: number; cin: number; cout: number; k: number; s: number; pad: 'same' | 'valid' | number }

/** Forward output, dL/dx and dL/dW for L = sum(conv(x, W) * g) on the active backend. */
function convAndGrads(c: ConvCase): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(randomData(c.n * c.h * c.w * c.cin, 1), [c.n, c.h, c.w, c.cin]);
    const w = tf.tensor4d(randomData(c.k * c.k * c.cin * c.cout, 2), [c.k, c.k, c.cin, c.cout]);
    const y = tf.conv2d(x, w, c.s, c.pad);
    const g = tf.tensor(randomData(y.size, 3), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), g)))([x, w]);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

async function onBackend<T>(name: 'cpu' | 'wasm', f: () => T): Promise<T> {
  if (name === 'wasm') await initBackend('wasm');
  else await tf.setBackend('cpu');
  return f();
}

const CASES: ConvCase[] = [
  { n: 2, h: 9, w: 9, cin: 5, cout: 7, k: 3, s: 1, pad: 'same' },
  { n: 2, h: 9, w: 9, cin: 5, cout: 7, k: 3, s: 1, pad: 'valid' },
  { n: 2, h: 9, w: 7, cin: 4, cout: 6, k: 3, s: 2, pad: 'same' },
  { n: 2, h: 8, w: 8, cin: 4, cout: 6, k: 3, s: 2, pad: 'same' },
  { n: 3, h: 9, w: 8, cin: 4, cout: 6, k: 3, s: 2, pad: 'valid' },
  { n: 2, h: 8, w: 8, cin: 6, cout: 5, k: 1, s: 1, pad: 'same' },
  { n: 2, h: 7, w: 9, cin: 6, cout: 5, k: 1, s: 2, pad: 'same' },
  { n: 2, h: 8, w: 8, cin: 6, cout: 5, k: 1, s: 2, pad: 'valid' },
  { n: 2, h: 15, w: 13, cin: 3, cout: 8, k: 7, s: 2, pad: 'same' },
  { n: 1, h: 16, w: 16, cin: 3, cout: 8, k: 7, s: 2, pad: 'same' },
  { n: 2, h: 11, w: 11, cin: 3, cout: 4, k: 7, s: 1, pad: 'valid' },
  { n: 2, h: 10, w: 10, cin: 20, cout: 24, k: 3, s: 1, pad: 'same' }, // rows >= 16 floats: copyWithin path
  { n: 2, h: 9, w: 9, cin: 18, cout: 20, k: 3, s: 2, pad: 'same' },
  // torchvision-style symmetric numeric padding, as the project's encoders use
  { n: 2, h: 8, w: 8, cin: 4, cout: 6, k: 3, s: 2, pad: 1 },
  { n: 2, h: 9, w: 9, cin: 4, cout: 6, k: 3, s: 2, pad: 1 },
  { n: 2, h: 9, w: 9, cin: 4, cout: 6, k: 3, s: 1, pad: 1 },
  { n: 2, h: 17, w: 15, cin: 3, cout: 8, k: 7, s: 2, pad: 3 },
  { n: 2, h: 7, w: 7, cin: 6, cout: 5, k: 1, s: 2, pad: 0 },
];

describe('wasm training kernels match the cpu backend', () => {
  before(async () => { await initBackend('wasm'); });

  for (const c of CASES) {
    it(`conv2d k${c.k} s${c.s} ${c.pad} ${c.n}x${c.h}x${c.w}x${c.cin}->${c.cout}: forward, dx, dW`, async () => {
      const ref = await onBackend('cpu', () => convAndGrads(c));
      const got = await onBackend('wasm', () => convAndGrads(c));
      assertClose(got.y, ref.y, 'forward');
      assertClose(got.dx, ref.dx, 'dx');
      assertClose(got.dw, ref.dw, 'dW');
    });
  }

  for (const [ta, tb] of [[false, true], [true, false], [true, true]] as const) {
    it(`matMul transposeA=${ta} transposeB=${tb} (batched and 2-D)`, async () => {
      const run = () => tf.tidy(() => {
        const a2 = tf.tensor2d(randomData(35, 4), ta ? [7, 5] : [5, 7]);
        const b2 = tf.tensor2d(randomData(21, 5), tb ? [3, 7] : [7, 3]);
        const a3 = tf.tensor3d(randomData(70, 6), ta ? [2, 7, 5] : [2, 5, 7]);
        const b3 = tf.tensor3d(randomData(42, 7), tb ? [2, 3, 7] : [2, 7, 3]);
        return [...tf.matMul(a2, b2, ta, tb).dataSync(), ...tf.matMul(a3, b3, ta, tb).dataSync()];
      });
      const ref = await onBackend('cpu', run);
      const got = await onBackend('wasm', run);
      assertClose(got, ref, 'matMul');
    });
  }

  it('a small ResNet training step (conv, batch-norm moments, relu, max-pool, mean-pool, cosine CE) gives the same loss and gradients', async () => {
    const step = () => {
      const net = createProbeNet({ widths: [8, 16, 16, 16], seed: 3 });
      try {
        return tf.tidy(() => {
          const x = tf.tensor4d(randomData(2 * 33 * 33 * 3, 9), [2, 33, 33, 3]);
          const t = tf.tensor2d(randomData(3 * 16, 10), [3, 16]);
          const y = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
          const vars = [...net.params.values()];
          const { value, grads } = tf.variableGrads(() => {
            const f = net.apply(x, true);
            const logits = tf.mul(tf.matMul(tf.div(f, tf.norm(f, 2, 1, true)), t, false, true), 10);
            return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
          }, vars);
          return { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
        });
      } finally {
        net.dispose();
      }
    };
    const ref = await onBackend('cpu', step);
    const got = await onBackend('wasm', step);
    assert.ok(Number.isFinite(got.loss));
    assert.ok(Math.abs(got.loss - ref.loss) <= 1e-4 * Math.max(1, Math.abs(ref.loss)), `loss ${got.loss} vs ${ref.loss}`);
    got.grads.forEach((g, i) => assertClose(g, ref.grads[i], `grad ${i}`, 1e-3));
  });
});

// Batch-64-shaped cases with few channels, with the im2col cap set so low that the filter gradient
// runs in chunks of a few images (the last one shorter): the path ResNet-18 takes at batch >= 64.
const CHUNKED: Array<ConvCase & { per: number }> = [
  { n: 64, h: 9, w: 9, cin: 3, cout: 4, k: 3, s: 2, pad: 1, per: 5 }, // colsT, im2col
  { n: 64, h: 8, w: 8, cin: 3, cout: 40, k: 3, s: 1, pad: 1, per: 7 }, // dyT (cout > K), im2col
  { n: 64, h: 6, w: 6, cin: 2, cout: 8, k: 1, s: 1, pad: 0, per: 9 }, // dyT, direct 1x1 rows
  { n: 64, h: 13, w: 13, cin: 3, cout: 8, k: 7, s: 2, pad: 3, per: 64 }, // cap above the batch: one chunk
];

describe('chunked filter gradient (batch 64, small channels) matches the cpu backend', () => {
  const saved = wasmKernelLimits.im2colMaxFloats;
  before(async () => { await initBackend('wasm'); });
  after(() => { wasmKernelLimits.im2colMaxFloats = saved; });

  for (const c of CHUNKED) {
    it(`conv2d k${c.k} s${c.s} ${c.n}x${c.h}x${c.w}x${c.cin}->${c.cout} in chunks of ${c.per} images`, async () => {
      const oh = Math.floor((c.h + 2 * Number(c.pad) - c.k) / c.s) + 1;
      wasmKernelLimits.im2colMaxFloats = c.per * oh * oh * c.k * c.k * c.cin;
      const ref = await onBackend('cpu', () => convAndGrads(c));
      const before = tf.memory().numTensors;
      const got = await onBackend('wasm', () => convAndGrads(c));
      assert.equal(tf.memory().numTensors, before, 'no tensor leaked by the chunk loop');
      assertClose(got.y, ref.y, 'forward');
      assertClose(got.dx, ref.dx, 'dx');
      assertClose(got.dw, ref.dw, 'dW');
    });
  }

  it('a batch-64 small ResNet step through the chunked kernels gives the cpu loss and gradients', async () => {
    wasmKernelLimits.im2colMaxFloats = 4096;
    const step = () => {
      const net = createProbeNet({ widths: [4, 8, 8, 8], blocks: 1, seed: 5 });
      try {
        return tf.tidy(() => {
          const x = tf.tensor4d(randomData(64 * 17 * 17 * 3, 11), [64, 17, 17, 3]);
          const vars = [...net.params.values()];
          const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(net.apply(x, true))) as tf.Scalar, vars);
          return { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array) };
        });
      } finally {
        net.dispose();
      }
    };
    const ref = await onBackend('cpu', step);
    const got = await onBackend('wasm', step);
    assert.ok(Math.abs(got.loss - ref.loss) <= 1e-4 * Math.max(1, Math.abs(ref.loss)), `loss ${got.loss} vs ${ref.loss}`);
    got.grads.forEach((g, i) => assertClose(g, ref.grads[i], `grad ${i}`, 1e-3));
  });
});

describe('early-release backprop (tapeMemory.ts)', () => {
  before(async () => { await initBackend('wasm'); });
  after(() => setFrugalGradients(true));

  it("gives bit-identical gradients to tfjs's own backprop with a lower peak, and leaks nothing", async () => {
    const net = createProbeNet({ widths: [8, 16, 16, 16], seed: 7 });
    const vars = [...net.params.values()];
    const x = tf.tensor4d(randomData(4 * 33 * 33 * 3, 12), [4, 33, 33, 3]);
    const run = async () => {
      let out: Float32Array[] = [];
      const before = tf.memory().numTensors;
      const prof = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(net.apply(x, true))) as tf.Scalar, vars);
        out = [value.dataSync() as Float32Array, ...vars.map((v) => grads[v.name].dataSync() as Float32Array)];
        tf.dispose([value, ...Object.values(grads)]);
      });
      assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
      return { out, peak: prof.peakBytes };
    };
    try {
      setFrugalGradients(false);
      const tfjs = await run();
      setFrugalGradients(true);
      const frugal = await run();
      frugal.out.forEach((g, i) => assert.deepEqual(g, tfjs.out[i], `tensor ${i}`));
      assert.ok(frugal.peak < 0.75 * tfjs.peak, `peak ${frugal.peak} vs tfjs ${tfjs.peak}`);
    } finally {
      net.dispose();
      x.dispose();
    }
  });
});
