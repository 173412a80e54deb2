// Data-parallel training (src/engine/runtimes/tfjs/parallel.ts): the averaged gradient of 2 replicas equals
// the single-thread gradient of the same shard split, replicas stay bit-identical, and a 2-worker
// training run is reproducible.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend/index.js';
import { parseTrainConfig } from '../../src/engine/cli/trainSetup.js';
import { generateSyntheticDataset, loadDataset } from '../../src/engine/data/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import type { BackendReport } from '../../src/engine/events.js';
import { DEFAULT_LOSS_OPTIONS, l2normalize, type LossOptions } from '../../src/engine/losses.js';
import { createEncoder, createTransform } from '../../src/engine/model/index.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { loadCheckpoint } from '../../src/engine/model/checkpoint.js';
import { flatSize, paramsOf, shardBounds, shardGradients, startParallel } from '../../src/engine/runtimes/tfjs/parallel.js';
import { Sgd } from '../../src/engine/runtimes/sgd.js';
import { randomData } from './backendProbeNet.js';
import { DEFAULT_TRAIN_CONFIG, train, type TrainConfig } from '../../src/engine/train/trainer.js';

let backend: BackendReport;
let work: string;
let trainSet: Dataset;

before(async () => {
  backend = await initBackend('wasm');
  work = await mkdtemp(path.join(tmpdir(), 'kefer-parallel-'));
  await generateSyntheticDataset(path.join(work, 'data'), { perClass: 4, classes: 7, seed: 3, size: 16 });
  trainSet = await loadDataset(`synthetic:${path.join(work, 'data')}#train`);
});
after(async () => { await rm(work, { recursive: true, force: true }); });

const SIZE = 16;
const BATCH = 7; // odd: unequal shards (4 + 3) exercise the shard-size weighting

function tinyModel() {
  const encoder = createEncoder('compact', { seed: 5, inputSize: SIZE });
  const transform = createTransform(5);
  const textNorm = tf.tidy(() => l2normalize(tf.tensor2d(randomData(7 * 512, 4), [7, 512])));
  const loss: LossOptions = { ...DEFAULT_LOSS_OPTIONS, neutralIndex: 6 };
  return { encoder, transform, textNorm, loss, params: paramsOf(encoder, transform), dispose: () => { encoder.dispose(); transform.dispose(); textNorm.dispose(); } };
}

test('2 replicas: averaged gradient equals the single-thread gradient of the same shard split', async () => {
  const x = randomData(BATCH * SIZE * SIZE * 3, 1);
  const labels = [0, 6, 2, 3, 6, 5, 1];
  // Reference: both shards on this thread, weighted by shard size, in replica order.
  const ref = tinyModel();
  const n = flatSize(ref.params.values());
  const b = shardBounds(BATCH, 2);
  assert.deepEqual(b, [0, 4, 7]);
  const expected = new Float32Array(n);
  const g = new Float32Array(n);
  for (let s = 0; s < 2; s++) {
    const per = SIZE * SIZE * 3;
    shardGradients(ref, x.subarray(b[s] * per, b[s + 1] * per), b[s + 1] - b[s], labels.slice(b[s], b[s + 1]), g);
    const w = (b[s + 1] - b[s]) / BATCH;
    for (let k = 0; k < n; k++) expected[k] += g[k] * w;
  }
  ref.dispose();

  const m = tinyModel();
  const sgd = new Sgd(0.9, 5e-4);
  const par = await startParallel({ workers: 2, ...m, sgd, batchSize: BATCH });
  try {
    assert.equal(par.replicas, 2);
    const got = await par.gradients(x, labels);
    let scale = 0, worst = 0;
    for (let k = 0; k < n; k++) { scale = Math.max(scale, Math.abs(expected[k])); worst = Math.max(worst, Math.abs(got.grad[k] - expected[k])); }
    assert.ok(scale > 0);
    assert.ok(worst <= 1e-5 * Math.max(1, scale), `max abs diff ${worst} (scale ${scale})`);
    // Replicas stay identical after applying the averaged step (same gradient, same Sgd, same ops).
    await par.step(x, labels, 0.01);
    const w = await par.replicaState(1);
    let off = 0, diff = 0;
    for (const v of m.params.values()) {
      const mine = v.dataSync();
      for (let i = 0; i < v.size; i++) diff = Math.max(diff, Math.abs(mine[i] - w.params[off + i]));
      off += v.size;
    }
    assert.equal(diff, 0, 'worker replica weights equal the main replica bit for bit');
  } finally {
    await par.close();
    sgd.dispose();
    m.dispose();
  }
});

test('a 2-worker training run is deterministic across runs', async () => {
  const text = standinTextEmbeddings(trainSet.classes, trainSet.classes);
  const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, backbone: 'compact', inputSize: SIZE, epochs: 1, maxSteps: 3, batchSize: 8, lr: 0.01, seed: 11, workers: 2 };
  const runs: string[] = [];
  for (const name of ['a', 'b']) {
    const outDir = path.join(work, `run-${name}`);
    const r = await train(cfg, { train: trainSet, text, backend, outDir, diagnose: 'none' });
    assert.equal(r.cancelled, false);
    assert.ok(Number.isFinite(r.history[0].trainLoss));
    runs.push(r.lastCheckpoint);
  }
  const [a, b] = await Promise.all(runs.map((d) => loadCheckpoint(d)));
  const init = createEncoder('compact', { seed: cfg.seed, inputSize: SIZE });
  try {
    let moved = 0;
    for (const [k, v] of a.encoder.params) {
      assert.deepEqual(v.dataSync(), b.encoder.params.get(k)!.dataSync(), `${k} differs between runs`);
      const i0 = init.params.get(k)!.dataSync(), v0 = v.dataSync();
      for (let i = 0; i < v0.length; i++) moved = Math.max(moved, Math.abs(v0[i] - i0[i]));
    }
    for (const [k, v] of a.encoder.buffers) assert.deepEqual(v.dataSync(), b.encoder.buffers.get(k)!.dataSync(), `${k} differs between runs`);
    for (const [k, v] of a.transform.params) assert.deepEqual(v.dataSync(), b.transform.params.get(k)!.dataSync(), `${k} differs between runs`);
    assert.ok(moved > 1e-4, 'training moved the weights');
  } finally {
    a.dispose();
    b.dispose();
    init.dispose();
  }
});

test('kefer train --workers N: parsed as an integer >= 1, absent means the single-thread path', () => {
  assert.equal(parseTrainConfig({ workers: '2' }).workers, 2);
  assert.equal(parseTrainConfig({}).workers, undefined);
  assert.throws(() => parseTrainConfig({ workers: '0' }), /--workers: expected an integer >= 1, got '0'/);
  assert.throws(() => parseTrainConfig({ workers: '1.5' }), /--workers/);
});
