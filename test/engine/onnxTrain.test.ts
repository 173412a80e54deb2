// Encoder training on onnxruntime (`kefer train --runtime onnx`): the hand-written backward graph against
// tfjs autodiff on the pure-JS cpu backend (an independent implementation), and the trainer end to end.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { checkRuntimeTrainsLikeTfjs, compareEncoderGradients, onnxRunner } from './encoder-grad-helpers.js';
import { tinyTrainData } from './train-helpers.js';

let data: Awaited<ReturnType<typeof tinyTrainData>>;

before(async () => {
  data = await tinyTrainData('kefer-onnx-train-');
});

test('onnxruntime encoder backward equals tfjs autodiff (cpu backend): compact', async () => {
  const { worst, name, vErr } = await compareEncoderGradients('compact', 16, 4, onnxRunner);
  assert.ok(vErr < 1e-4, `forward v differs by ${vErr}`);
  assert.ok(worst < 1e-3, `gradient of ${name} differs by ${worst} (relative)`);
});

// 40 px keeps 2x2 positions in the last stage (16 values per BatchNorm channel at batch 4): smaller inputs
// make the training-mode BN there ill-conditioned, and any two float32 implementations then drift apart
// in the first stage (measured: 6% at 32 px / batch 8 between tfjs-cpu and onnxruntime, 3e-5 here).
test('onnxruntime encoder backward equals tfjs autodiff (cpu backend): ResNet-18 with max-pool', async () => {
  const { worst, name, vErr } = await compareEncoderGradients('resnet18', 40, 4, onnxRunner);
  assert.ok(vErr < 1e-4, `forward v differs by ${vErr}`);
  assert.ok(worst < 1e-3, `gradient of ${name} differs by ${worst} (relative)`);
});

test('--runtime onnx trains the same model as tfjs: same first-step losses, close weights, resume exact', async () => {
  await checkRuntimeTrainsLikeTfjs('onnx', data);
});
