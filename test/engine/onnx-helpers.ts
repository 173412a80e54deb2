// Fixtures for the onnx tests: checkpoints with non-trivial BatchNorm state, real FERPlus and synthetic images.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { initBackend } from '../../src/engine/backend/index.js';
import { classList } from '../../src/engine/classes.js';
import { createImageCache, generateSyntheticDataset, loadDataset, type Dataset } from '../../src/engine/data/index.js';
import { createEncoder, createTransform, type BackboneName } from '../../src/engine/model/index.js';
import { normaliseInto } from '../../src/engine/data/augment.js';
import { IMAGENET_MEAN, IMAGENET_STD, saveCheckpoint, type CheckpointConfig } from '../../src/engine/model/checkpoint.js';
import { Rng } from '../../src/engine/util/rng.js';

const repo = path.resolve(__dirname, '../..'); // test files run as CommonJS through tsx
export const SHARED_DATA = process.env.KEFER_SHARED_DATA ?? path.resolve(repo, '../shared/data');
export const FERPLUS = path.join(SHARED_DATA, 'ferplus');
export const HAVE_FERPLUS = existsSync(path.join(FERPLUS, 'data', 'FER2013Test', 'label.csv'));

/** First `n` samples of a dataset (keeps everything else). */
export function head(ds: Dataset, n: number, stride = 1): Dataset {
  return { ...ds, samples: ds.samples.filter((_, i) => i % stride === 0).slice(0, n) };
}

/** Up to `n` real FERPlus test images (8 classes), or null when the shared data is absent. */
export async function ferplusSubset(n: number): Promise<Dataset | null> {
  if (!HAVE_FERPLUS) return null;
  // A stride spreads the pick over classes rather than taking one run of the csv.
  return head(await loadDataset(`ferplus:${FERPLUS}#test`), n, 97);
}

/** Generated RGB faces, every class present (`synthetic:` reader, all splits). */
export async function syntheticSet(dir: string, size = 64): Promise<Dataset> {
  await generateSyntheticDataset(dir, { perClass: 1, classes: 8, size, channels: 3, seed: 7 });
  return loadDataset(`synthetic:${dir}`);
}

export interface OnnxFixture {
  /** Temp directory, removed after the file's tests. */
  tmp: string;
  /** Generated faces (syntheticSet) in tmp. */
  synth: Dataset;
  /** ferplusSubset(realImages), or null when not asked for or the shared data is absent. */
  real: Dataset | null;
}

/**
 * The onnx test files' common setup, as before/after hooks: the wasm backend, a temp directory, generated
 * faces at `synthSize` and, when `realImages` is given, that many FERPlus test images. Fields fill in
 * before the first test runs.
 */
export function onnxFixture(prefix: string, opts: { synthSize?: number; realImages?: number } = {}): OnnxFixture {
  const fx: OnnxFixture = { tmp: '', synth: undefined as unknown as Dataset, real: null };
  before(async () => {
    await initBackend('wasm', () => {});
    fx.tmp = await mkdtemp(path.join(os.tmpdir(), prefix));
    fx.synth = await syntheticSet(path.join(fx.tmp, 'synth'), opts.synthSize);
    if (opts.realImages) fx.real = await ferplusSubset(opts.realImages);
  });
  after(async () => {
    if (fx.tmp) await rm(fx.tmp, { recursive: true, force: true });
  });
  return fx;
}

export function checkpointConfig(backbone: BackboneName, inputSize: number, K = 8): CheckpointConfig {
  const classes = classList(K as 7 | 8);
  return {
    format: 'kefer-checkpoint', version: 1, backbone, classes, neutralIndex: classes.indexOf('neutral'), inputSize,
    mean: IMAGENET_MEAN, std: IMAGENET_STD, logitScale: 100, prompts: classes.map((c) => `a photo of ${c}`),
    textSource: { kind: 'standin', model: 'test', description: 'random test embeddings' }, featureDim: 512,
  };
}

/**
 * Writes a checkpoint whose BN running statistics come from training-mode forward passes over `calib`
 * images (so they are realistic and far from the 0/1 init), with randomised BN affine parameters.
 */
export async function makeCheckpoint(dir: string, backbone: BackboneName, inputSize: number, calib: Dataset, seed = 3): Promise<void> {
  const rng = new Rng(seed);
  const encoder = createEncoder(backbone, { seed, inputSize });
  const transform = createTransform(seed);
  const config = checkpointConfig(backbone, inputSize);
  for (const [name, v] of encoder.params) {
    if (v.rank !== 1) continue;
    const vals = Float32Array.from({ length: v.size }, () => (name.endsWith('.weight') ? rng.uniform(0.5, 1.5) : rng.normal() * 0.1));
    v.assign(tf.tensor1d(vals));
  }
  const cache = createImageCache(calib, inputSize);
  const per = inputSize * inputSize * 3;
  const idx = calib.samples.map((_, i) => i).slice(0, 8);
  const raw = await cache.getBatch(idx);
  const x = new Float32Array(idx.length * per);
  for (let i = 0; i < idx.length; i++) normaliseInto(raw.subarray(i * per, (i + 1) * per), inputSize, config, x, i * per);
  for (let pass = 0; pass < 2; pass++) tf.tidy(() => encoder.apply(tf.tensor4d(x, [idx.length, inputSize, inputSize, 3]), true));
  const K = config.classes.length;
  const textEmbeddings = Float32Array.from({ length: K * 512 }, () => rng.normal());
  await saveCheckpoint(dir, { encoder, transform, textEmbeddings, config });
  encoder.dispose();
  transform.dispose();
}
