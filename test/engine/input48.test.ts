// FERPlus's native 48 px: both backbones build, train forward and backward at 48 on the native runtimes
// (oneDNN against the onnxruntime training graphs, which are checked against tfjs autodiff elsewhere),
// and the FER+ paper's affine augmentation (--augment affine) behaves as an affine warp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import { OnednnEncoderTrainer } from '../../src/engine/runtimes/onednn/encoderTrainer.js';
import { affineInto, augmentInto, normaliseInto } from '../../src/engine/data/augment.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/engine/model/checkpoint.js';
import { Rng } from '../../src/engine/util/rng.js';
import { compareEncoderGradients, onnxRunner, type EncoderRunner } from './encoder-grad-helpers.js';

const { addon, why } = loadOnednn();
const skip = addon ? false : `oneDNN addon unavailable: ${why}`;
const onednn: EncoderRunner = async (spec, images, upstream, weights) => {
  const trainer = OnednnEncoderTrainer.create(spec, { threads: 1, convolution: 'direct' });
  for (const [k, w] of weights) trainer.setParam(k, w);
  const fw = trainer.forward(images);
  trainer.backward(upstream);
  return { v: fw.v, grads: new Map(trainer.params.map((p) => [p.name, trainer.getGrad(p.name)])) };
};

for (const backbone of ['compact', 'resnet18'] as const) {
  test(`${backbone} at 48 px: oneDNN forward and backward equal the onnxruntime training graphs`, { skip }, async () => {
    const { worst, name, vErr } = await compareEncoderGradients(backbone, 48, 2, onednn, onnxRunner);
    assert.ok(vErr < 1e-4, `forward v differs by ${vErr}`);
    assert.ok(worst < 1e-3, `gradient of ${name} differs by ${worst} (relative)`);
  });
}

const norm = { mean: IMAGENET_MEAN, std: IMAGENET_STD };

test('--augment affine: a flat image stays flat, a real image is warped, and the same seed warps the same way', () => {
  const size = 48;
  const flat = new Uint8Array(size * size * 3).fill(90);
  const out = new Float32Array(size * size * 3);
  const plain = new Float32Array(size * size * 3);
  normaliseInto(flat, size, norm, plain, 0);
  affineInto(flat, size, norm, new Rng(1), out, 0);
  out.forEach((x, i) => assert.ok(Math.abs(x - plain[i]) < 1e-4, `flat pixel ${i}: ${x} vs ${plain[i]}`));
  // a vertical bar left of centre: a warp moves it, no warp leaves an image identical
  const bar = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) for (let x = 10; x < 16; x++) bar.fill(255, (y * size + x) * 3, (y * size + x) * 3 + 3);
  normaliseInto(bar, size, norm, plain, 0);
  let moved = 0;
  for (let seed = 0; seed < 8; seed++) {
    augmentInto(bar, size, norm, new Rng(seed), out, 0, 'affine');
    let d = 0;
    for (let i = 0; i < out.length; i++) d += Math.abs(out[i] - plain[i]);
    if (d > 100) moved++;
    const again = new Float32Array(out.length);
    augmentInto(bar, size, norm, new Rng(seed), again, 0, 'affine');
    assert.deepEqual(again, out);
    // values stay within the image's range (bilinear interpolation, mirrored border)
    for (const x of out) assert.ok(x >= plain[0] - 1e-4 && x <= Math.max(...plain.slice(30, 33)) + 1e-4);
  }
  assert.equal(moved, 8, 'every draw warps the image');
});
