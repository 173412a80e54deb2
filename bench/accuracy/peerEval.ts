// Scores a peer on a list of dataset images, in batches, through the engine's decode cache (the
// same decoded pixels KE-FER's evaluation reads).
import type { Dataset, ImageCache } from '../../src/engine/data/index.js';
import { computeMetrics, type Metrics } from '../../src/engine/eval/metrics.js';
import { Rng } from '../../src/engine/util/rng.js';
import type { Peer } from '../peers/index.js';

export interface PeerRun {
  metrics: Metrics;
  preds: number[];
  secPerImage: number;
}

/** `k` distinct indices out of 0..n-1, sorted, from a seeded shuffle (all of them when k >= n). */
export function sampleIndices(n: number, k: number, seed: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (k >= n) return all;
  return new Rng(seed).shuffle(all).slice(0, k).sort((a, b) => a - b);
}

export async function runPeer(
  peer: Peer, dataset: Dataset, images: ImageCache, indices: readonly number[],
  opts: { batch?: number; onProgress?: (done: number, total: number, secPerImage: number) => void } = {},
): Promise<PeerRun> {
  const bs = opts.batch ?? 32;
  const preds: number[] = [];
  const t0 = performance.now();
  for (let start = 0; start < indices.length; start += bs) {
    const idx = indices.slice(start, start + bs);
    const rgb = await images.getBatch(idx);
    const probs = await peer.predict(rgb, idx.length, images.size, dataset.classes);
    for (const p of probs) {
      let k = 0;
      for (let j = 1; j < p.length; j++) if (p[j] > p[k]) k = j;
      preds.push(k);
    }
    opts.onProgress?.(preds.length, indices.length, (performance.now() - t0) / 1000 / preds.length);
  }
  const labels = indices.map((i) => dataset.samples[i].label);
  return { metrics: computeMetrics(labels, preds, dataset.classes.length), preds, secPerImage: (performance.now() - t0) / 1000 / Math.max(indices.length, 1) };
}
