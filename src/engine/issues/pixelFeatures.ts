// Label-free, fixed image features (a HOG descriptor) for when no trained encoder is at hand: the bench
// and the tests cross-validate a head on them. Because nothing here ever sees a label, records scored
// from them are fully out-of-sample (unlike a KE-FER encoder trained on every training label).
import { decodeImage, mapLimit } from '../data/decode.js';
import type { Dataset } from '../data/types.js';

export const HOG_SIZE = 48;
const CELL = 6;
const BINS = 9;
export const HOG_DIM = (HOG_SIZE / CELL) ** 2 * BINS; // 576

/** HOG of one size*size RGB image: 6x6-pixel cells, 9 unsigned orientation bins, each cell L2-normalised. */
export function hog(rgb: Uint8Array, size = HOG_SIZE): Float32Array {
  const g = new Float32Array(size * size);
  for (let i = 0; i < size * size; i++) g[i] = (rgb[3 * i] + rgb[3 * i + 1] + rgb[3 * i + 2]) / 765;
  const cells = size / CELL;
  const out = new Float32Array(cells * cells * BINS);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const gx = g[y * size + Math.min(x + 1, size - 1)] - g[y * size + Math.max(x - 1, 0)];
      const gy = g[Math.min(y + 1, size - 1) * size + x] - g[Math.max(y - 1, 0) * size + x];
      const mag = Math.hypot(gx, gy);
      if (mag === 0) continue;
      let ang = Math.atan2(gy, gx);
      if (ang < 0) ang += Math.PI; // unsigned gradients: light/dark polarity varies between faces
      const pos = (ang / Math.PI) * BINS - 0.5;
      const b0 = Math.floor(pos);
      const w1 = pos - b0;
      const c = (Math.floor(y / CELL) * cells + Math.floor(x / CELL)) * BINS;
      out[c + ((b0 + BINS) % BINS)] += mag * (1 - w1);
      out[c + ((b0 + 1) % BINS)] += mag * w1;
    }
  }
  for (let c = 0; c < cells * cells; c++) {
    let s = 0;
    for (let b = 0; b < BINS; b++) s += out[c * BINS + b] ** 2;
    const n = Math.sqrt(s) + 1e-3; // contrast invariance per cell; eps keeps flat cells near 0
    for (let b = 0; b < BINS; b++) out[c * BINS + b] = Math.sqrt(out[c * BINS + b] / n);
  }
  return out;
}

/** Raw HOG rows of the given samples ([indices.length, HOG_DIM], that order). */
export async function hogRows(dataset: Dataset, indices?: readonly number[], concurrency = 8): Promise<Float32Array> {
  const idx = indices ?? dataset.samples.map((_, i) => i);
  const rows = await mapLimit(idx, concurrency, async (i) => hog(await decodeImage(dataset, dataset.samples[i], HOG_SIZE)));
  const out = new Float32Array(rows.length * HOG_DIM);
  rows.forEach((r, i) => out.set(r, i * HOG_DIM));
  return out;
}

export interface ColumnStats {
  mean: Float64Array;
  sd: Float64Array;
}

/** Per-column mean and standard deviation of [N, dim] rows (sd 0 becomes 1). */
export function columnStats(x: Float32Array, dim: number): ColumnStats {
  const N = x.length / dim;
  const mean = new Float64Array(dim);
  const sd = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    let m = 0, s = 0;
    for (let i = 0; i < N; i++) m += x[i * dim + j];
    m /= Math.max(N, 1);
    for (let i = 0; i < N; i++) s += (x[i * dim + j] - m) ** 2;
    mean[j] = m;
    sd[j] = Math.sqrt(s / Math.max(N, 1)) || 1;
  }
  return { mean, sd };
}

/** Rows standardised with the given statistics (e.g. a training set's, applied to a test set). */
export function standardiseWith(x: Float32Array, dim: number, stats: ColumnStats): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] - stats.mean[i % dim]) / stats.sd[i % dim];
  return out;
}

/**
 * HOG features of the given samples ([indices.length, HOG_DIM], that order), standardised per dimension
 * over those samples (label-free, so standardising over all of them leaks nothing).
 */
export async function hogFeatures(dataset: Dataset, indices?: readonly number[], concurrency = 8): Promise<Float32Array> {
  const raw = await hogRows(dataset, indices, concurrency);
  return standardiseWith(raw, HOG_DIM, columnStats(raw, HOG_DIM));
}
