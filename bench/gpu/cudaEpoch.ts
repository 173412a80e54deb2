// One end-to-end training epoch from PNG files on disk on the CUDA runtime: the GPU input pipeline
// (src/engine/data/prefetch.ts: decode + augment on worker threads, bounded queue) feeding trainStep
// (pinned staging, asynchronous copy), timed wall-clock from the first file read to the last step.
// Writes the epoch's file list and labels so bench/gpu/torch_epoch.py trains on exactly the same set.
//   node cudaEpoch.cjs --data FERPLUS_DIR --batch 256 --workers 12 --precision fp32 --list OUT.json
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../../src/engine/data/index.js';
import { prefetchBatches, type BatchJob } from '../../src/engine/data/prefetch.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/engine/model/checkpoint.js';
import { deriveSeed, Rng } from '../../src/engine/util/rng.js';
import type { CudaPrecision } from '../../src/engine/runtimes/cuda/addon.js';
import { buildTrainer } from './cudaTrainer.js';

async function main() {
  const { values: f } = parseArgs({ options: { data: { type: 'string' }, batch: { type: 'string' }, workers: { type: 'string' }, precision: { type: 'string' }, list: { type: 'string' }, size: { type: 'string' }, 'worker-file': { type: 'string' } } });
  if (!f.data) throw new Error('--data FERPLUS_DIR');
  const batch = Number(f.batch ?? 256), workers = Number(f.workers ?? 12), size = Number(f.size ?? 112);
  const precision = (f.precision ?? 'fp32') as CudaPrecision;
  const ds = await loadDataset(`ferplus:${f.data}#train`);
  const files = ds.samples.map((s) => path.join(ds.root, s.path));
  const labels = ds.samples.map((s) => s.label);
  if (f.list) writeFileSync(f.list, JSON.stringify({ classes: ds.classes, files, labels }));
  const seed = 29, epoch = 0;
  const order = new Rng(deriveSeed(seed, epoch)).shuffle(files.map((_, i) => i));
  const jobs: BatchJob[] = [];
  for (let s = 0; (s + 1) * batch <= order.length; s++) {
    const idx = order.slice(s * batch, (s + 1) * batch);
    jobs.push({ files: idx.map((i) => files[i]), labels: idx.map((i) => labels[i]), epoch, step: s });
  }
  const t = await buildTrainer(batch, size, precision, ds.classes.length, ds.classes.indexOf('neutral'));
  const start = process.hrtime.bigint();
  let lastLoss = NaN;
  let waitS = 0;
  let w0 = process.hrtime.bigint();
  for await (const { job, x } of prefetchBatches(jobs, { size, norm: { mean: IMAGENET_MEAN, std: IMAGENET_STD }, augment: 'standard', seed, workers, workerFile: f['worker-file'] })) {
    waitS += Number(process.hrtime.bigint() - w0) / 1e9;
    lastLoss = t.native.trainStep(x, Int32Array.from(job.labels), 0.002, 0.9, 5e-4)[4];
    w0 = process.hrtime.bigint();
  }
  const dt = Number(process.hrtime.bigint() - start) / 1e9;
  const images = jobs.length * batch;
  console.log(JSON.stringify({ runtime: 'cuda', precision, batch, workers, images, epoch_s: dt, img_per_s: images / dt, waiting_for_data_s: waitS, last_loss: lastLoss, classes: ds.classes.length }));
  t.release();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
