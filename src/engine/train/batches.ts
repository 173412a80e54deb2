// An epoch's training batches, normalised and augmented from (seed, epoch, step): built ahead on loader
// worker threads (data/prefetch.ts, a bounded queue, overlapped with the step) when the samples are image
// files, else on this thread from the decode-once image cache. Both give the same values.
import { augmentInto } from '../data/augment.js';
import { sampleFile } from '../data/decode.js';
import { LoaderPool, prefetchBatches, type BatchJob } from '../data/prefetch.js';
import { deriveSeed, Rng } from '../util/rng.js';
import type { Run } from './run.js';

/** Loader workers for a run: --loader-workers, else 1 when the samples are files (0 for in-memory pixels). */
export function loaderWorkersFor(run: Run): number {
  const inMemory = run.inputs.train.samples.some((s) => s.pixels);
  const n = run.cfg.loaderWorkers ?? (inMemory ? 0 : 1);
  if (n > 0 && inMemory) throw new Error('--loader-workers decodes image files; this dataset holds its pixels in memory (FER2013 CSV): drop --loader-workers');
  return n;
}

/** Yields the sample indices and the [N, S, S, 3] batch of each step from `firstStep` on. */
export async function* epochBatches(run: Run, order: number[], epoch: number, firstStep: number, pool?: LoaderPool): AsyncGenerator<{ step: number; idx: number[]; x: Float32Array }> {
  const { cfg, inputs, batch: bs } = run;
  const size = run.encoder.inputSize;
  const norm = run.evalModel.norm;
  const augment = cfg.augment ?? 'standard';
  const indices = (s: number) => order.slice(s * bs, (s + 1) * bs);
  if (pool) {
    const jobs: BatchJob[] = [];
    for (let s = firstStep; s < run.stepsPerEpoch; s++) {
      const idx = indices(s);
      jobs.push({ files: idx.map((i) => sampleFile(inputs.train, inputs.train.samples[i])), labels: idx.map((i) => inputs.train.samples[i].label), epoch, step: s });
    }
    for await (const { job, x } of prefetchBatches(jobs, { size, norm, augment, seed: cfg.seed, pool })) yield { step: job.step, idx: indices(job.step), x };
    return;
  }
  const per = size * size * 3;
  for (let s = firstStep; s < run.stepsPerEpoch; s++) {
    const idx = indices(s);
    const raw = await run.trainImages.getBatch(idx);
    const x = new Float32Array(bs * per);
    const rng = new Rng(deriveSeed(cfg.seed, epoch, s, 1));
    for (let i = 0; i < idx.length; i++) augmentInto(raw.subarray(i * per, (i + 1) * per), size, norm, rng, x, i * per, augment);
    yield { step: s, idx, x };
  }
}
