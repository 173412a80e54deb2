// Our Winograd F(4x4, 3x3) and F(7x7, 3x3) for AVX2 (native/wino_avx2.h), which the oneDNN inference encoder runs for the
// 3x3 stride-1 convolutions where oneDNN's kernels are AVX2 ones (oneDNN has Winograd only for AVX-512).
// Checked: 'auto' picks it and 'direct' does not; each image's features equal the direct convolutions' to
// 1e-4 of their scale, yet not bit for bit (so ours ran), for maps that are not multiples of the 4x4 tile
// (input 48: 12, 6, 3, 2; input 72: 18, 9, 5, 3), for one image and for a batch. On an AVX-512 machine the
// file runs itself again under DNNL_MAX_CPU_ISA=AVX2 (oneDNN reads the cap once, when first used). An
// instance built for another batch size shares the Winograd weights (4x the direct ones) instead of a copy.
// The int8 encoder runs it too (u8 NHWC in, requantized u8 out): its features are as close to fp32 as
// oneDNN's int8 direct kernels' are, and not equal to theirs; at 112 px it takes F(7x7) on the 14x14 and
// 7x7 maps, no further from fp32 than F(4x4) there. F(7x7) forced on every layer equals direct to 1e-4.
// The grey stem (native/grey_stem_avx2.h, the pixel path's stem and max pool on one channel when R = G = B):
// features equal the RGB stem's to 1e-4 at 112, 48 and 50 px under two normalisations; a batch with one
// tinted pixel takes the RGB stem bit for bit; int8 with it is no further from fp32 than the int8 RGB stem.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { ensureTfBackend } from '../../src/engine/backend/index.js';
import { createEncoder, type Encoder } from '../../src/engine/model/index.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import type { Normalisation } from '../../src/engine/data/augment.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/engine/model/checkpoint.js';
import { foldBatchNorms, OnednnEvaluator, OnednnInference } from '../../src/engine/runtimes/onednn/inference.js';

const { addon, why } = loadOnednn();
const isa = addon?.isa() ?? '';
const capped = process.env.DNNL_MAX_CPU_ISA !== undefined || process.env.ONEDNN_MAX_CPU_ISA !== undefined;
const skip = !addon ? `the oneDNN addon cannot run here: ${why}` : !/^avx2|^avx512/.test(isa) ? `oneDNN runs ${isa} kernels here, not AVX2` : false;
if (skip) console.log(`# SKIP Winograd on AVX2: ${skip}`);

function seededNormal(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (s * 1664525 + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** max |a - b| and max |a|: features compared against their own scale. */
function featureDiff(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  assert.equal(a.length, b.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return { diff, scale };
}

/** Mean |v - reference| over mean |reference|: how far a quantized encoder's features are from fp32's. */
function relativeError(v: Float32Array, reference: Float32Array): number {
  return v.reduce((s, a, i) => s + Math.abs(a - reference[i]), 0) / reference.reduce((s, a) => s + Math.abs(a), 0);
}

/** int8 calibration on `images` (normalised, `per` values each). */
function calibrationOn(images: Float32Array, per: number, what: string) {
  const n = images.length / per;
  return {
    what,
    async *batches(batch: number) {
      for (let i = 0; i < n; i += batch) yield { x: images.subarray(i * per, Math.min(n, i + batch) * per), n: Math.min(batch, n - i) };
    },
  };
}

/** int8 calibration on 8 seeded normal images of `per` values each. */
function seededCalibration(per: number, seed: number) {
  return calibrationOn(seededNormal(8 * per, seed), per, 'seeded normal images');
}

/** n seeded grey images as decoded (R = G = B): a smooth ramp with noise, [n, size, size, 3] bytes. */
function greyImages(n: number, size: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  const out = new Uint8Array(n * size * size * 3);
  for (let p = 0; p < n * size * size; p++) {
    const x = p % size;
    const y = Math.floor(p / size) % size;
    s = (s * 1664525 + 1013904223) >>> 0;
    out.fill(Math.min(255, Math.floor(((x + 2 * y) * 255) / (3 * size)) + (s >>> 28)), p * 3, p * 3 + 3);
  }
  return out;
}

/** RGB bytes normalised as the addon's pixel path does ((v / 255 - mean) / std per channel). */
function normalise(rgb: Uint8Array, norm: Normalisation): Float32Array {
  return Float32Array.from(rgb, (v, i) => (v / 255 - norm.mean[i % 3]) / norm.std[i % 3]);
}

/** An inference instance's info(), the instance released after. */
function infoOf(...args: Parameters<typeof OnednnInference.create>) {
  const inst = OnednnInference.create(...args);
  try {
    return inst.info();
  } finally {
    inst.release();
  }
}

/** `encoder` on fp32 evaluators with direct and 'auto' convolutions, weights loaded; released after `use`. */
async function withDirectAndAuto(encoder: Encoder, opts: { batchSize: number; threads?: number; winogradTile?: 4 | 7 }, use: (direct: OnednnEvaluator, wino: OnednnEvaluator) => void): Promise<void> {
  const direct = new OnednnEvaluator(encoder, { ...opts, algorithm: 'direct' });
  const wino = new OnednnEvaluator(encoder, { ...opts, algorithm: 'auto' });
  try {
    await direct.load();
    await wino.load();
    use(direct, wino);
  } finally {
    direct.release();
    wino.release();
  }
}

describe('oneDNN inference: our Winograd on AVX2', { skip }, () => {
  if (isa.startsWith('avx512') && !capped) {
    test('runs again under DNNL_MAX_CPU_ISA=AVX2 and passes there', (t) => {
      const file = __filename;
      // Without NODE_TEST_CONTEXT: node's runner would take the child for a nested run and skip its files.
      const { NODE_TEST_CONTEXT: _nested, ...env } = process.env;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', file], {
        encoding: 'utf8',
        env: { ...env, DNNL_MAX_CPU_ISA: 'AVX2' },
        timeout: 300_000,
      });
      const out = `${r.stdout}\n${r.stderr}`;
      for (const line of out.split('\n').filter((l) => /ℹ (batch|'auto'|int8)/.test(l))) t.diagnostic(line.trim().slice(2));
      assert.equal(r.status, 0, out);
      assert.match(out, /pass [1-9]/, out);
      assert.match(out, /fail 0/, out);
      assert.match(out, /skipped 0/, out);
    });
    return;
  }

  for (const inputSize of [48, 72]) {
    test(`input ${inputSize}: 'auto' runs it, and features equal direct's to 1e-4 (batch 5 and 1)`, async (t) => {
      const kinds = (algorithm: 'auto' | 'direct') => infoOf({ backbone: 'resnet18', inputSize, batch: 5 }, { algorithm }).convolution;
      const auto = kinds('auto');
      t.diagnostic(`'auto': ${auto} (${isa})`);
      assert.match(auto, /wino_4x3:avx2 \(kefer\)/);
      assert.doesNotMatch(kinds('direct'), /wino/);

      await ensureTfBackend();
      const encoder = createEncoder('resnet18', { seed: 11, inputSize });
      try {
        await withDirectAndAuto(encoder, { batchSize: 5 }, (direct, wino) => {
          const x = seededNormal(5 * inputSize * inputSize * 3, inputSize);
          for (const n of [5, 1]) {
            const { diff, scale } = featureDiff(direct.run(x.subarray(0, n * inputSize * inputSize * 3), n), wino.run(x.subarray(0, n * inputSize * inputSize * 3), n));
            t.diagnostic(`batch ${n}: max |v direct - v winograd| ${diff.toExponential(2)} of max |v| ${scale.toExponential(2)}`);
            assert.ok(scale > 0, 'features are not all zero');
            assert.ok(diff <= 1e-4 * scale, `batch ${n}: features differ by ${diff} (scale ${scale})`);
            assert.ok(diff > 0, `batch ${n}: Winograd's rounding differs from direct's (ours ran)`);
          }
        });
      } finally {
        encoder.dispose();
      }
    });
  }

  // F(7x7, 3x3) on every 3x3 stride-1 layer, forced (int8 picks it on its own only where 7 divides the map):
  // the Cook-Toom matrices and the unrolled transforms checked in fp32, where rounding cannot hide an error,
  // on maps 7 divides (112: 28, 14, 7) and maps its tiles overhang (112: 4; 48: 12, 6, 3, 2).
  for (const inputSize of [48, 112]) {
    test(`input ${inputSize}, F(7x7) forced: features equal direct's to 1e-4`, async (t) => {
      const convs = infoOf({ backbone: 'resnet18', inputSize, batch: 2 }, { algorithm: 'auto', winogradTile: 7 }).convolution;
      assert.match(convs, /wino_7x3:avx2 \(kefer\)/);
      assert.doesNotMatch(convs, /wino_4x3/);
      await ensureTfBackend();
      const encoder = createEncoder('resnet18', { seed: 23, inputSize });
      try {
        await withDirectAndAuto(encoder, { batchSize: 2, winogradTile: 7 }, (direct, wino) => {
          const x = seededNormal(2 * inputSize * inputSize * 3, 25);
          const { diff, scale } = featureDiff(direct.run(x, 2), wino.run(x, 2));
          t.diagnostic(`F(7x7) at ${inputSize}: max |v direct - v winograd| ${diff.toExponential(2)} of max |v| ${scale.toExponential(2)}`);
          assert.ok(scale > 0 && diff > 0 && diff <= 1e-4 * scale, `features differ by ${diff} (scale ${scale})`);
        });
      } finally {
        encoder.dispose();
      }
    });
  }

  test('int8 at 112: F(7x7) on the 14x14 and 7x7 maps, F(4x4) on the others; as close to fp32 as F(4x4) everywhere', async (t) => {
    await ensureTfBackend();
    const inputSize = 112;
    const per = inputSize * inputSize * 3;
    const encoder = createEncoder('resnet18', { seed: 27, inputSize });
    const calibration = seededCalibration(per, 29);
    const fp32 = new OnednnEvaluator(encoder, { batchSize: 4, algorithm: 'direct' });
    const picked = new OnednnEvaluator(encoder, { batchSize: 4, algorithm: 'auto' });
    const only4 = new OnednnEvaluator(encoder, { batchSize: 4, algorithm: 'auto', winogradTile: 4 });
    try {
      for (const ev of [fp32, picked, only4]) await ev.load();
      const scales = await picked.calibrate(calibration);
      await only4.calibrate(calibration);
      const info = infoOf({ backbone: 'resnet18', inputSize, batch: 4 }, { algorithm: 'auto', int8: scales });
      t.diagnostic(`int8 'auto' at 112: ${info.convolution}; ${info.winogradF7} convolutions on F(7x7), ${info.winogradF4} on F(4x4)`);
      assert.match(info.convolution, /wino_7x3:avx2 u8 \(kefer\)/);
      assert.equal(info.winogradF7, 6, "layer2's and layer3's three stride-1 convolutions each");
      assert.equal(info.winogradF4, 7, "layer1's four and layer4's three");
      const forced = infoOf({ backbone: 'resnet18', inputSize, batch: 4 }, { algorithm: 'auto', int8: scales, winogradTile: 4 });
      assert.deepEqual([forced.winogradF7, forced.winogradF4], [0, 13]);
      const x = seededNormal(4 * per, 31);
      const reference = fp32.run(x, 4);
      const error = (v: Float32Array) => relativeError(v, reference);
      const a = only4.run(x, 4);
      const b = picked.run(x, 4);
      t.diagnostic(`int8 relative error against fp32: F(4x4) everywhere ${error(a).toExponential(2)}, F(7x7) where picked ${error(b).toExponential(2)}`);
      assert.ok(error(b) < 0.05, `int8 with F(7x7) is off fp32 by ${error(b)}`);
      assert.ok(error(b) <= 1.25 * error(a), `F(7x7) (${error(b)}) is further from fp32 than F(4x4) (${error(a)})`);
      assert.ok(a.some((v, i) => v !== b[i]), 'the two tile sizes ran');
    } finally {
      fp32.release();
      picked.release();
      only4.release();
      encoder.dispose();
    }
  });

  test('a batch with tiles for several chunks per thread: the 64-channel layers run whole chunks per thread, features still equal direct\'s', async (t) => {
    await ensureTfBackend();
    // 112 px: layer1's maps are 28x28, 49 tiles per image; 40 images are enough chunks for 2 threads.
    const inputSize = 112;
    const batch = 40;
    const threads = 2;
    const perThread = infoOf({ backbone: 'resnet18', inputSize, batch }, { algorithm: 'auto', threads }).winogradPerThreadChunks;
    t.diagnostic(`${perThread} convolutions run whole chunks per thread`);
    assert.equal(perThread, 4, "layer1's four 64-channel convolutions");
    const encoder = createEncoder('resnet18', { seed: 19, inputSize });
    try {
      await withDirectAndAuto(encoder, { batchSize: batch, threads }, (direct, wino) => {
        const x = seededNormal(batch * inputSize * inputSize * 3, 21);
        const { diff, scale } = featureDiff(direct.run(x, batch), wino.run(x, batch));
        t.diagnostic(`batch ${batch} at ${inputSize}: max |v direct - v winograd| ${diff.toExponential(2)} of max |v| ${scale.toExponential(2)}`);
        assert.ok(scale > 0 && diff > 0 && diff <= 1e-4 * scale, `features differ by ${diff} (scale ${scale})`);
      });
    } finally {
      encoder.dispose();
    }
  });

  test('int8: the 3x3 stride-1 convolutions take u8 into it and requantize; as close to fp32 as oneDNN int8 direct', async (t) => {
    await ensureTfBackend();
    const inputSize = 48;
    const per = inputSize * inputSize * 3;
    const encoder = createEncoder('resnet18', { seed: 17, inputSize });
    const calibration = seededCalibration(per, 3);
    const fp32 = new OnednnEvaluator(encoder, { batchSize: 4, algorithm: 'direct' });
    const direct8 = new OnednnEvaluator(encoder, { batchSize: 4, algorithm: 'direct' });
    const wino8 = new OnednnEvaluator(encoder, { batchSize: 4, algorithm: 'auto' });
    try {
      for (const ev of [fp32, direct8, wino8]) await ev.load();
      await direct8.calibrate(calibration);
      const scales = await wino8.calibrate(calibration);
      const kinds = (algorithm: 'auto' | 'direct') => infoOf({ backbone: 'resnet18', inputSize, batch: 4 }, { algorithm, int8: scales }).convolution;
      const auto = kinds('auto');
      t.diagnostic(`int8 'auto': ${auto}`);
      assert.match(auto, /wino_4x3:avx2 u8 \(kefer\)/);
      assert.match(auto, /int8/, 'the other convolutions stay on oneDNN int8');
      assert.doesNotMatch(kinds('direct'), /wino/);
      // Mean |v - v fp32| over mean |v|, on images outside the calibration set.
      const x = seededNormal(4 * per, 9);
      const reference = fp32.run(x, 4);
      const error = (v: Float32Array) => relativeError(v, reference);
      const a = direct8.run(x, 4);
      const b = wino8.run(x, 4);
      t.diagnostic(`int8 relative error against fp32: oneDNN direct ${error(a).toExponential(2)}, with Winograd u8 ${error(b).toExponential(2)}`);
      assert.ok(error(a) > 0 && error(b) > 0, 'both ran quantized');
      assert.ok(error(b) < 0.05, `int8 with Winograd is off fp32 by ${error(b)}`);
      assert.ok(error(b) <= 1.25 * error(a), `int8 with Winograd (${error(b)}) is further from fp32 than oneDNN's int8 direct (${error(a)})`);
      assert.ok(a.some((v, i) => v !== b[i]), 'the two int8 paths ran different kernels');
    } finally {
      fp32.release();
      direct8.release();
      wino8.release();
      encoder.dispose();
    }
  });

  // The grey stem (native/grey_stem_avx2.h): the pixel path's stem and max pool on one channel when R = G = B.
  for (const inputSize of [112, 48, 50]) {
    test(`grey batches at ${inputSize}: the stem runs on one channel, fused with its pool; features equal the RGB stem's to 1e-4 (fp32, two normalisations); a batch with one coloured pixel takes the RGB stem`, async (t) => {
      await ensureTfBackend();
      const encoder = createEncoder('resnet18', { seed: 41, inputSize });
      const grey = new OnednnEvaluator(encoder, { batchSize: 3 });
      const rgb = new OnednnEvaluator(encoder, { batchSize: 3, greyStem: false });
      try {
        await grey.load();
        await rgb.load();
        const images = greyImages(3, inputSize, inputSize);
        // ImageNet's, and one whose channels differ more: the padding's bias per window class depends on both.
        const norms: Normalisation[] = [{ mean: IMAGENET_MEAN, std: IMAGENET_STD }, { mean: [0.6, 0.3, 0.1], std: [0.15, 0.3, 0.4] }];
        for (const norm of norms) {
          const { diff, scale } = featureDiff(rgb.runPixels(images, 3, norm), grey.runPixels(images, 3, norm));
          t.diagnostic(`${inputSize} px, mean ${norm.mean.join('/')}: max |v rgb stem - v grey stem| ${diff.toExponential(2)} of max |v| ${scale.toExponential(2)}`);
          assert.ok(scale > 0 && diff <= 1e-4 * scale, `features differ by ${diff} (scale ${scale})`);
          assert.ok(diff > 0, 'the grey stem ran (its rounding differs)');
        }
        assert.equal(grey.info()?.greyStem, true);
        assert.equal(grey.info()?.greyStemBatches, 2);
        assert.equal(rgb.info()?.greyStem, false);
        // One pixel with G (or B) one level off: the whole batch takes the RGB stem, bit for bit. In the
        // middle image (the 32-pixel vector check) and the last pixel (the scalar tail).
        for (const byte of [images.length / 2 + 1, images.length - 1]) {
          const tinted = images.slice();
          tinted[byte] ^= 1;
          const a = rgb.runPixels(tinted, 3, norms[0]);
          const b = grey.runPixels(tinted, 3, norms[0]);
          assert.equal(b.filter((v, i) => v !== a[i]).length, 0, `byte ${byte} tinted: the same stem as greyStem: false`);
        }
        assert.equal(grey.info()?.greyStemBatches, 2, 'the tinted batches did not count');
      } finally {
        grey.release();
        rgb.release();
        encoder.dispose();
      }
    });
  }

  test('int8 grey batches at 112: the grey stem (fp32 on the grey levels) is no further from fp32 than the int8 RGB stem, and differs from it', async (t) => {
    await ensureTfBackend();
    const inputSize = 112;
    const norm = { mean: IMAGENET_MEAN, std: IMAGENET_STD };
    const encoder = createEncoder('resnet18', { seed: 43, inputSize });
    const calibration = calibrationOn(normalise(greyImages(8, inputSize, 7), norm), inputSize * inputSize * 3, 'seeded grey images');
    const fp32 = new OnednnEvaluator(encoder, { batchSize: 4, greyStem: false });
    const grey8 = new OnednnEvaluator(encoder, { batchSize: 4 });
    const rgb8 = new OnednnEvaluator(encoder, { batchSize: 4, greyStem: false });
    try {
      for (const ev of [fp32, grey8, rgb8]) await ev.load();
      await grey8.calibrate(calibration);
      await rgb8.calibrate(calibration);
      const images = greyImages(4, inputSize, 11);
      const reference = fp32.runPixels(images, 4, norm);
      const error = (v: Float32Array) => relativeError(v, reference);
      const a = rgb8.runPixels(images, 4, norm);
      const b = grey8.runPixels(images, 4, norm);
      t.diagnostic(`int8 relative error against fp32: RGB stem ${error(a).toExponential(2)}, grey stem ${error(b).toExponential(2)}`);
      assert.equal(grey8.info()?.greyStemBatches, 1);
      assert.ok(error(b) > 0 && error(b) < 0.05, `int8 with the grey stem is off fp32 by ${error(b)}`);
      assert.ok(error(b) <= 1.1 * error(a), `the grey stem (${error(b)}) is further from fp32 than the int8 RGB stem (${error(a)})`);
      assert.ok(a.some((v, i) => v !== b[i]), 'the two stems ran');
    } finally {
      fp32.release();
      grey8.release();
      rgb8.release();
      encoder.dispose();
    }
  });

  test('an instance for another batch size shares the Winograd weights, and keeps them when the first is released', async (t) => {
    await ensureTfBackend();
    const inputSize = 48;
    const spec = (batch: number) => ({ backbone: 'resnet18' as const, inputSize, batch });
    const encoder = createEncoder('resnet18', { seed: 13, inputSize });
    const other = createEncoder('resnet18', { seed: 14, inputSize });
    const first = OnednnInference.create(spec(4), { algorithm: 'auto' });
    const second = OnednnInference.create(spec(2), { algorithm: 'auto' }, first);
    const alone = OnednnInference.create(spec(2), { algorithm: 'auto' });
    try {
      const weights = await foldBatchNorms(encoder, alone.convs);
      const otherWeights = await foldBatchNorms(other, alone.convs);
      const winoConvs = alone.convs.filter((c) => c.k === 3 && c.stride === 1).length;
      t.diagnostic(`${second.info().winogradShared} of ${winoConvs} 3x3 stride-1 convolutions share their Winograd weights`);
      assert.equal(second.info().winogradShared, winoConvs);
      assert.equal(alone.info().winogradShared, 0);
      const x = seededNormal(2 * inputSize * inputSize * 3, 5);
      const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
      alone.setWeights(weights);
      const expected = alone.forward(x);
      second.setWeights(weights);
      assert.equal(maxDiff(second.forward(x), expected), 0, 'same weights, same kernels: the same features');
      // Other weights handed to the first reach the second's Winograd convolutions (shared), not its direct ones.
      first.setWeights(otherWeights);
      const mixed = maxDiff(second.forward(x), expected);
      t.diagnostic(`after the first instance took other weights: max |dv| ${mixed.toExponential(2)}`);
      assert.ok(mixed > 1e-3, 'the second instance computes with the weights written through the first');
      // skipShared (what OnednnEvaluator.load() passes after the first instance): the shared Winograd
      // weights are left as the first instance wrote them, the rest are written.
      second.setWeights(weights, true);
      assert.ok(maxDiff(second.forward(x), expected) > 1e-3, 'skipShared leaves the shared Winograd weights alone');
      first.setWeights(weights);
      assert.equal(maxDiff(second.forward(x), expected), 0, 'written through the first, then the rest skipped: the same features');
      second.setWeights(weights);
      first.release();
      assert.equal(maxDiff(second.forward(x), expected), 0, 'the shared weights outlive the first instance');
    } finally {
      second.release();
      alone.release();
      encoder.dispose();
      other.dispose();
    }
  });
});
