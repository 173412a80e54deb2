// WebGPU end to end (issue #5): the real trainer (`train()`) runs on WebGPU, is cancelled after two
// steps, resumes from checkpoints/last, finishes and writes its validation records; the checkpoint it
// selected then loads on wasm and predicts what the WebGPU run recorded. The head retrainer
// (`trainHead`, i.e. `kefer train --mode head`) runs on WebGPU too: ONNX export of the base checkpoint
// from WebGPU tensors, head + F_n training, re-scoring, and a checkpoint wasm evaluates to its records.
// Every read on these paths is `await data()`: a synchronous read throws on WebGPU in Node.
// Skips (visibly, with the reason) where initBackend('webgpu') finds no usable adapter: the normal
// case in CI. On a CPU machine it runs on Mesa lavapipe with KEFER_WEBGPU_ALLOW_SOFTWARE=1
// (bench/README.md, "## WebGPU").
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend } from '../../src/engine/backend/index.js';
import { generateSyntheticDataset, loadDataset } from '../../src/engine/data/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { evaluateCheckpoint } from '../../src/engine/eval/checkpointEval.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { trainHead } from '../../src/engine/train/quickRetrain.js';
import { DEFAULT_TRAIN_CONFIG, train, type TrainConfig } from '../../src/engine/train/trainer.js';
import { makeCheckpoint } from './onnx-helpers.js';

/** Why WebGPU cannot be used here, or null when it can. Leaves wasm active. */
async function webgpuUnavailable(): Promise<string | null> {
  try {
    await initBackend('webgpu');
    return null;
  } catch (err) {
    return `no usable WebGPU adapter: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    await initBackend('wasm');
  }
}

async function readRecords(file: string): Promise<SampleRecord[]> {
  return (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SampleRecord);
}

/*
 * The same float32 model on two backends differs by reduction order only (webgpu.test.ts: ~1e-6
 * relative on activations). With logit scale 100 that is ~1e-4 on a logit and less on a probability,
 * so 2e-3 on probabilities and embedding similarities is far above rounding and far below any real
 * difference (a wrong layer moves them by O(0.1)). A prediction may differ only where the top two
 * probabilities are within that tolerance of each other.
 */
const TOL = 2e-3;

function assertSamePredictions(got: SampleRecord[], want: SampleRecord[], what: string): void {
  assert.equal(got.length, want.length, `${what}: record count`);
  const byId = new Map(want.map((r) => [r.id, r]));
  for (const g of got) {
    const w = byId.get(g.id);
    assert.ok(w, `${what}: ${g.id} recorded on both`);
    assert.equal(g.label, w.label, `${what}: ${g.id} label`);
    const top2 = [...w.probs].sort((a, b) => b - a);
    if (top2[0] - top2[1] > TOL) assert.equal(g.pred, w.pred, `${what}: ${g.id} prediction`);
    g.probs.forEach((p, k) => assert.ok(Math.abs(p - w.probs[k]) <= TOL, `${what}: ${g.id} probs[${k}] ${p} vs ${w.probs[k]}`));
    for (const k of ['simText', 'simNeutral', 'gap'] as const) assert.ok(Math.abs(g[k] - w[k]) <= TOL, `${what}: ${g.id} ${k} ${g[k]} vs ${w[k]}`);
  }
}

describe('WebGPU end to end: trainer, checkpoints, resume, evaluation, head retrain', () => {
  let work = '';
  let trainSet: Dataset;
  let valSet: Dataset;
  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'kefer-webgpu-train-'));
    await generateSyntheticDataset(path.join(work, 'data'), { perClass: 4, classes: 7, seed: 3, size: 16 });
    trainSet = await loadDataset(`synthetic:${path.join(work, 'data')}#train`);
    valSet = await loadDataset(`synthetic:${path.join(work, 'data')}#valid`);
  });
  after(async () => {
    await initBackend('wasm');
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('train() on WebGPU: cancel, resume, checkpoint; the checkpoint predicts the same on wasm', async (t) => {
    const why = await webgpuUnavailable();
    if (why) {
      t.skip(why);
      return;
    }
    const backend = await initBackend('webgpu');
    const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, backbone: 'compact', inputSize: 16, epochs: 2, batchSize: 8, lr: 0.01, warmupEpochs: 0, seed: 11 };
    const text = standinTextEmbeddings(trainSet.classes, trainSet.classes);
    const outDir = path.join(work, 'run');
    const base = { train: trainSet, val: valSet, valDescription: 'valid', text, backend, outDir };
    const stepsPerEpoch = Math.floor(trainSet.samples.length / cfg.batchSize);
    assert.ok(stepsPerEpoch >= 3, 'the cancel below lands inside the first epoch');

    const controller = new AbortController();
    const first = await train(cfg, { ...base, signal: controller.signal, onEvent: (e) => { if (e.type === 'step' && e.step === 2) controller.abort(); } });
    assert.equal(first.cancelled, true);
    const state = JSON.parse(await readFile(path.join(outDir, 'checkpoints/last/state.json'), 'utf8')) as { globalStep: number };
    assert.equal(state.globalStep, 2, 'checkpoints/last written at the cancel');

    const events: EngineEvent[] = [];
    const second = await train(cfg, { ...base, resume: true, diagnose: 'val', onEvent: (e) => events.push(e) });
    assert.equal(second.cancelled, false);
    assert.ok(events.some((e) => e.type === 'log' && /resumed from .* step 2/.test(e.message)), 'resumed, not restarted');
    const steps = events.filter((e): e is Extract<EngineEvent, { type: 'step' }> => e.type === 'step');
    assert.deepEqual(steps.map((e) => e.step), Array.from({ length: 2 * stepsPerEpoch - 2 }, (_, i) => i + 3));
    assert.ok(steps.every((e) => Number.isFinite(e.loss) && e.ls > 0), 'finite losses');
    assert.equal(second.history.length, 2);
    assert.ok(second.history.every((h) => h.valAccuracy !== null), 'validation evaluated on WebGPU every epoch');
    const run = JSON.parse(await readFile(path.join(outDir, 'run.json'), 'utf8')) as { backend: { name: string }; steps: number; status: string };
    assert.deepEqual([run.backend.name, run.steps, run.status], ['webgpu', 2 * stepsPerEpoch, 'done']);

    // The run's own records (evaluated on WebGPU from checkpoints/best) against wasm on the same checkpoint.
    const gpuRecords = await readRecords(path.join(outDir, 'records.jsonl'));
    assert.equal(gpuRecords.length, valSet.samples.length);
    await initBackend('wasm');
    const onWasm = await evaluateCheckpoint(second.bestCheckpoint, valSet);
    t.diagnostic(`${backend.detail}; ${2 * stepsPerEpoch} steps; val WAR WebGPU ${second.valEval?.summary.accuracy.toFixed(3)} wasm ${onWasm.summary.accuracy.toFixed(3)}`);
    assertSamePredictions(onWasm.records, gpuRecords, 'wasm vs WebGPU');
  });

  it('trainHead on WebGPU: export, head training, re-score; its checkpoint evaluates on wasm to its records', async (t) => {
    const why = await webgpuUnavailable();
    if (why) {
      t.skip(why);
      return;
    }
    const ds = await loadDataset(`synthetic:${path.join(work, 'data')}`);
    const ck = path.join(work, 'head-base');
    await makeCheckpoint(ck, 'compact', 16, ds, 5); // on wasm; classes: the 8-class list, matched by name
    await initBackend('webgpu');
    const events: EngineEvent[] = [];
    // The ONNX export for the features runs on WebGPU tensors here (the checkpoint is loaded on the active backend).
    const r = await trainHead({ checkpoint: ck, dataset: ds, out: path.join(work, 'head-run'), epochs: 3, batchSize: 8, lr: 1e-2, providers: ['cpu'], cacheDir: path.join(work, 'cache'), onEvent: (e) => events.push(e) });
    const start = events.find((e) => e.type === 'start');
    assert.equal(start?.type === 'start' && start.backend.name, 'webgpu', 'head trained on WebGPU');
    assert.ok(r.steps > 0 && events.some((e) => e.type === 'step'));
    const recs = await readRecords(r.records);
    assert.equal(recs.length, ds.samples.length);

    await initBackend('wasm');
    const base = await evaluateCheckpoint(ck, ds);
    assert.ok(recs.some((x, i) => Math.abs(x.simText - base.records[i].simText) > 1e-2), 'head training moved the embeddings');
    // compact: the head is folded into head.conv / head.bn, so the plain tfjs loader reads the new model.
    assertSamePredictions((await evaluateCheckpoint(r.checkpoint, ds)).records, recs, 'wasm vs head retrain records');
  });
});
