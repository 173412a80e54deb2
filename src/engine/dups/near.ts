// The near tier: pictures that are the same picture altered. Each picture is indexed by the 64-bit
// blockhash of the high-passed thumbnails of 19 views (the whole and 18 crops, views.ts); each looks up its whole and its mirror image
// within a Hamming radius (hammingIndex.ts), and a candidate is kept when the two views' high-passed
// thumbnails correlate above a threshold. The hash finds candidates without comparing all pairs; the correlation
// decides, because 64 bits cannot tell two aligned FER faces from an altered copy on their own
// (docs/duplicates.md has the distributions).
import type { Grey } from './fingerprint.js';
import { HammingIndex } from './hammingIndex.js';
import { thumbHash } from './nearHash.js';
import type { DupPair } from './types.js';
import { highPass, THUMB, VIEWS, viewCells } from './views.js';

export interface NearOptions {
  /** Hamming radius of the candidate search (default NEAR_DEFAULTS.radius). */
  radius?: number;
  /** Least thumbnail correlation of a near pair (default NEAR_DEFAULTS.threshold). */
  threshold?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Chosen on planted copies of FERPlus faces (bench:dups, docs/duplicates.md): the radius keeps every planted
 * copy's best view in the candidates (their largest distance was 8); hashing the high-passed thumbnails,
 * not the plain ones, leaves 17x fewer candidates at that radius (the shared face shape is gone); the threshold is the lowest planted copy's correlation (crops are
 * the lowest, 0.82-0.88) rounded down, where the nearest distinct face sits at 0.59 (median) and 0.77 (95%).
 */
export const NEAR_DEFAULTS = { radius: 11, threshold: 0.84 };

const PER = THUMB * THUMB;
const V = VIEWS.length;
/** int8 thumbnails: values of a unit-norm 16 x 16 thumbnail stay within +-0.5 (clamped beyond). */
const Q = 254;

function quantise(t: Float32Array, out: Int8Array, at: number): void {
  for (let i = 0; i < PER; i++) out[at + i] = Math.max(-127, Math.min(127, Math.round(t[i] * Q)));
}

/** Pairs of pictures (indices into `greys`) whose best-matching views correlate at or above the threshold. */
export function nearPairs(greys: readonly Grey[], opts: NearOptions = {}): DupPair[] {
  const radius = opts.radius ?? NEAR_DEFAULTS.radius;
  const threshold = opts.threshold ?? NEAR_DEFAULTS.threshold;
  const n = greys.length;
  const hi = new Uint32Array(n * V);
  const lo = new Uint32Array(n * V);
  const thumbs = new Int8Array(n * V * PER);
  for (let i = 0; i < n; i++) {
    for (let v = 0; v < V; v++) {
      const t = highPass(viewCells(greys[i], v));
      quantise(t, thumbs, (i * V + v) * PER);
      [hi[i * V + v], lo[i * V + v]] = thumbHash(t);
    }
    if (opts.onProgress && i % 2048 === 0) opts.onProgress(i, 2 * n);
  }
  const index = new HammingIndex(hi, lo);
  const best = new Map<number, number>();
  const q = new Int8Array(PER);
  for (let i = 0; i < n; i++) {
    for (const flip of [false, true]) {
      const t = highPass(viewCells(greys[i], 0, flip));
      quantise(t, q, 0);
      const [qh, ql] = thumbHash(t);
      index.search(qh, ql, radius, (entry) => {
        const j = Math.floor(entry / V);
        if (j === i) return;
        let s = 0;
        for (let k = 0, o = entry * PER; k < PER; k++) s += q[k] * thumbs[o + k];
        const c = s / (Q * Q);
        if (c < threshold) return;
        const key = i < j ? i * n + j : j * n + i;
        if (c > (best.get(key) ?? -1)) best.set(key, c);
      });
    }
    if (opts.onProgress && i % 2048 === 0) opts.onProgress(n + i, 2 * n);
  }
  const pairs: DupPair[] = [];
  for (const [key, score] of best) pairs.push({ a: Math.floor(key / n), b: key % n, score: Math.min(1, score) });
  return pairs.sort((x, y) => x.a - y.a || x.b - y.b);
}
