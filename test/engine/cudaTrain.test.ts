// The CUDA runtime (`kefer train --runtime cuda`, native/cuda_encoder.cu). Without a device every device
// test is skipped, visibly, with the reason (addon not built / no device / no cuDNN); where the addon is
// built, its no-device path is checked here too. On a device: every encoder gradient against the oneDNN
// step (onnxruntime where oneDNN is not built) on the same weights and batch, norm-relative errors printed;
// the head's losses and gradients against tfjs autodiff; SGD against torch's formula; the trainer against
// tfjs with cancel + resume equal to an uninterrupted run; bad input and out-of-memory as named errors.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { cudaAvailability, describeCuda, type CudaPrecision } from '../../src/engine/runtimes/cuda/addon.js';
import { CudaEncoderTrainer } from '../../src/engine/runtimes/cuda/encoderTrainer.js';
import { keferLoss, l2normalize, type LossOptions } from '../../src/engine/losses.js';
import { createTransform } from '../../src/engine/model/index.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import { OnednnEncoderTrainer } from '../../src/engine/runtimes/onednn/encoderTrainer.js';
import { resolveTrainRuntime } from '../../src/engine/train/trainer.js';
import { createEvalEncoder } from '../../src/engine/runtimes/registry.js';
import { Rng } from '../../src/engine/util/rng.js';
import { checkRuntimeTrainsLikeTfjs, compareEncoderGradients, onnxRunner, randomArray, tfjsCpuRunner, type EncoderRunner } from './encoder-grad-helpers.js';
import { tinyTrainData } from './train-helpers.js';
import { initBackend } from '../../src/engine/backend/index.js';
import { loadDataset } from '../../src/engine/data/index.js';
import * as ort from 'onnxruntime-node';
import path from 'node:path';
import { evaluateCheckpoint } from '../../src/engine/eval/checkpointEval.js';

const avail = cudaAvailability();
const skip = avail.ok ? false : `CUDA runtime unavailable: ${avail.why}`;
if (skip) console.log(`# SKIP cuda device tests: ${skip}`);
else console.log(`# cuda: ${JSON.stringify(avail.probe)}`);

const cudaRunnerWith = (precision: CudaPrecision): EncoderRunner => async (spec, images, upstream, weights) => {
  const t = CudaEncoderTrainer.create(spec, { precision });
  try {
    for (const [k, w] of weights) t.native.setParam(k, w);
    const v = t.native.forward(images, true);
    t.native.backward(upstream);
    return { v, grads: new Map(t.params.map((p) => [p.name, t.native.getGrad(p.name)])) };
  } finally {
    t.release();
  }
};
const onednnRunner: EncoderRunner = async (spec, images, upstream, weights) => {
  const t = OnednnEncoderTrainer.create(spec, { convolution: 'direct' });
  for (const [k, w] of weights) t.setParam(k, w);
  const fw = t.forward(images);
  t.backward(upstream);
  const out = { v: fw.v, grads: new Map(t.params.map((p) => [p.name, t.getGrad(p.name)])) };
  t.release();
  return out;
};
// The device machine has neither libdnnl nor onnxruntime-node (bench/gpu/prepare.sh carries neither): there
// the independent reference is tfjs autodiff on the pure-JS cpu backend, at a smaller size.
const onnxLoads = (() => {
  try {
    return typeof ort.InferenceSession === 'function';
  } catch {
    return false;
  }
})();
const cpuReference = loadOnednn().addon
  ? { name: 'oneDNN', run: onednnRunner, size: 64, batch: 8 }
  : onnxLoads
    ? { name: 'onnxruntime', run: onnxRunner, size: 64, batch: 8 }
    : { name: 'tfjs cpu backend', run: tfjsCpuRunner, size: 40, batch: 4 };

test('the CUDA addon, where built, says why it cannot train here or what it found', { skip: avail.addon ? false : `addon not built: ${avail.why}` }, () => {
  const p = avail.probe!;
  assert.match(p.cuda, /^\d+\.\d+$/, 'the CUDA runtime version it was built with');
  if (avail.ok) {
    assert.ok(p.devices.length > 0 && p.cudnn.loaded);
    return;
  }
  assert.match(avail.why!, /^(no device: no CUDA device \(.+\)|no cuDNN: cuDNN 9 not found .*KEFER_CUDNN_DIR)/);
  // Building an encoder names the same cause instead of crashing.
  assert.throws(() => new avail.addon!.Encoder({ tensors: [], params: [], ops: [] }), /^Error: cuda: (no CUDA device|cuDNN 9 not found)/);
  assert.throws(() => CudaEncoderTrainer.create({ backbone: 'compact', inputSize: 16, batch: 2 }), /^Error: --runtime cuda: (no device|no cuDNN)/);
});

test("--runtime auto prefers cuda where it can train, then oneDNN, then onnxruntime; workers keep tfjs", () => {
  assert.equal(resolveTrainRuntime('auto', 'wasm', 1, () => true, () => true), 'cuda');
  assert.equal(resolveTrainRuntime('auto', 'webgpu', 1, () => true, () => true), 'cuda');
  assert.equal(resolveTrainRuntime('auto', 'wasm', 1, () => true, () => false), 'onednn');
  assert.equal(resolveTrainRuntime('auto', 'wasm', 1, () => false, () => false), 'onnx');
  assert.equal(resolveTrainRuntime('auto', 'wasm', 4, () => true, () => true), 'tfjs');
  assert.equal(resolveTrainRuntime('cuda', 'wasm', 1, () => false, () => false), 'cuda');
});

test(`cuda fp32 encoder gradients equal the ${cpuReference.name} step: ResNet-18 @${cpuReference.size}, batch ${cpuReference.batch}`, { skip }, async () => {
  const r = await compareEncoderGradients('resnet18', cpuReference.size, cpuReference.batch, cudaRunnerWith('fp32'), cpuReference.run);
  console.log(`# cuda fp32 vs ${cpuReference.name}: worst norm-relative gradient error ${r.worstNorm.toExponential(2)}, worst max-abs relative ${r.worst.toExponential(2)} (${r.name}), v max-abs ${r.vErr.toExponential(2)}`);
  assert.ok(r.vErr < 1e-3, `forward v differs by ${r.vErr}`);
  assert.ok(r.worstNorm < 1e-3, `a gradient differs by ${r.worstNorm} of its norm`);
});

test('cuda amp (fp16 tensor cores) gradients stay within 2% of fp32 in every gradient norm', { skip }, async () => {
  const r = await compareEncoderGradients('resnet18', 64, 8, cudaRunnerWith('amp'), cudaRunnerWith('fp32'));
  console.log(`# cuda amp vs fp32: worst norm-relative gradient error ${r.worstNorm.toExponential(2)}, v max-abs ${r.vErr.toExponential(2)}`);
  assert.ok(r.worstNorm < 0.02, `a gradient differs by ${r.worstNorm} of its norm`);
});

/** tfjs autodiff of transform.ts + losses.ts: the reference for the addon's head kernels. */
function tfjsHead(v: Float32Array, labels: number[], text: tf.Tensor2D, transform: ReturnType<typeof createTransform>, opts: LossOptions) {
  const vVar = tf.variable(tf.tensor2d(v, [labels.length, 512]));
  const params = [...transform.params];
  let terms: number[] = [];
  const { grads } = tf.variableGrads(() => {
    const t = keferLoss(vVar, transform.apply(vVar), text, tf.tensor1d(labels, 'int32'), opts);
    terms = [t.ls, t.lt, t.lc].map((x) => x.dataSync()[0]);
    return t.total;
  }, [vVar, ...params.map(([, p]) => p)]);
  const out = { terms, dv: grads[vVar.name].dataSync() as Float32Array, named: new Map(params.map(([k, p]) => [k, grads[p.name].dataSync() as Float32Array])) };
  vVar.dispose();
  tf.dispose(Object.values(grads));
  return out;
}

const normRel = (a: Float32Array, b: Float32Array) => {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-30));
};

test('cuda head kernels (F_n, Ls, Lt, Lc, their gradients) equal tfjs autodiff: both Lc variants, all-neutral batch', { skip }, async () => {
  await tf.setBackend('cpu');
  const rng = new Rng(21);
  const K = 7, N = 6;
  const text = l2normalize(tf.tensor2d(randomArray(K * 512, rng), [K, 512]));
  const textData = text.dataSync() as Float32Array;
  for (const [contrast, labels] of [['pairwise', [0, 6, 3, 5, 6, 1, 2, 4]], ['per-sample', [1, 6, 2, 2, 4, 6, 0, 5]], ['pairwise', [6, 6, 6, 6, 6, 6, 6, 6]]] as const) {
    const opts: LossOptions = { neutralIndex: N, contrast, lambdaS: 1, lambdaT: 0.5, lambdaC: 2, logitScale: 100 };
    const transform = createTransform(5);
    const t = CudaEncoderTrainer.create({ backbone: 'compact', inputSize: 16, batch: labels.length }, { head: { text: textData, classes: K, hidden: 128, loss: opts } });
    for (const [k, p] of transform.params) t.native.setParam(k, p.dataSync() as Float32Array);
    const v = randomArray(labels.length * 512, rng);
    const got = t.native.head(v, Int32Array.from(labels));
    const want = tfjsHead(v, [...labels], text, transform, opts);
    const what = `${contrast} [${labels.join(',')}]`;
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(got.terms[i] - want.terms[i]) < 1e-4 * Math.max(1, Math.abs(want.terms[i])), `${what}: term ${i} ${got.terms[i]} vs tfjs ${want.terms[i]}`);
    const errs = { dv: normRel(got.dv, want.dv), ...Object.fromEntries([...want.named].map(([k, g]) => [k, normRel(t.native.getGrad(k), g)])) };
    console.log(`# cuda head vs tfjs, ${what}: ${JSON.stringify(errs)}`);
    for (const [k, e] of Object.entries(errs)) assert.ok(e < 1e-4, `${what}: ${k} differs by ${e} of its norm`);
    if (labels.every((y) => y === N)) assert.deepEqual([got.terms[1], got.terms[2]], [0, 0], 'all-neutral batch: Lt = Lc = 0');
    t.release();
    transform.dispose();
  }
  text.dispose();
});

test('cuda SGD is torch.optim.SGD over encoder and F_n (momentum from the first gradient, coupled weight decay)', { skip }, () => {
  const rng = new Rng(3);
  const t = CudaEncoderTrainer.create({ backbone: 'compact', inputSize: 16, batch: 4 });
  const n = t.native;
  const w0 = new Map(t.params.map((p) => [p.name, randomArray(p.shape.reduce((a, b) => a * b, 1), rng, 0.1)]));
  for (const [k, w] of w0) n.setParam(k, w);
  for (const [k, w] of w0) assert.deepEqual(n.getParam(k), w, `${k} round-trips`);
  const images = randomArray(4 * 16 * 16 * 3, rng);
  const [lr, m, wd] = [0.1, 0.9, 5e-4];
  const close = (a: Float32Array, b: Float32Array, what: string) => {
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]) / Math.max(1e-3, Math.abs(b[i])));
    assert.ok(err < 1e-5, `${what}: relative error ${err}`);
  };
  n.forward(images, true);
  n.backward(randomArray(4 * 512, rng, 0.1));
  const g1 = new Map(t.params.map((p) => [p.name, n.getGrad(p.name)]));
  for (const p of t.params) assert.equal(n.getMomentum(p.name), null, 'no momentum before the first step');
  n.sgd(lr, m, wd);
  const b1 = new Map<string, Float32Array>();
  const w1 = new Map<string, Float32Array>();
  for (const [k, w] of w0) {
    const g = g1.get(k)!;
    const buf = w.map((x, i) => g[i] + wd * x);
    b1.set(k, buf);
    w1.set(k, w.map((x, i) => x - lr * buf[i]));
    close(n.getMomentum(k)!, buf, `${k} momentum after step 1`);
    close(n.getParam(k), w1.get(k)!, `${k} after step 1`);
  }
  assert.ok([...g1.values()].some((g) => g.some((x) => x !== 0)), 'gradients are not all zero');
  n.forward(images, true);
  n.backward(randomArray(4 * 512, rng, 0.1));
  const g2 = new Map(t.params.map((p) => [p.name, n.getGrad(p.name)]));
  n.sgd(lr, m, wd);
  for (const [k, w] of w1) {
    const g = g2.get(k)!;
    const buf = b1.get(k)!.map((b, i) => m * b + g[i] + wd * w[i]);
    close(n.getParam(k), w.map((x, i) => x - lr * buf[i]), `${k} after step 2`);
  }
  t.release();
});

test('--runtime cuda trains the same model as tfjs: same first-step losses, close weights, resume exact', { skip }, async () => {
  // KEFER_SYNTHETIC_DIR: a synthetic set made beforehand (the device machine has no sharp to write one).
  const dir = process.env.KEFER_SYNTHETIC_DIR;
  const data = dir
    ? { backend: await initBackend('wasm'), work: await (await import('node:fs/promises')).mkdtemp('/tmp/kefer-cuda-train-'), trainSet: await loadDataset(`synthetic:${dir}#train`), valSet: await loadDataset(`synthetic:${dir}#valid`) }
    : await tinyTrainData('kefer-cuda-train-');
  await checkRuntimeTrainsLikeTfjs('cuda', data);
  // kefer eval --runtime cuda on that run's checkpoint: the same records as the tfjs forward.
  const ckpt = path.join(data.work, 'cuda-full', 'checkpoints', 'last');
  const want = await evaluateCheckpoint(ckpt, data.valSet, { batchSize: 4 });
  const got = await evaluateCheckpoint(ckpt, data.valSet, { batchSize: 4, runtimeEncoder: (enc) => createEvalEncoder('cuda', enc, { batchSize: 4 }) });
  assert.equal(got.records.length, want.records.length);
  let worst = 0;
  got.records.forEach((r, i) => {
    assert.equal(r.id, want.records[i].id);
    assert.equal(r.pred, want.records[i].pred, `${r.id}: predicted class`);
    worst = Math.max(worst, Math.abs(r.gap - want.records[i].gap));
    for (let k = 0; k < r.probs.length; k++) worst = Math.max(worst, Math.abs(r.probs[k] - want.records[i].probs[k]));
  });
  assert.ok(worst < 1e-3, `probabilities or gaps differ by ${worst}`);
});

test('cuda names bad input, and running out of device memory is an error, not a crash', { skip }, () => {
  const t = CudaEncoderTrainer.create({ backbone: 'compact', inputSize: 16, batch: 2 }, { head: { text: new Float32Array(7 * 512).fill(0.04), classes: 7, hidden: 128, loss: { neutralIndex: 6, contrast: 'pairwise', lambdaS: 1, lambdaT: 1, lambdaC: 1, logitScale: 100 } } });
  const n = t.native;
  assert.throws(() => n.forward(new Float32Array(10)), /got 10 image values; batch 2 of 16x16x3 takes 1536/);
  assert.throws(() => n.trainStep(new Float32Array(1536), Int32Array.from([0, 9]), 0.1, 0.9, 0), /label 9 of sample 1 is outside 0\.\.6/);
  assert.throws(() => n.trainStep(new Float32Array(1536), Int32Array.from([0]), 0.1, 0.9, 0), /got 1 labels for a batch of 2/);
  assert.throws(() => n.setParam('conv1.weight', new Float32Array(3)), /conv1\.weight takes \d+ values, got 3/);
  assert.throws(() => n.getParam('nope.weight'), /no parameter nope\.weight/);
  assert.throws(() => n.backward(new Float32Array(7)), /got 7 gradient values for \[2, 512\]/);
  const info = t.info();
  console.log(`# cuda: ${describeCuda(info)}; algorithms ${info.algorithms}`);
  assert.match(describeCuda(info), /cuDNN 9\.\d+\.\d+, precision fp32 \(NCHW\)/);
  t.release();
  assert.throws(() => n.forward(new Float32Array(1536)), /was released/);
  // ResNet-18 @224 at batch 16384 needs far more than one GPU's memory.
  assert.throws(() => CudaEncoderTrainer.create({ backbone: 'resnet18', inputSize: 224, batch: 16384 }), (e: Error & { code?: string }) => {
    assert.match(e.message, /out of device memory \(allocating \d+ MiB for activation/);
    assert.match(e.message, /MiB free of \d+ MiB; use a smaller batch/);
    return true;
  });
  // ... and the device is still usable afterwards.
  const again = CudaEncoderTrainer.create({ backbone: 'compact', inputSize: 16, batch: 2 });
  assert.equal(again.native.forward(new Float32Array(1536)).length, 2 * 512);
  again.release();
});

before(() => {
  if (!skip) console.log(`# cuda reference for gradients: ${cpuReference.name}`);
});
