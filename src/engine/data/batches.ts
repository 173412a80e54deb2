// Normalised NHWC input batches for evaluation on every runtime (and onnxruntime's feature caching and
// int8 calibration), the next batch decoding while the caller runs this one.
import type { ImageCache } from './decode.js';
import type { Dataset } from './types.js';
import { normaliseInto } from './augment.js';
import { Rng } from '../util/rng.js';

/**
 * Yields normalised NHWC batches; batch k+1 is decoding while the caller runs batch k. `normalise: false`:
 * the RGB bytes only (x empty), for a runtime that normalises them itself. `ahead: false`: each batch is
 * decoded only when asked for, for a caller whose forward takes every core (the cache's loader workers
 * decoding meanwhile would stall its threads; they decode alongside this thread instead).
 */
export async function* evalBatches(
  dataset: Dataset,
  images: ImageCache,
  norm: { mean: [number, number, number]; std: [number, number, number] },
  batchSize: number,
  signal?: AbortSignal,
  opts: { normalise?: boolean; ahead?: boolean } = {},
): AsyncGenerator<{ start: number; indices: number[]; x: Float32Array; raw: Uint8Array }> {
  const N = dataset.samples.length;
  const S = images.size;
  const per = S * S * 3;
  const load = async (start: number) => {
    const indices = Array.from({ length: Math.min(batchSize, N - start) }, (_, i) => start + i);
    const raw = await images.getBatch(indices);
    if (opts.normalise === false) return { start, indices, x: new Float32Array(0), raw };
    const x = new Float32Array(indices.length * per);
    for (let i = 0; i < indices.length; i++) normaliseInto(raw.subarray(i * per, (i + 1) * per), S, norm, x, i * per);
    return { start, indices, x, raw };
  };
  const ahead = opts.ahead !== false;
  let next = N > 0 && ahead ? load(0) : null;
  for (let start = 0; start < N; start += batchSize) {
    if (signal?.aborted) throw new Error('evaluation cancelled');
    const cur = await (next ?? load(start));
    // Start decoding the following batch before handing this one out.
    next = ahead && start + batchSize < N ? load(start + batchSize) : null;
    // An abandoned prefetch must not surface as an unhandled rejection.
    next?.catch(() => {});
    yield cur;
  }
}

/** `n` seeded-random samples of `dataset` (int8 calibration images: the same pick on every runtime). */
export function calibrationSubset(dataset: Dataset, n: number, seed: number): Dataset {
  const pick = new Rng(seed).shuffle(dataset.samples.map((_, i) => i)).slice(0, Math.min(n, dataset.samples.length));
  return { ...dataset, samples: pick.map((i) => dataset.samples[i]) };
}

/**
 * int8 calibration images (runtimes/types.ts Int8Calibration): `n` seeded-random samples of `dataset`,
 * normalised as the model reads them. Labels are never read.
 */
export function calibrationBatches(
  dataset: Dataset,
  images: (subset: Dataset) => ImageCache,
  norm: { mean: [number, number, number]; std: [number, number, number] },
  opts: { images: number; seed: number; what: string },
): { batches(batch: number): AsyncIterable<{ x: Float32Array; n: number }>; what: string; count: number } {
  const subset = calibrationSubset(dataset, opts.images, opts.seed);
  return {
    what: opts.what,
    count: subset.samples.length,
    async *batches(batch: number) {
      for await (const b of evalBatches(subset, images(subset), norm, batch)) yield { x: b.x, n: b.indices.length };
    },
  };
}
