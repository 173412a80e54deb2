// Head-only retraining: feature cache (content hash keyed), identity start, records agreeing with the
// evaluators on the checkpoint it writes (compact: head folded into head.conv/head.bn and read by tfjs;
// resnet18: encoder.proj applied by the ONNX export), events, relabelled labels honoured.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Dataset } from '../../src/engine/data/index.js';
import { evaluateCheckpoint } from '../../src/engine/eval/checkpointEval.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { computeFeatures } from '../../src/engine/onnx/features.js';
import { evaluateCheckpointOnnx } from '../../src/engine/onnx/runtime.js';
import { trainHead } from '../../src/engine/train/quickRetrain.js';
import { readSafetensors } from '../../src/engine/util/safetensors.js';
import { makeCheckpoint, onnxFixture } from './onnx-helpers.js';

const fx = onnxFixture('kefer-head-', { synthSize: 32 });

async function readRecords(file: string): Promise<SampleRecord[]> {
  return (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SampleRecord);
}

function assertClose(got: SampleRecord[], want: SampleRecord[], tol: number, what: string): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    const w = want[i];
    assert.equal(g.id, w.id);
    assert.equal(g.label, w.label, `${what} ${w.id} label`);
    for (const k of ['simText', 'simNeutral', 'gap'] as const) assert.ok(Math.abs(g[k] - w[k]) <= tol, `${what} ${w.id} ${k}: ${g[k]} vs ${w[k]}`);
    assert.ok(Math.abs((g.align ?? 0) - (w.align ?? 0)) <= tol, `${what} ${w.id} align`);
    g.probs.forEach((p, k) => assert.ok(Math.abs(p - w.probs[k]) <= tol, `${what} ${w.id} probs[${k}]: ${p} vs ${w.probs[k]}`));
  });
}

test('feature cache: computed once, then served by content hash; an edited image is recomputed', async () => {
  const ck = path.join(fx.tmp, 'ck-cache');
  await makeCheckpoint(ck, 'compact', 32, fx.synth);
  const cacheDir = path.join(fx.tmp, 'cache');
  const a = await computeFeatures(ck, fx.synth, { cacheDir, providers: ['cpu'] });
  assert.deepEqual([a.hits, a.computed], [0, fx.synth.samples.length]);
  const b = await computeFeatures(ck, fx.synth, { cacheDir, providers: ['cpu'] });
  assert.deepEqual([b.hits, b.computed], [fx.synth.samples.length, 0]);
  assert.deepEqual(b.features, a.features);
  // Same bytes under another file name: still a hit. Changed bytes: recomputed.
  const s0 = fx.synth.samples[0], s1 = fx.synth.samples[1];
  await writeFile(path.join(fx.synth.root, s0.path), await readFile(path.join(fx.synth.root, s1.path)));
  const c = await computeFeatures(ck, fx.synth, { cacheDir, providers: ['cpu'] });
  assert.deepEqual([c.hits, c.computed], [fx.synth.samples.length, 0], 'sample 0 now has the bytes of sample 1, which are cached');
  assert.deepEqual(c.features.subarray(0, 512), a.features.subarray(512, 1024));
});

test('trainHead with lr 0 reproduces the base checkpoint\'s records (identity head, features path)', async () => {
  const ck = path.join(fx.tmp, 'ck-c');
  await makeCheckpoint(ck, 'compact', 32, fx.synth, 5);
  const r = await trainHead({ checkpoint: ck, dataset: fx.synth, out: path.join(fx.tmp, 'run0'), lr: 0, epochs: 1, batchSize: 8, providers: ['cpu'] });
  const base = await evaluateCheckpointOnnx(ck, fx.synth, { providers: ['cpu'] });
  assertClose(await readRecords(r.records), base.records, 1e-4, 'lr0');
});

for (const backbone of ['compact', 'resnet18'] as const) {
  test(`${backbone}: trainHead writes a checkpoint whose evaluation equals its records.jsonl; relabels and events honoured`, async () => {
    const ck = path.join(fx.tmp, `ck-${backbone}`);
    await makeCheckpoint(ck, backbone, 32, fx.synth, 9);
    // The caller's relabel overlay: move two training samples to another class.
    const relabelled: Dataset = { ...fx.synth, samples: fx.synth.samples.map((s, i) => (i < 2 ? { ...s, label: (s.label + 3) % 8 } : s)) };
    const events: EngineEvent[] = [];
    const out = path.join(fx.tmp, `run-${backbone}`);
    const r = await trainHead({ checkpoint: ck, dataset: relabelled, out, epochs: 5, batchSize: 4, lr: 1e-2, providers: ['cpu'], onEvent: (e) => events.push(e) });
    const types = events.map((e) => e.type).filter((t) => t !== 'log');
    assert.equal(types[0], 'start');
    assert.ok(types.includes('step') && types.includes('epoch'));
    assert.equal(types.at(-1), 'done');
    assert.ok(r.steps > 0);
    const recs = await readRecords(r.records);
    assert.equal(recs.length, fx.synth.samples.length);
    assert.deepEqual(recs.slice(0, 2).map((x) => x.label), relabelled.samples.slice(0, 2).map((s) => s.label));
    if (backbone === 'compact') {
      // (one backbone is enough for this; resnet18 evaluations are the slow part of this file)
      const base = await evaluateCheckpointOnnx(ck, relabelled, { providers: ['cpu'] });
      assert.ok(recs.some((x, i) => Math.abs(x.simText - base.records[i].simText) > 1e-3), 'training moved the embeddings');
    }

    const onnx = await evaluateCheckpointOnnx(r.checkpoint, relabelled, { providers: ['cpu'] });
    assertClose(onnx.records, recs, 1e-4, `${backbone} onnx`);
    const { tensors } = await readSafetensors(path.join(r.checkpoint, 'model.safetensors'));
    if (backbone === 'compact') {
      // The head is folded into head.conv/head.bn: the unchanged tfjs loader reads the same model.
      assert.ok(!tensors.has('encoder.proj.weight'));
      assertClose((await evaluateCheckpoint(r.checkpoint, relabelled)).records, recs, 1e-4, 'compact tfjs');
    } else {
      assert.deepEqual(tensors.get('encoder.proj.weight')?.shape, [512, 512]);
      const cfg = JSON.parse(await readFile(path.join(r.checkpoint, 'config.json'), 'utf8')) as { encoderProjection?: boolean };
      assert.equal(cfg.encoderProjection, true);
    }
  });
}

test('resnet18: retraining a head-retrained checkpoint keeps its projection (the features already include it)', async () => {
  const ck = path.join(fx.tmp, 'ck-resnet18');
  if (!(await readFile(path.join(ck, 'config.json'), 'utf8').catch(() => ''))) await makeCheckpoint(ck, 'resnet18', 32, fx.synth, 9);
  const first = await trainHead({ checkpoint: ck, dataset: fx.synth, out: path.join(fx.tmp, 'chain-1'), epochs: 3, batchSize: 4, lr: 1e-2, providers: ['cpu'] });
  // lr 0 from the first retrain's checkpoint: the head stays the identity on top of the first projection,
  // so the second checkpoint must be the same model (it would lose the projection if only the new head were stored).
  const second = await trainHead({ checkpoint: first.checkpoint, dataset: fx.synth, out: path.join(fx.tmp, 'chain-2'), epochs: 1, batchSize: 8, lr: 0, providers: ['cpu'] });
  assertClose(await readRecords(second.records), await readRecords(first.records), 1e-4, 'chain records');
  const onnx = await evaluateCheckpointOnnx(second.checkpoint, fx.synth, { providers: ['cpu'] });
  assertClose(onnx.records, await readRecords(second.records), 1e-4, 'chain onnx');
});
