// ONNX export + onnxruntime evaluation against the tfjs engine (eval mode), on real FERPlus images (when the
// shared data is present) and generated faces, for both backbones, with non-trivial BN running statistics.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { createImageCache, type Dataset } from '../../src/engine/data/index.js';
import { evaluate } from '../../src/engine/eval/evaluate.js';
import { evaluateCheckpoint } from '../../src/engine/eval/checkpointEval.js';
import { cosineLogits, l2normalize } from '../../src/engine/losses.js';
import type { BackboneName } from '../../src/engine/model/index.js';
import { exportCheckpointOnnx, META_CHECKPOINT_SHA, ONNX_FILE } from '../../src/engine/onnx/export.js';
import { RecordBuilder } from '../../src/engine/eval/records.js';
import { createOnnxSession, defaultRuntime, ensureOnnxExport, evaluateCheckpointOnnx, providersFromEnv, readOnnxMetadata, runBatch } from '../../src/engine/onnx/runtime.js';
import { normaliseInto } from '../../src/engine/data/augment.js';
import { loadCheckpoint } from '../../src/engine/model/checkpoint.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { FERPLUS, HAVE_FERPLUS, makeCheckpoint, onnxFixture } from './onnx-helpers.js';

const fx = onnxFixture('kefer-onnx-', { realImages: 16 });

/** Normalised NHWC batch of the whole dataset at `size`. */
async function batchOf(ds: Dataset, size: number, mean: [number, number, number], std: [number, number, number]): Promise<Float32Array> {
  const per = size * size * 3;
  const raw = await createImageCache(ds, size).getBatch(ds.samples.map((_, i) => i));
  const x = new Float32Array(ds.samples.length * per);
  for (let i = 0; i < ds.samples.length; i++) normaliseInto(raw.subarray(i * per, (i + 1) * per), size, { mean, std }, x, i * per);
  return x;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  assert.equal(a.length, b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

function assertRecordsClose(got: SampleRecord[], want: SampleRecord[], tol: number, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    assert.deepEqual([g.id, g.path, g.split, g.label], [w.id, w.path, w.split, w.label], `${what}: record ${i} identity`);
    assert.equal(g.pred, w.pred, `${what}: record ${i} (${w.id}) pred`);
    assert.equal(g.align === null, w.align === null, `${what}: record ${i} align nullness`);
    const pairs: [number, number, string][] = [[g.simText, w.simText, 'simText'], [g.simNeutral, w.simNeutral, 'simNeutral'], [g.gap, w.gap, 'gap'], [g.align ?? 0, w.align ?? 0, 'align'], ...g.probs.map((p, k): [number, number, string] => [p, w.probs[k], `probs[${k}]`])];
    for (const [a, b, name] of pairs) assert.ok(Math.abs(a - b) <= tol, `${what}: record ${i} (${w.id}) ${name}: ${a} vs ${b}`);
  }
}

const CASES: { backbone: BackboneName; size: number }[] = [
  { backbone: 'compact', size: 48 },
  { backbone: 'resnet18', size: 64 },
];

for (const { backbone, size } of CASES) {
  test(`${backbone}@${size}: onnxruntime logits, v, n equal tfjs (eval mode) to 1e-4 on real and synthetic images`, async (t) => {
    const dir = path.join(fx.tmp, `ck-${backbone}`);
    await makeCheckpoint(dir, backbone, size, fx.real ?? fx.synth);
    const res = await exportCheckpointOnnx(dir);
    assert.equal(res.file, path.join(dir, ONNX_FILE));
    assert.equal(await readOnnxMetadata(res.file, META_CHECKPOINT_SHA), res.checkpointSha256);
    const model = await loadCheckpoint(dir);
    const { session } = await createOnnxSession(res.file, { providers: ['cpu'] });
    const K = model.config.classes.length;
    const sets: [string, Dataset][] = [['synthetic', fx.synth]];
    if (fx.real) sets.push([`FERPlus (${FERPLUS})`, fx.real]);
    else t.diagnostic(`FERPlus not found at ${FERPLUS} (set KEFER_SHARED_DATA): real-image check SKIPPED, synthetic only`);
    try {
      for (const [name, ds] of sets) {
        const x = await batchOf(ds, size, model.config.mean, model.config.std);
        const B = ds.samples.length;
        const ref = tf.tidy(() => {
          const v = model.encoder.apply(tf.tensor4d(x, [B, size, size, 3]), false);
          const n = model.transform.apply(v);
          const textNorm = l2normalize(tf.tensor2d(model.textEmbeddings, [K, 512]));
          return { logits: cosineLogits(v, textNorm, model.config.logitScale).dataSync() as Float32Array, v: v.dataSync() as Float32Array, n: n.dataSync() as Float32Array };
        });
        const got = await runBatch(session, x, B, size);
        for (const key of ['logits', 'v', 'n'] as const) {
          const { diff, scale } = maxAbsDiff(got[key], ref[key]);
          t.diagnostic(`${name} ${key}: max |onnx - tfjs| ${diff.toExponential(2)} (max |tfjs| ${scale.toFixed(3)}), ${B} images`);
          // 1e-4 absolute, relative to the output's scale where that exceeds 1 (logits reach 100).
          assert.ok(diff <= 1e-4 * Math.max(1, scale), `${name} ${key}: max diff ${diff} > 1e-4 x ${Math.max(1, scale)}`);
        }
        // Non-trivial inputs: the images differ, so must the embeddings.
        assert.ok(maxAbsDiff(ref.v.subarray(0, 512), ref.v.subarray(512, 1024)).diff > 1e-3);
      }
    } finally {
      await session.release();
      model.dispose();
    }
  });
}

test('evaluateCheckpointOnnx gives evaluateCheckpoint records and summary (compact, real + synthetic)', async () => {
  const dir = path.join(fx.tmp, 'ck-compact');
  assert.ok(existsSync(dir), 'the compact parity test made this checkpoint');
  for (const ds of fx.real ? [fx.synth, fx.real] : [fx.synth]) {
    const want = await evaluateCheckpoint(dir, ds, { batchSize: 7 });
    const progress: number[] = [];
    const got = await evaluateCheckpointOnnx(dir, ds, { batchSize: 5, providers: ['cpu'], onProgress: (d) => progress.push(d) });
    assert.equal(got.provider, 'cpu');
    assert.equal(progress.at(-1), ds.samples.length);
    assertRecordsClose(got.records, want.records, 1e-4, ds.format);
    assert.deepEqual(got.summary.confusion, want.summary.confusion);
    assert.equal(got.summary.accuracy, want.summary.accuracy);
    for (const k of ['ls', 'lt', 'lcPerSample'] as const) assert.ok(Math.abs(got.summary.losses[k] - want.summary.losses[k]) < 1e-3, `loss ${k}`);
  }
});

test('RecordBuilder reproduces evaluate() from the same (logits, v, n) arrays', async () => {
  const model = await loadCheckpoint(path.join(fx.tmp, 'ck-compact'));
  try {
    const K = model.config.classes.length;
    const size = model.config.inputSize;
    const textNorm = tf.tidy(() => l2normalize(tf.tensor2d(model.textEmbeddings, [K, 512])));
    const want = await evaluate(
      { encoder: model.encoder, transform: model.transform, textNorm, neutralIndex: model.config.neutralIndex, logitScale: model.config.logitScale, norm: model.config, classes: model.config.classes },
      fx.synth, createImageCache(fx.synth, size), { keepEmbeddings: true },
    );
    const x = await batchOf(fx.synth, size, model.config.mean, model.config.std);
    const B = fx.synth.samples.length;
    const arr = tf.tidy(() => {
      const v = model.encoder.apply(tf.tensor4d(x, [B, size, size, 3]), false);
      return [cosineLogits(v, textNorm, model.config.logitScale), v, model.transform.apply(v)].map((a) => a.dataSync() as Float32Array);
    });
    textNorm.dispose();
    const b = new RecordBuilder({ classes: model.config.classes, neutralIndex: model.config.neutralIndex, textEmbeddings: model.textEmbeddings, featureDim: 512, keepEmbeddings: true, total: B });
    // Two uneven batches, to exercise positions.
    const cut = 5;
    const idx = fx.synth.samples.map((_, i) => i);
    const sl = (a: Float32Array, w: number, lo: number, hi: number) => a.subarray(lo * w, hi * w);
    for (const [lo, hi] of [[0, cut], [cut, B]]) b.add(fx.synth.samples.slice(lo, hi), fx.synth.samples.slice(lo, hi).map((s) => s.label), idx.slice(lo, hi), sl(arr[0], K, lo, hi), sl(arr[1], 512, lo, hi), sl(arr[2], 512, lo, hi));
    const got = b.finish();
    // Same float32 inputs: only float64-vs-float32 rounding of the 6-decimal records remains.
    assertRecordsClose(got.records, want.records, 3e-6, 'builder');
    assert.deepEqual(got.summary.confusion, want.summary.confusion);
    for (const k of ['ls', 'lt', 'lcPerSample'] as const) assert.ok(Math.abs(got.summary.losses[k] - want.summary.losses[k]) < 1e-4, `loss ${k}`);
    assert.ok(maxAbsDiff(got.embeddings!, want.embeddings!).diff < 1e-6);
  } finally {
    model.dispose();
  }
});

test('ensureOnnxExport re-exports a stale model.onnx; defaultRuntime follows model.onnx; provider list parsing', async () => {
  const dir = path.join(fx.tmp, 'ck-stale');
  await makeCheckpoint(dir, 'compact', 32, fx.synth, 11);
  assert.equal(defaultRuntime(dir), 'tfjs');
  const first = await ensureOnnxExport(dir);
  assert.equal(first.exported, true);
  assert.equal(defaultRuntime(dir), 'onnx');
  assert.equal((await ensureOnnxExport(dir)).exported, false);
  await makeCheckpoint(dir, 'compact', 32, fx.synth, 12); // new weights, same directory
  const again = await ensureOnnxExport(dir);
  assert.equal(again.exported, true);
  assert.notEqual(again.checkpointSha256, first.checkpointSha256);
  assert.deepEqual(providersFromEnv({}), ['cuda', 'webgpu', 'cpu']);
  assert.deepEqual(providersFromEnv({ KEFER_ORT_PROVIDERS: 'cpu' }), ['cpu']);
  assert.throws(() => providersFromEnv({ KEFER_ORT_PROVIDERS: 'tpu' }), /unknown provider 'tpu'/);
  await assert.rejects(createOnnxSession(first.file, { providers: [] }), /no execution provider worked/);
});

test('real FERPlus data present', (t) => {
  if (!HAVE_FERPLUS) t.skip(`FERPlus not found at ${FERPLUS} (set KEFER_SHARED_DATA): parity ran on synthetic images only`);
  else assert.ok(fx.real && fx.real.samples.length > 0);
});
