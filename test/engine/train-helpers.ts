// Shared by the trainer tests: a tiny generated dataset, a tiny training config, weight comparisons.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend/index.js';
import { generateSyntheticDataset, loadDataset } from '../../src/engine/data/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import type { BackendReport } from '../../src/engine/events.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../../src/engine/train/trainer.js';

export const TINY_TRAIN: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, backbone: 'compact', inputSize: 16, epochs: 2, batchSize: 8, lr: 0.01, seed: 11 };

/** wasm backend, a temp folder and a 5-per-class synthetic dataset (16 px) in it. */
export async function tinyTrainData(prefix: string): Promise<{ backend: BackendReport; work: string; trainSet: Dataset; valSet: Dataset }> {
  const backend = await initBackend('wasm');
  const work = await mkdtemp(path.join(tmpdir(), prefix));
  await generateSyntheticDataset(path.join(work, 'data'), { perClass: 5, classes: 7, seed: 3, size: 16 });
  const trainSet = await loadDataset(`synthetic:${path.join(work, 'data')}#train`);
  const valSet = await loadDataset(`synthetic:${path.join(work, 'data')}#valid`);
  return { backend, work, trainSet, valSet };
}

export function snapshot(dir: Map<string, tf.Variable>, prefix = ''): Map<string, Float32Array> {
  return new Map([...dir].map(([k, v]) => [prefix + k, v.dataSync() as Float32Array]));
}

export function maxAbsDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let m = 0;
  for (const [k, x] of a) {
    const y = b.get(k);
    assert.ok(y, `missing ${k}`);
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}
