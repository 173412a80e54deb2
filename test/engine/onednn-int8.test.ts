// int8 and Winograd inference on the oneDNN addon (runtimes/onednn/inference.ts, native/dnnl_encoder.cc
// Inference): scales calibrated from the fp32 encoder's own activations, integer kernels chosen (never
// oneDNN's reference ones), outputs close to fp32 on real FERPlus images but not equal to them (so int8
// really ran), a short calibration batch, no calibration images, the ISA's weight range, Winograd within
// 1e-4 of direct, and `kefer eval --precision int8` choosing onednn, reporting its calibration and keeping
// its activation scales beside the checkpoint for the next call. Decoded pixels handed to the addon
// (forwardPixels, what evaluation runs) give the same features, bit for bit, as the JS-normalised floats.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { calibrationBatches, evalBatches } from '../../src/engine/data/batches.js';
import { createImageCache } from '../../src/engine/data/decode.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { evaluateCheckpoint } from '../../src/engine/eval/checkpointEval.js';
import type { EvalResult } from '../../src/engine/eval/evaluate.js';
import { loadCheckpoint } from '../../src/engine/model/checkpoint.js';
import { inferenceSpec } from '../../src/engine/runtimes/encoderGraph.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import { OnednnEvaluator, OnednnInference, weightLevels, type InferenceAlgorithm } from '../../src/engine/runtimes/onednn/inference.js';
import { createEvalEncoder } from '../../src/engine/runtimes/registry.js';
import { ONEDNN_INT8_FILE, readInt8Scales } from '../../src/engine/runtimes/onednn/int8Cache.js';
import { FERPLUS, makeCheckpoint, onnxFixture } from './onnx-helpers.js';

const fx = onnxFixture('kefer-onednn-int8-', { realImages: 64 });
const { addon, why } = loadOnednn();
const skip = addon ? false : `the oneDNN addon cannot run here: ${why}`;
if (skip) console.log(`# SKIP oneDNN int8 / Winograd inference: ${skip}`);
const SIZE = 48;

const calibrationOf = (ds: Dataset, images: number) =>
  calibrationBatches(ds, (sub) => createImageCache(sub, SIZE, { maxBytes: 0 }), { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }, { images, seed: 29, what: 'test images' });

function compare(a: EvalResult, b: EvalResult) {
  let agree = 0;
  let gap = 0;
  let dv = 0;
  let minCos = 1;
  const D = a.embeddings!.length / a.records.length;
  for (let i = 0; i < a.records.length; i++) {
    if (a.records[i].pred === b.records[i].pred) agree++;
    gap = Math.max(gap, Math.abs(a.records[i].gap - b.records[i].gap));
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let j = i * D; j < (i + 1) * D; j++) {
      const x = a.embeddings![j];
      const y = b.embeddings![j];
      dv = Math.max(dv, Math.abs(x - y));
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    minCos = Math.min(minCos, dot / Math.sqrt(na * nb));
  }
  return { agree, gap, dv, minCos, n: a.records.length };
}

describe('oneDNN inference: int8 and Winograd', { skip }, () => {
  const dir = () => path.join(fx.tmp, 'ck-resnet18');
  const images = () => fx.real ?? fx.synth;
  const run = (opts: { int8?: ReturnType<typeof calibrationOf>; algorithm?: InferenceAlgorithm }) =>
    evaluateCheckpoint(dir(), images(), { keepEmbeddings: true, runtimeEncoder: (enc) => createEvalEncoder('onednn', enc, { batchSize: 16, ...opts }) });

  test('int8: integer kernels, calibrated ranges, close to fp32 on real images and not equal to it', async (t) => {
    if (!fx.real) t.diagnostic(`FERPlus not found at ${FERPLUS} (set KEFER_SHARED_DATA): calibrating and comparing on synthetic faces only`);
    await makeCheckpoint(dir(), 'resnet18', SIZE, images());
    const fp32 = await run({ algorithm: 'direct' });
    const int8 = await run({ int8: calibrationOf(images(), 32) });
    const c = compare(fp32, int8);
    t.diagnostic(`${c.n} images: top-1 agreement ${c.agree}/${c.n}, max |gap diff| ${c.gap.toFixed(4)}, smallest cos(v fp32, v int8) ${c.minCos.toFixed(5)}, max |dv| ${c.dv.toExponential(2)}`);
    assert.ok(c.dv > 1e-4, 'int8 outputs differ from fp32 (the quantized path ran)');
    assert.ok(c.minCos > 0.99, `every sample's features keep their direction (cos ${c.minCos})`);
    // Random weights and class embeddings make near-ties common (a trained model agrees on ~99%, bench/README.md).
    assert.ok(c.agree >= 0.8 * c.n, `top-1 agreement ${c.agree}/${c.n}`);
    assert.ok(c.gap < 0.05, `gap error ${c.gap}`);

    // What the addon built: int8 primitives from oneDNN's JIT kernels, never its reference loops.
    const model = await loadCheckpoint(dir());
    const ev = new OnednnEvaluator(model.encoder, { batchSize: 16 });
    try {
      await ev.load();
      const scales = await ev.calibrate(calibrationOf(images(), 32));
      const ops = inferenceSpec({ backbone: 'resnet18', inputSize: SIZE, batch: 16 }).ops;
      assert.equal(scales.out.length, ops.length);
      ops.forEach((op, i) => assert.ok(op.kind !== 'conv' || (Number.isFinite(scales.out[i]) && scales.out[i] > 0), `op ${i} has a scale`));
      assert.ok(scales.input > 0 && scales.weights.size === ops.filter((o) => o.kind === 'conv').length);
      const inst = OnednnInference.create({ backbone: 'resnet18', inputSize: SIZE, batch: 16 }, { int8: scales });
      const info = inst.info();
      inst.release();
      t.diagnostic(`int8 convolutions: ${info.convolution} (${info.isa})`);
      assert.equal(info.precision, 'int8');
      assert.doesNotMatch(info.convolution, /ref/);
      assert.match(info.convolution, /int8|vnni|brgconv/);
    } finally {
      ev.release();
      model.dispose();
    }
  });

  test('int8 calibration: a short batch counts only its own images; none at all is an error', async () => {
    const model = await loadCheckpoint(dir());
    const ev = new OnednnEvaluator(model.encoder, { batchSize: 16 });
    try {
      await ev.load();
      const scales = await ev.calibrate(calibrationOf(images(), 20));
      assert.match(scales.what, /^20 images of test images/);
      const empty: Dataset = { ...images(), samples: [] };
      await assert.rejects(ev.calibrate(calibrationOf(empty, 32)), /no calibration images \(test images\)/);
      await assert.rejects(new OnednnEvaluator(model.encoder, { batchSize: 16 }).calibrate(calibrationOf(images(), 8)), /load\(\) the weights before calibrating/);
    } finally {
      ev.release();
      model.dispose();
    }
  });

  test('int8 runs only on onednn; 8-bit weights only where the CPU has VNNI', async () => {
    const model = await loadCheckpoint(dir());
    try {
      await assert.rejects(createEvalEncoder('tfjs', model.encoder, { int8: calibrationOf(images(), 8) }), /int8 inference runs on onednn .* not on tfjs/);
    } finally {
      model.dispose();
    }
    assert.equal(weightLevels('avx2'), 63);
    assert.equal(weightLevels('avx512_core'), 63);
    assert.equal(weightLevels('avx512_core_vnni'), 127);
    assert.equal(weightLevels('avx512_core_bf16'), 127);
    assert.equal(weightLevels('avx2_vnni'), 127);
  });

  test("Winograd ('auto', the default) equals direct per sample to 1e-4, and is used where oneDNN has it", async (t) => {
    const direct = await run({ algorithm: 'direct' });
    const wino = await run({ algorithm: 'auto' });
    let worst = 0;
    for (let i = 0; i < direct.records.length; i++) {
      const a = direct.records[i];
      const b = wino.records[i];
      worst = Math.max(worst, Math.abs(a.gap - b.gap), ...a.probs.map((p, k) => Math.abs(p - b.probs[k])));
    }
    const c = compare(direct, wino);
    t.diagnostic(`max |d prob or gap| ${worst.toExponential(2)}, max |dv| ${c.dv.toExponential(2)}`);
    assert.ok(worst < 1e-4, `per-sample outputs differ by ${worst}`);
    const inst = OnednnInference.create({ backbone: 'resnet18', inputSize: SIZE, batch: 16 }, { algorithm: 'auto' });
    const info = inst.info();
    inst.release();
    t.diagnostic(`fp32 convolutions with 'auto': ${info.convolution} (${info.isa})`);
    // oneDNN's Winograd on AVX-512, ours (native/wino_avx2.h) under an AVX2 cap or on an AVX2 CPU.
    if (info.isa.startsWith('avx512')) assert.match(info.convolution, /wino/);
    else if (info.isa.startsWith('avx2')) assert.match(info.convolution, /wino_4x3:avx2 \(kefer\)/);
    else assert.doesNotMatch(info.convolution, /wino|ref/);
  });

  test('decoded pixels normalised by the addon give the features of the JS-normalised floats, fp32 and int8, bit for bit', async (t) => {
    const ck = await loadCheckpoint(dir());
    const norm = { mean: ck.config.mean, std: ck.config.std };
    const ds = images();
    const batches: { x: Float32Array; raw: Uint8Array; n: number }[] = [];
    // 16, then 5 (an instance of its own), then 3 (a third size: padded into the full batch).
    for (const [start, n] of [[0, 16], [16, 5], [21, 3]]) {
      const sub = { ...ds, samples: ds.samples.slice(start, start + n) };
      for await (const b of evalBatches(sub, createImageCache(sub, SIZE, { maxBytes: 0 }), norm, 16)) batches.push({ x: b.x, raw: b.raw, n: b.indices.length });
    }
    try {
      for (const int8 of [false, true]) {
        // The RGB stem: on AVX2 a grey batch would take the grey stem, which the float path has not
        // (onednn-wino-avx2.test.ts holds it to the RGB stem's features).
        const ev = new OnednnEvaluator(ck.encoder, { batchSize: 16, greyStem: false });
        try {
          await ev.load();
          if (int8) await ev.calibrate(calibrationOf(ds, 32));
          for (const b of batches) {
            const fromFloats = ev.run(b.x, b.n);
            const fromPixels = ev.runPixels(b.raw, b.n, norm);
            assert.equal(fromPixels.length, fromFloats.length);
            const differ = fromFloats.filter((v, i) => v !== fromPixels[i]).length;
            assert.equal(differ, 0, `${int8 ? 'int8' : 'fp32'}, batch of ${b.n}: ${differ} of ${fromFloats.length} features differ`);
            assert.ok(fromFloats.some((v) => v !== 0));
          }
          // Other normalisation constants reach the addon (the table is built from them, not fixed).
          const shifted = ev.runPixels(batches[0].raw, 16, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
          const plain = ev.run(batches[0].x, 16);
          assert.ok(shifted.some((v, i) => v !== plain[i]), 'the mean and std are used');
          assert.throws(() => ev.runPixels(batches[0].raw.subarray(0, 100), 16, norm), /got 100 pixel values, built for/);
        } finally {
          ev.release();
        }
      }
      t.diagnostic(`${batches.map((b) => b.n).join(' + ')} images (${fx.real ? 'FERPlus' : 'synthetic'}), fp32 and int8: identical`);
    } finally {
      ck.dispose();
    }
  });

  test('kefer eval --precision int8 runs on onednn and reports its calibration', (t) => {
    if (!fx.real) return t.skip(`FERPlus not found at ${FERPLUS} (set KEFER_SHARED_DATA)`);
    const bin = path.resolve(__dirname, '../../bin/kefer.js');
    const spec = `ferplus:${FERPLUS}#test`;
    const args = ['eval', '--checkpoint', dir(), '--data', spec, '--precision', 'int8', '--json', '--leaks', 'none', '--batch', '16'];
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 600_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runtime: string; precision: string; calibration: { images: number; seed: number; data: string }; n: number };
    assert.equal(out.runtime, 'onednn');
    assert.equal(out.precision, 'int8');
    assert.deepEqual([out.calibration.images, out.calibration.seed], [256, 29]);
    assert.match(out.calibration.data, /ferplus/);
    const bad = spawnSync(process.execPath, [bin, 'eval', '--checkpoint', dir(), '--data', spec, '--precision', 'int8', '--runtime', 'cuda'], { encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' } });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--precision int8 runs on onednn or onnx: drop --runtime cuda/);
  });

  test('kefer eval --precision int8 keeps its activation scales beside the checkpoint, and calibrates again when they do not match', async () => {
    const bin = path.resolve(__dirname, '../../bin/kefer.js');
    const spec = `synthetic:${path.join(fx.tmp, 'synth')}`;
    const evalInt8 = (...extra: string[]) => {
      const r = spawnSync(process.execPath, [bin, 'eval', '--checkpoint', dir(), '--data', spec, '--precision', 'int8', '--leaks', 'none', '--runtime', 'onednn', ...extra], { encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 300_000 });
      assert.equal(r.status, 0, r.stderr);
      return { err: r.stderr, out: r.stdout, summary: r.stdout.slice(r.stdout.search(/^n \d+ /m)) };
    };
    const file = path.join(dir(), ONEDNN_INT8_FILE);
    const first = evalInt8();
    const m = /int8: calibrating on (\d+) images of \S*synth\S* \((no onednn\.int8\.json yet|.*calibrated on other images.*)\)/.exec(first.err);
    assert.ok(m, first.err);
    const n = Number(m[1]);
    const stored = JSON.parse(await readFile(file, 'utf8')) as { format: string; checkpointSha256: string; calibration: { images: number; seed: number }; scales: { input: number; out: number[] } };
    assert.equal(stored.format, 'kefer-onednn-int8');
    assert.deepEqual([stored.calibration.images, stored.calibration.seed], [n, 29]);
    assert.equal(stored.scales.out.length, inferenceSpec({ backbone: 'resnet18', inputSize: SIZE, batch: 1 }).ops.length);

    const second = evalInt8();
    assert.match(second.err, new RegExp(`int8: activation scales from .*onednn\\.int8\\.json \\(calibrated earlier on the same ${n} images\\)`));
    assert.equal(second.summary, first.summary, 'the kept scales give the same results as calibrating');

    // Other bytes, other images, a damaged file: each calibrates again and says why.
    assert.match((await readInt8Scales(dir(), '0'.repeat(64), { data: 'x', images: 8, seed: 29 })).why, /made from other checkpoint bytes/);
    const other = evalInt8('--calibrate', `ferplus:${FERPLUS}#test`);
    if (fx.real) assert.match(other.err, new RegExp(`int8: calibrating on 256 images of \\S*ferplus\\S* \\(.*calibrated on other images \\(${n} of `));
    // Right checkpoint and images, but a convolution's scale of 0 (a hand-edited file): calibrated again and replaced.
    await writeFile(file, JSON.stringify({ ...stored, scales: { ...stored.scales, out: [0, ...stored.scales.out.slice(1)] } }));
    const zeroed = evalInt8();
    assert.equal(zeroed.summary, first.summary);
    assert.match(zeroed.out, /runtime: onednn .*calibrated on \d+ images of/, 'the encoder says it was calibrated now');
    assert.ok((JSON.parse(await readFile(file, 'utf8')) as typeof stored).scales.out[0] > 0, 'replaced by a fresh calibration');
    await writeFile(file, '{"format": "kefer-onednn-int8", "version": 1, "scales": {"input": "x"}}');
    const damaged = evalInt8();
    assert.match(damaged.err, /onednn\.int8\.json is not a kefer-onednn-int8 file/);
    assert.equal(damaged.summary, first.summary);
    assert.equal((JSON.parse(await readFile(file, 'utf8')) as { format: string }).format, 'kefer-onednn-int8', 'rewritten after calibrating');
  });
});
