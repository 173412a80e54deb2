// Encoder training on oneDNN (`kefer train --runtime onednn`, native/dnnl_encoder.cc): forward, backward
// and SGD against tfjs autodiff on the pure-JS cpu backend (an independent implementation) and torch's
// SGD formula, the runtime choice, and the trainer end to end. Skipped, visibly, where the addon is not
// built (npm run build:native needs Debian's libdnnl-dev); .ci/run builds it.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import { OnednnEncoderTrainer } from '../../src/engine/runtimes/onednn/encoderTrainer.js';
import { resolveTrainRuntime } from '../../src/engine/train/trainer.js';
import { Rng } from '../../src/engine/util/rng.js';
import { checkRuntimeTrainsLikeTfjs, compareEncoderGradients, onnxRunner, randomArray, type EncoderRunner } from './encoder-grad-helpers.js';
import { tinyTrainData } from './train-helpers.js';

const { addon, why } = loadOnednn();
const skip = addon ? false : `oneDNN addon unavailable: ${why}`;
if (skip) console.log(`# SKIP onednn tests: ${skip}`);

let data: Awaited<ReturnType<typeof tinyTrainData>>;
before(async () => {
  if (!skip) data = await tinyTrainData('kefer-onednn-train-');
});

const onednnRunnerWith = (convolution: 'auto' | 'direct'): EncoderRunner => async (spec, images, upstream, weights) => {
  const trainer = OnednnEncoderTrainer.create(spec, { threads: 1, convolution });
  for (const [k, w] of weights) trainer.setParam(k, w);
  const fw = trainer.forward(images);
  trainer.backward(upstream);
  return { v: fw.v, grads: new Map(trainer.params.map((p) => [p.name, trainer.getGrad(p.name)])) };
};
const onednnRunner = onednnRunnerWith('auto');

test('onednn encoder backward equals tfjs autodiff (cpu backend): compact', { skip }, async () => {
  const { worst, name, vErr } = await compareEncoderGradients('compact', 16, 4, onednnRunner);
  assert.ok(vErr < 1e-4, `forward v differs by ${vErr}`);
  assert.ok(worst < 1e-3, `gradient of ${name} differs by ${worst} (relative)`);
});

// ResNet-18 against onnxruntime's hand-written backward graph (itself checked against tfjs autodiff in
// onnxTrain.test.ts): the tfjs-cpu reference costs 45 s here, onnxruntime 10 s. Direct convolutions
// (PyTorch's algorithm; at this size 'auto' picks them too).
test('onednn encoder backward equals the onnxruntime training graphs: ResNet-18 with max-pool and 1x1 downsampling', { skip }, async () => {
  const { worst, name, vErr } = await compareEncoderGradients('resnet18', 40, 4, onednnRunnerWith('direct'), onnxRunner);
  assert.ok(vErr < 1e-4, `forward v differs by ${vErr}`);
  assert.ok(worst < 1e-3, `gradient of ${name} differs by ${worst} (relative)`);
});

// At 64 px and batch 16 'auto' runs some 3x3 layers as Winograd on AVX-512 CPUs (elsewhere it equals
// 'direct'). Winograd's transforms cost precision: against PyTorch in float64 the worst gradient is off by
// 0.66% of its norm here (direct 0.38%, PyTorch float32 0.38%; bench/README.md), so the check is on norms,
// with the direct convolutions (checked above) as the reference.
test('onednn auto convolutions (Winograd where chosen) stay within 2% of direct ones in every gradient norm', { skip }, async () => {
  const { worstNorm, vErr } = await compareEncoderGradients('resnet18', 64, 16, onednnRunnerWith('auto'), onednnRunnerWith('direct'));
  assert.ok(vErr < 1e-3, `forward v differs by ${vErr}`);
  assert.ok(worstNorm < 0.02, `a gradient differs by ${worstNorm} of its norm`);
});

test('onednn SGD is torch.optim.SGD (momentum from the first gradient, coupled weight decay) through its own layouts', { skip }, () => {
  const rng = new Rng(3);
  const spec = { backbone: 'compact' as const, inputSize: 16, batch: 4 };
  const trainer = OnednnEncoderTrainer.create(spec, { threads: 1 });
  const w0 = new Map(trainer.params.map((p) => [p.name, randomArray(p.shape.reduce((a, b) => a * b, 1), rng, 0.1)]));
  for (const [k, w] of w0) trainer.setParam(k, w);
  for (const [k, w] of w0) assert.deepEqual(trainer.getParam(k), w, `${k} round-trips through the blocked layout`);
  const images = randomArray(4 * 16 * 16 * 3, rng);
  const [lr, m, wd] = [0.1, 0.9, 5e-4];
  const close = (a: Float32Array, b: Float32Array, what: string) => {
    let err = 0;
    for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]) / Math.max(1e-3, Math.abs(b[i])));
    assert.ok(err < 1e-5, `${what}: relative error ${err}`);
  };

  trainer.forward(images);
  trainer.backward(randomArray(4 * 512, rng, 0.1));
  const g1 = new Map(trainer.params.map((p) => [p.name, trainer.getGrad(p.name)]));
  for (const p of trainer.params) assert.equal(trainer.getMomentum(p.name), null, 'no momentum before the first step');
  trainer.sgd(lr, m, wd);
  const w1 = new Map<string, Float32Array>();
  const b1 = new Map<string, Float32Array>();
  for (const [k, w] of w0) {
    const g = g1.get(k)!;
    const buf = w.map((x, i) => g[i] + wd * x);
    b1.set(k, buf);
    w1.set(k, w.map((x, i) => x - lr * buf[i]));
    close(trainer.getMomentum(k)!, buf, `${k} momentum after step 1`);
    close(trainer.getParam(k), w1.get(k)!, `${k} after step 1`);
  }
  assert.ok([...g1.values()].some((g) => g.some((x) => x !== 0)), 'gradients are not all zero');

  trainer.forward(images);
  trainer.backward(randomArray(4 * 512, rng, 0.1));
  const g2 = new Map(trainer.params.map((p) => [p.name, trainer.getGrad(p.name)]));
  trainer.sgd(lr, m, wd);
  for (const [k, w] of w1) {
    const g = g2.get(k)!;
    const buf = b1.get(k)!.map((b, i) => m * b + g[i] + wd * w[i]);
    close(trainer.getParam(k), w.map((x, i) => x - lr * buf[i]), `${k} after step 2`);
  }

  // A resumed run hands the momentum back in.
  const name = trainer.params[0].name;
  trainer.setParam(name, w0.get(name)!, b1.get(name)!);
  close(trainer.getMomentum(name)!, b1.get(name)!, 'momentum set back');
});

test('onednn reports bad input by name instead of reading past it', { skip }, () => {
  const trainer = OnednnEncoderTrainer.create({ backbone: 'compact', inputSize: 16, batch: 2 }, { threads: 1 });
  assert.throws(() => trainer.forward(new Float32Array(10)), /10 image values for batch 2 at 16x16/);
  assert.throws(() => trainer.setParam('conv1.weight', new Float32Array(3)), /conv1\.weight takes 864 values, got 3/);
  assert.throws(() => trainer.getParam('nope.weight'), /no parameter nope\.weight/);
  const info = trainer.info();
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.ok(info.block === 8 || info.block === 16, `block ${info.block}`);
  trainer.release();
  assert.throws(() => trainer.forward(new Float32Array(2 * 16 * 16 * 3)), /was released/);
});

// 'auto' once paired a Winograd forward of the compact stem with oneDNN's reference filter-gradient
// kernel (300x slower); such layers are rebuilt with direct convolutions.
test('onednn runs no reference (slow) kernel at the benchmark and demo shapes, with auto or direct convolutions', { skip }, () => {
  for (const [backbone, inputSize, batch] of [['resnet18', 112, 16], ['resnet18', 112, 64], ['compact', 48, 64], ['compact', 32, 32], ['compact', 32, 16]] as const) {
    for (const convolution of ['auto', 'direct'] as const) {
      const info = OnednnEncoderTrainer.create({ backbone, inputSize, batch }, { threads: 1, convolution }).info();
      const kernels = `${info.convolution}, ${info.backward}`;
      assert.ok(!/ref/.test(kernels), `${backbone} @${inputSize} b${batch} ${convolution}: ${kernels}`);
      assert.ok(info.backward.length > 0, 'the backward kernels are reported');
    }
  }
});

test('--runtime auto trains natively on a CPU: onednn when the addon loads, else onnxruntime; tfjs on a GPU backend or with workers', () => {
  assert.equal(resolveTrainRuntime('auto', 'wasm', 1, () => true, () => false), 'onednn');
  assert.equal(resolveTrainRuntime(undefined, 'wasm', 1, () => false, () => false), 'onnx');
  assert.equal(resolveTrainRuntime('auto', 'webgpu', 1, () => true, () => false), 'tfjs');
  assert.equal(resolveTrainRuntime('auto', 'wasm', 2, () => true, () => false), 'tfjs');
  assert.equal(resolveTrainRuntime('onnx', 'wasm', 1, () => true, () => false), 'onnx');
  assert.equal(resolveTrainRuntime('onednn', 'tensorflow', 1, () => false), 'onednn');
});

test('--runtime onednn trains the same model as tfjs: same first-step losses, close weights, resume exact', { skip }, async () => {
  await checkRuntimeTrainsLikeTfjs('onednn', data);
});
