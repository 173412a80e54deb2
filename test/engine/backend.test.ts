// initBackend: preference handling, fall-through reasons, idempotence, and the WebGPU adapter
// policy (hardware only unless KEFER_WEBGPU_ALLOW_SOFTWARE=1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// Only so the 'auto' test can switch tfjs away from wasm; initBackend never selects it.
import '@tensorflow/tfjs-backend-cpu';
import { activeBackend, initBackend, isBackendPreference, type BackendPreference } from '../../src/engine/backend/index.js';
import { describeAdapter, isSoftwareAdapter } from '../../src/engine/backend/webgpu.js';
import { WASM_KERNEL_OVERRIDES } from '../../src/engine/backend/wasmKernels.js';

function hasModule(id: string): boolean {
  try {
    require.resolve(id);
    return true;
  } catch {
    return false;
  }
}

describe('initBackend', () => {
  it("'wasm' activates the wasm backend with XNNPACK and the training kernels", async () => {
    const rep = await initBackend('wasm');
    assert.equal(rep.name, 'wasm');
    assert.match(rep.detail, /^XNNPACK( SIMD| \(no SIMD\)), \d+ threads?$/);
    assert.equal(tf.getBackend(), 'wasm');
    for (const k of ['Conv2DBackpropFilter', 'Conv2DBackpropInput']) assert.ok(tf.getKernel(k, 'wasm'), `${k} registered`);
    assert.deepEqual([...WASM_KERNEL_OVERRIDES].sort(), ['BatchMatMul', 'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Identity', 'Mean', 'Sum']);
  });

  it('is idempotent: a second call (also concurrent ones) returns the same backend', async () => {
    const [a, b] = await Promise.all([initBackend('wasm'), initBackend('wasm')]);
    const c = await initBackend('auto');
    assert.deepEqual(a, b);
    assert.equal(tf.getBackend(), 'wasm');
    // 'auto' keeps the running backend when one is already active.
    assert.deepEqual(c, a);
    assert.deepEqual(activeBackend(), a);
  });

  it('the wasm backend trains: a conv gradient step changes the weights and lowers the loss', async () => {
    await initBackend('wasm');
    const w = tf.variable(tf.randomNormal([3, 3, 2, 4], 0, 0.5, 'float32', 1));
    const x = tf.randomNormal([2, 6, 6, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
    const target = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 3);
    const loss = () => tf.tidy(() => tf.mean(tf.square(tf.sub(tf.conv2d(x, w as unknown as tf.Tensor4D, 2, 1), target))) as tf.Scalar);
    const before = loss().dataSync()[0];
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(loss, [w]);
        w.assign(tf.sub(w, tf.mul(grads[w.name], 0.1)));
      });
    }
    assert.ok(loss().dataSync()[0] < before, 'loss decreased');
    tf.dispose([w, x, target]);
  });

  it("'tensorflow' throws a clear error when tfjs-node(-gpu) is not installed", { skip: hasModule('@tensorflow/tfjs-node') || hasModule('@tensorflow/tfjs-node-gpu') }, async () => {
    const logs: string[] = [];
    await assert.rejects(initBackend('tensorflow', (m) => logs.push(m)), (err: Error) => {
      assert.match(err.message, /backend 'tensorflow' is not available/);
      assert.match(err.message, /@tensorflow\/tfjs-node-gpu: not installed/);
      assert.match(err.message, /@tensorflow\/tfjs-node: not installed/);
      return true;
    });
    assert.ok(logs.some((l) => /tfjs-node-gpu/.test(l)), 'the fall-through reason is logged');
    // A failed explicit request leaves the working backend in place.
    assert.equal(tf.getBackend(), 'wasm');
  });

  it("'auto' falls through to a real training backend, never 'cpu', and logs why it skipped others", async () => {
    const logs: string[] = [];
    // Force a fresh selection by switching tfjs away from the active backend first.
    await tf.setBackend('cpu');
    const rep = await initBackend('auto', (m) => logs.push(m));
    assert.notEqual(rep.name, 'cpu');
    assert.equal(tf.getBackend(), rep.name);
    if (!hasModule('@tensorflow/tfjs-node-gpu')) assert.ok(logs.some((l) => /tfjs-node-gpu: not installed/.test(l)));
    assert.ok(logs.some((l) => l.startsWith(`backend: ${rep.name} (`)));
  });

  it("'webgpu' either finds an adapter or throws saying why", async () => {
    try {
      const rep = await initBackend('webgpu');
      assert.equal(rep.name, 'webgpu');
      assert.match(rep.detail, /^Dawn: /);
    } catch (err) {
      assert.match((err as Error).message, /^backend 'webgpu' is not available: webgpu: (no adapter found|only a software adapter)/);
    }
    await initBackend('wasm');
  });

  it('rejects unknown preferences', async () => {
    await assert.rejects(initBackend('cpu' as BackendPreference), /unknown backend 'cpu'/);
    assert.equal(isBackendPreference('wasm'), true);
    assert.equal(isBackendPreference('cpu'), false);
  });
});

describe('WebGPU adapter policy', () => {
  const hw = { vendor: 'nvidia', architecture: 'ampere', device: '', description: 'NVIDIA GeForce RTX 3080' };
  it('treats lavapipe/llvmpipe, SwiftShader and fallback adapters as software', () => {
    assert.equal(isSoftwareAdapter({ vendor: 'mesa', architecture: '', device: '', description: 'llvmpipe (LLVM 19.1.7, 256 bits)' }), true);
    assert.equal(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device (Subzero)' }), true);
    assert.equal(isSoftwareAdapter({ ...hw, isFallbackAdapter: true }), true);
  });
  it('accepts hardware adapters and describes them', () => {
    assert.equal(isSoftwareAdapter(hw), false);
    assert.equal(isSoftwareAdapter({ vendor: 'intel', architecture: 'gen-12lp', device: '', description: 'Intel(R) Xe Graphics' }), false);
    assert.equal(describeAdapter(hw), 'Dawn: nvidia ampere NVIDIA GeForce RTX 3080');
  });
});
