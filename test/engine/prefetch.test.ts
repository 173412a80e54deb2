// The GPU input pipeline (src/engine/data/prefetch.ts): batches decoded and augmented on worker threads
// equal, value for value, what the trainer builds on its own thread for the same (seed, epoch, step) from
// the same PNG files; they come back in order with a bounded queue; a file the worker cannot decode is
// named. An evaluation image cache with a pool decodes part of each batch on the workers, with the
// same bytes, the same error for a broken file, and the pool's images cached like its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createImageCache, decodeImage } from '../../src/engine/data/decode.js';
import type { Dataset, Sample } from '../../src/engine/data/types.js';
import { loadDataset } from '../../src/engine/data/index.js';
import { LoaderPool, prefetchBatches, type BatchJob } from '../../src/engine/data/prefetch.js';
import { generateSyntheticDataset } from '../../src/engine/data/synthetic.js';
import { augmentInto } from '../../src/engine/data/augment.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/engine/model/checkpoint.js';
import { deriveSeed, Rng } from '../../src/engine/util/rng.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { loadCheckpoint } from '../../src/engine/model/checkpoint.js';
import { train } from '../../src/engine/train/trainer.js';
import { maxAbsDiff, snapshot, TINY_TRAIN, tinyTrainData } from './train-helpers.js';

const norm = { mean: IMAGENET_MEAN, std: IMAGENET_STD };

test('prefetched batches equal the trainer-thread batches, in order, from 3 workers with a queue of 2', async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'kefer-prefetch-'));
  try {
    await generateSyntheticDataset(path.join(work, 'data'), { perClass: 6, classes: 7, seed: 4, size: 48 });
    const ds = await loadDataset(`synthetic:${path.join(work, 'data')}#train`);
    const size = 64, bs = 8, seed = 29, epoch = 1;
    const order = new Rng(deriveSeed(seed, epoch)).shuffle(ds.samples.map((_, i) => i));
    const jobs: BatchJob[] = [];
    for (let s = 0; s * bs + bs <= order.length; s++) {
      const idx = order.slice(s * bs, (s + 1) * bs);
      jobs.push({ files: idx.map((i) => path.join(ds.root, ds.samples[i].path)), labels: idx.map((i) => ds.samples[i].label), epoch, step: s });
    }
    const cache = createImageCache(ds, size);
    const per = size * size * 3;
    let n = 0;
    for await (const { job, x } of prefetchBatches(jobs, { size, norm, augment: 'standard', seed, workers: 3, depth: 2 })) {
      assert.equal(job.step, n, 'in order');
      const idx = order.slice(job.step * bs, (job.step + 1) * bs);
      const raw = await cache.getBatch(idx);
      const want = new Float32Array(bs * per);
      const rng = new Rng(deriveSeed(seed, epoch, job.step, 1));
      for (let i = 0; i < bs; i++) augmentInto(raw.subarray(i * per, (i + 1) * per), size, norm, rng, want, i * per, 'standard');
      assert.deepEqual(x, want, `batch ${job.step} differs from the trainer's`);
      n++;
    }
    assert.equal(n, jobs.length);
    assert.ok(n >= 4);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('an evaluation cache with 2 loader workers: the same bytes as one thread, the same error for a broken PNG, cached once', async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'kefer-decode-pool-'));
  const pool = new LoaderPool(2);
  try {
    await generateSyntheticDataset(path.join(work, 'data'), { perClass: 4, classes: 7, seed: 6, size: 48 });
    const ds = await loadDataset(`synthetic:${path.join(work, 'data')}#train`);
    const size = 64;
    const idx = ds.samples.map((_, i) => i).reverse();
    const want = await createImageCache(ds, size, { maxBytes: 0 }).getBatch(idx);
    const pooled = createImageCache(ds, size, { maxBytes: 0, pool });
    assert.deepEqual(await pooled.getBatch(idx), want, '28 images, a third decoded on each worker');
    assert.deepEqual(await pooled.getBatch(idx.slice(0, 5)), want.subarray(0, 5 * size * size * 3), 'a short batch');
    // Cached: a second batch is served from memory, even the images the workers decoded.
    const cached = createImageCache(ds, size, { pool });
    assert.deepEqual(await cached.getBatch(idx), want);
    assert.equal(cached.bytes, idx.length * size * size * 3);
    await rm(path.join(ds.root, ds.samples[idx[3]].path)); // a worker's share, once the files are read
    assert.deepEqual(await cached.getBatch(idx), want, 'from the cache, not from the files');
    // A broken file among a worker's share: the error this thread's decode gives, naming it.
    await writeFile(path.join(ds.root, ds.samples[idx[3]].path), Buffer.from('\x89PNG\r\n\x1a\nnot really'));
    const alone = await createImageCache(ds, size, { maxBytes: 0 }).getBatch(idx).then(() => null, (e: Error) => e);
    const withPool = await pooled.getBatch(idx).then(() => null, (e: Error) => e);
    assert.ok(alone && withPool, 'both fail');
    assert.equal(withPool.message, alone.message);
    assert.match(withPool.message, new RegExp(ds.samples[idx[3]].id));
  } finally {
    await pool.close();
    await rm(work, { recursive: true, force: true });
  }
});

test('files the fast path does not take (JPEG) are decoded by sharp in the workers, as the training thread decodes them', async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'kefer-prefetch-jpeg-'));
  try {
    await generateSyntheticDataset(path.join(work, 'data'), { perClass: 1, classes: 7, seed: 5, size: 48 });
    const ds = await loadDataset(`synthetic:${path.join(work, 'data')}#train`);
    const files = await Promise.all(ds.samples.slice(0, 4).map(async (smp, i) => {
      const out = path.join(work, `face${i}.jpg`);
      await sharp(path.join(ds.root, smp.path)).jpeg({ quality: 90 }).toFile(out);
      return out;
    }));
    const size = 64;
    const per = size * size * 3;
    const gen = prefetchBatches([{ files, labels: [0, 1, 2, 3], epoch: 0, step: 0 }], { size, norm, augment: 'none', seed: 1, workers: 1 });
    const { value } = await gen.next();
    await gen.return(undefined); // stops the worker
    assert.ok(value, 'one batch');
    const want = new Float32Array(files.length * per);
    for (let i = 0; i < files.length; i++) {
      const img = await decodeImage({ root: '/' } as Dataset, { id: files[i], path: files[i] } as Sample, size);
      augmentInto(img, size, norm, new Rng(0), want, i * per, 'none');
    }
    assert.deepEqual(value.x, want);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('a file the workers cannot decode is named, and the workers stop', async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'kefer-prefetch-bad-'));
  try {
    const bad = path.join(work, 'broken.png');
    await writeFile(bad, 'not a png');
    const gen = prefetchBatches([{ files: [bad], labels: [0], epoch: 0, step: 0 }], { size: 16, norm, augment: 'none', seed: 1, workers: 1 });
    await assert.rejects(gen.next(), /broken\.png: /);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('kefer train --loader-workers 2 trains exactly the model the training thread does (same seeds, same batches)', async () => {
  const { backend, work, trainSet, valSet } = await tinyTrainData('kefer-prefetch-train-');
  try {
    const base = { train: trainSet, val: valSet, valDescription: 'valid', text: standinTextEmbeddings(trainSet.classes, trainSet.classes), backend, diagnose: 'none' as const };
    await train({ ...TINY_TRAIN, runtime: 'tfjs' }, { ...base, outDir: path.join(work, 'main-thread') });
    await train({ ...TINY_TRAIN, runtime: 'tfjs', loaderWorkers: 2 }, { ...base, outDir: path.join(work, 'workers') });
    const [a, b] = await Promise.all(['main-thread', 'workers'].map((d) => loadCheckpoint(path.join(work, d, 'checkpoints/last'))));
    const weights = (m: typeof a) => new Map([...snapshot(m.encoder.params, 'encoder.'), ...snapshot(m.transform.params)]);
    assert.equal(maxAbsDiff(weights(a), weights(b)), 0);
    a.dispose();
    b.dispose();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
