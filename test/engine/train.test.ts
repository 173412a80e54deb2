// Trainer, checkpoints and resume, on a tiny generated dataset with the wasm backend.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../../src/engine/data/types.js';
import type { BackendReport, EngineEvent } from '../../src/engine/events.js';
import { createEncoder, createTransform } from '../../src/engine/model/index.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { loadCheckpoint, saveCheckpoint, loadInitWeights, CheckpointError, IMAGENET_MEAN, IMAGENET_STD } from '../../src/engine/model/checkpoint.js';
import { train } from '../../src/engine/train/trainer.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../src/engine/util/safetensors.js';
import { lrForEpoch } from '../../src/engine/train/schedule.js';
import { maxAbsDiff, snapshot, tinyTrainData, TINY_TRAIN } from './train-helpers.js';

let backend: BackendReport;
let trainSet: Dataset;
let valSet: Dataset;
let work: string;

before(async () => {
  ({ backend, work, trainSet, valSet } = await tinyTrainData('kefer-train-'));
});

const tiny = TINY_TRAIN;

test('learning-rate schedule: warm-up epoch at 1e-4, then cosine from the base lr', () => {
  const o = { lr: 0.002, warmupLr: 1e-4, warmupEpochs: 1, epochs: 50 };
  assert.equal(lrForEpoch(0, o), 1e-4);
  assert.equal(lrForEpoch(1, o), 0.002);
  assert.ok(lrForEpoch(25, o) < 0.002 && lrForEpoch(25, o) > 0.0009);
  assert.ok(lrForEpoch(49, o) < 1e-5);
});

test('checkpoint round trip keeps every tensor, in PyTorch names and layouts', async () => {
  const enc = createEncoder('resnet18', { seed: 5, inputSize: 32 });
  const tr = createTransform(5);
  // Non-trivial BN running stats so the buffers are really checked.
  enc.buffers.get('layer2.0.bn1.running_var')!.assign(tf.fill([128], 2.5));
  const text = standinTextEmbeddings(trainSet.classes, trainSet.classes);
  const dir = path.join(work, 'ckpt-roundtrip');
  const config = { format: 'kefer-checkpoint' as const, version: 1 as const, backbone: 'resnet18' as const, classes: trainSet.classes, neutralIndex: 6, inputSize: 32, mean: IMAGENET_MEAN, std: IMAGENET_STD, logitScale: 100, prompts: text.prompts, textSource: text.source, featureDim: 512 };
  await saveCheckpoint(dir, { encoder: enc, transform: tr, textEmbeddings: text.matrix, config });
  const { tensors } = await readSafetensors(path.join(dir, 'model.safetensors'));
  assert.deepEqual(tensors.get('encoder.conv1.weight')!.shape, [64, 3, 7, 7]);
  assert.deepEqual(tensors.get('encoder.layer2.0.downsample.0.weight')!.shape, [128, 64, 1, 1]);
  assert.equal(tensors.get('encoder.bn1.num_batches_tracked')!.dtype, 'I64');
  assert.deepEqual(tensors.get('MLP.fc1.weight')!.shape, [128, 512]);
  assert.deepEqual(tensors.get('MLP.fc2.weight')!.shape, [512, 128]);
  assert.deepEqual(tensors.get('text_embeddings')!.shape, [7, 512]);
  assert.ok(!tensors.has('encoder.fc.weight'));
  // PyTorch layout: torch[o][i][y][x] == tfjs[y][x][i][o]
  const tfw = enc.params.get('conv1.weight')!.arraySync() as number[][][][];
  const pt = tensors.get('encoder.conv1.weight')!.data;
  assert.ok(Math.abs(pt[((5 * 3 + 2) * 7 + 1) * 7 + 4] - tfw[1][4][2][5]) < 1e-7);
  const loaded = await loadCheckpoint(dir);
  assert.equal(maxAbsDiff(snapshot(enc.params), snapshot(loaded.encoder.params)), 0);
  assert.equal(maxAbsDiff(snapshot(enc.buffers), snapshot(loaded.encoder.buffers)), 0);
  assert.equal(maxAbsDiff(snapshot(tr.params), snapshot(loaded.transform.params)), 0);
  assert.deepEqual(Array.from(loaded.textEmbeddings), Array.from(text.matrix));
  assert.equal(loaded.config.textSource.kind, 'standin');

  // --init: a torchvision state dict (with fc.* and a module. prefix) loads as the backbone.
  const sd = new Map<string, TensorToWrite>();
  for (const [k, t] of tensors) if (k.startsWith('encoder.')) sd.set('module.' + k.slice(8), { dtype: t.dtype === 'I64' ? 'I64' : 'F32', shape: t.shape, data: t.data });
  sd.set('fc.weight', { dtype: 'F32', shape: [1000, 512], data: new Float32Array(512000) });
  await writeSafetensors(path.join(work, 'tv.safetensors'), sd);
  const fresh = createEncoder('resnet18', { seed: 99, inputSize: 32 });
  await loadInitWeights(fresh, path.join(work, 'tv.safetensors'));
  assert.equal(maxAbsDiff(snapshot(enc.params), snapshot(fresh.params)), 0);
  [enc, tr, fresh].forEach((m) => m.dispose());
  loaded.dispose();
});

test('a checkpoint with a wrong tensor shape fails with the file and tensor named', async () => {
  const dir = path.join(work, 'ckpt-roundtrip');
  const file = path.join(dir, 'model.safetensors');
  const { tensors } = await readSafetensors(file);
  const bad = new Map<string, TensorToWrite>([...tensors].map(([k, t]) => [k, { dtype: t.dtype === 'I64' ? 'I64' : 'F32', shape: t.shape, data: t.data }]));
  bad.set('MLP.fc1.weight', { dtype: 'F32', shape: [64, 512], data: new Float32Array(64 * 512) });
  const badDir = path.join(work, 'ckpt-bad');
  await saveCheckpoint(badDir, await loadCheckpoint(dir).then((m) => ({ ...m })));
  await writeSafetensors(path.join(badDir, 'model.safetensors'), bad);
  await assert.rejects(loadCheckpoint(badDir), (e: Error) => e instanceof CheckpointError && /model\.safetensors: tensor 'MLP\.fc1\.weight' has shape \[64, 512\], expected \[128, 512\]/.test(e.message));
  await writeFile(path.join(badDir, 'config.json'), '{not json');
  await assert.rejects(loadCheckpoint(badDir), /config\.json: not valid JSON/);
  await assert.rejects(loadCheckpoint(path.join(work, 'nowhere')), /config\.json: not found/);
});

test('resume after a mid-epoch cancel ends with the same weights as an uninterrupted run', async () => {
  const text = standinTextEmbeddings(trainSet.classes, trainSet.classes);
  const base = { train: trainSet, val: valSet, valDescription: 'valid', text, backend, diagnose: 'none' as const };
  const full = await train(tiny, { ...base, outDir: path.join(work, 'run-full') });
  assert.equal(full.cancelled, false);
  assert.equal(full.history.length, 2);

  const controller = new AbortController();
  const events: EngineEvent[] = [];
  const first = await train(tiny, {
    ...base, outDir: path.join(work, 'run-resumed'), signal: controller.signal,
    onEvent: (e) => { events.push(e); if (e.type === 'step' && e.step === 6) controller.abort(); },
  });
  assert.equal(first.cancelled, true);
  const state = JSON.parse(await readFile(path.join(work, 'run-resumed/checkpoints/last/state.json'), 'utf8'));
  assert.equal(state.globalStep, 6);
  assert.equal(state.epoch, 1, 'cancelled inside the second epoch');
  const second = await train(tiny, { ...base, outDir: path.join(work, 'run-resumed'), resume: true });
  assert.equal(second.cancelled, false);

  const a = await loadCheckpoint(path.join(work, 'run-full/checkpoints/last'));
  const b = await loadCheckpoint(path.join(work, 'run-resumed/checkpoints/last'));
  const d = Math.max(maxAbsDiff(snapshot(a.encoder.params), snapshot(b.encoder.params)), maxAbsDiff(snapshot(a.encoder.buffers), snapshot(b.encoder.buffers)), maxAbsDiff(snapshot(a.transform.params), snapshot(b.transform.params)));
  assert.ok(d < 1e-5, `resumed weights differ by ${d}`);
  // and the run really moved away from its initialisation
  const init = createEncoder('compact', { seed: tiny.seed, inputSize: 16 });
  assert.ok(maxAbsDiff(snapshot(init.params), snapshot(a.encoder.params)) > 1e-3);
  [a, b].forEach((m) => m.dispose());
  init.dispose();

  const run = JSON.parse(await readFile(path.join(work, 'run-resumed/run.json'), 'utf8'));
  assert.equal(run.status, 'done');
  assert.equal(run.selectedOn, 'validation');
  const types = new Set(events.map((e) => e.type));
  assert.ok(types.has('start') && types.has('step') && types.has('epoch') && types.has('done'));
  const start = events.find((e) => e.type === 'start');
  assert.equal(start?.type === 'start' && start.textKind, 'standin');
});

test('resume refuses a changed configuration', async () => {
  const text = standinTextEmbeddings(trainSet.classes, trainSet.classes);
  await assert.rejects(
    train({ ...tiny, lr: 0.5 }, { train: trainSet, text, backend, outDir: path.join(work, 'run-full'), resume: true, diagnose: 'none' }),
    /cannot resume with a different configuration \(lr was 0\.01, now 0\.5\)/,
  );
});
