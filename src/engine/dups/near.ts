// The near tier: pictures that are the same picture altered. Each picture is indexed by the 64-bit
// blockhash of the high-passed thumbnails of 19 views (the whole and 18 crops, views.ts); each looks up its whole and its mirror image
// within a Hamming radius (hammingIndex.ts), and a candidate is kept when the two views' high-passed
// thumbnails correlate above a threshold. The hash finds candidates without comparing all pairs; the correlation
// decides, because 64 bits cannot tell two aligned FER faces from an altered copy on their own
// (docs/duplicates.md has the distributions).
// The work is cut into ranges of pictures (fillTables, searchRange) so that worker threads can share it
// (nearParallel.ts); run here, in one thread, the result is the same.
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

export const PER = THUMB * THUMB;
export const V = VIEWS.length;
/** int8 thumbnails: values of a unit-norm 16 x 16 thumbnail stay within +-0.5 (clamped beyond). */
const Q = 254;

function quantise(t: Float32Array, out: Int8Array, at: number): void {
  for (let i = 0; i < PER; i++) out[at + i] = Math.max(-127, Math.min(127, Math.round(t[i] * Q)));
}

/**
 * What the search needs of n pictures: every view's hash (hi, lo: n x V) and int8 high-passed thumbnail
 * (thumbs: n x V x PER), and the mirror image's (flipHi, flipLo, flipThumbs). The whole picture is view 0.
 */
export interface NearTables {
  n: number;
  hi: Uint32Array;
  lo: Uint32Array;
  thumbs: Int8Array;
  flipHi: Uint32Array;
  flipLo: Uint32Array;
  flipThumbs: Int8Array;
}

/** Empty tables for n pictures, on `alloc`'s memory (a SharedArrayBuffer when threads share them). */
export function nearTables(n: number, alloc: (bytes: number) => ArrayBufferLike = (b) => new ArrayBuffer(b)): NearTables {
  return {
    n,
    hi: new Uint32Array(alloc(4 * n * V)),
    lo: new Uint32Array(alloc(4 * n * V)),
    thumbs: new Int8Array(alloc(n * V * PER)),
    flipHi: new Uint32Array(alloc(4 * n)),
    flipLo: new Uint32Array(alloc(4 * n)),
    flipThumbs: new Int8Array(alloc(n * PER)),
  };
}

/** Fills the tables' rows [from, to) from the pictures' grey copies (greyOf(i) is picture i). */
export function fillTables(t: NearTables, greyOf: (i: number) => Grey, from: number, to: number): void {
  const cells = new Float32Array(PER), hp = new Float32Array(PER);
  for (let i = from; i < to; i++) {
    const g = greyOf(i);
    for (let v = 0; v < V; v++) {
      const th = highPass(viewCells(g, v, false, cells), hp);
      quantise(th, t.thumbs, (i * V + v) * PER);
      [t.hi[i * V + v], t.lo[i * V + v]] = thumbHash(th);
    }
    const th = highPass(viewCells(g, 0, true, cells), hp);
    quantise(th, t.flipThumbs, i * PER);
    [t.flipHi[i], t.flipLo[i]] = thumbHash(th);
  }
}

/** The index over every view of every picture (entry e is picture floor(e / V), view e % V). */
export function nearIndex(t: NearTables): HammingIndex {
  return new HammingIndex(t.hi, t.lo);
}

/**
 * Candidate pairs of the pictures [from, to) as queries (their whole and their mirror image), each with
 * the best correlation found from that side: keys a * n + b (a < b) and scores, unordered.
 */
export function searchRange(t: NearTables, index: HammingIndex, from: number, to: number, radius: number, threshold: number): { keys: Float64Array; scores: Float64Array } {
  const n = t.n;
  const best = new Map<number, number>();
  const thumbs = t.thumbs;
  let q = thumbs, qAt = 0, i = 0;
  const visit = (entry: number) => {
    const j = (entry / V) | 0;
    if (j === i) return;
    let s = 0;
    for (let k = 0, o = entry * PER; k < PER; k++) s += q[qAt + k] * thumbs[o + k];
    const c = s / (Q * Q);
    if (c < threshold) return;
    const key = i < j ? i * n + j : j * n + i;
    if (c > (best.get(key) ?? -1)) best.set(key, c);
  };
  for (i = from; i < to; i++) {
    // the whole picture is view 0 of its own entries
    q = thumbs;
    qAt = i * V * PER;
    index.search(t.hi[i * V], t.lo[i * V], radius, visit);
    q = t.flipThumbs;
    qAt = i * PER;
    index.search(t.flipHi[i], t.flipLo[i], radius, visit);
  }
  const keys = new Float64Array(best.size), scores = new Float64Array(best.size);
  let k = 0;
  for (const [key, c] of best) {
    keys[k] = key;
    scores[k++] = c;
  }
  return { keys, scores };
}

/** Pairs from the searches' candidates: each pair once (a < b), its best correlation, sorted by (a, b). */
export function mergeCandidates(n: number, parts: readonly { keys: Float64Array; scores: Float64Array }[]): DupPair[] {
  const best = new Map<number, number>();
  for (const { keys, scores } of parts) for (let k = 0; k < keys.length; k++) if (scores[k] > (best.get(keys[k]) ?? -1)) best.set(keys[k], scores[k]);
  const pairs: DupPair[] = [];
  for (const [key, score] of best) pairs.push({ a: Math.floor(key / n), b: key % n, score: Math.min(1, score) });
  return pairs.sort((x, y) => x.a - y.a || x.b - y.b);
}

/** Pairs of pictures (indices into `greys`) whose best-matching views correlate at or above the threshold. */
export function nearPairs(greys: readonly Grey[], opts: NearOptions = {}): DupPair[] {
  const radius = opts.radius ?? NEAR_DEFAULTS.radius;
  const threshold = opts.threshold ?? NEAR_DEFAULTS.threshold;
  const n = greys.length;
  const t = nearTables(n);
  const STEP = 2048;
  for (let i = 0; i < n; i += STEP) {
    opts.onProgress?.(i, 2 * n);
    fillTables(t, (k) => greys[k], i, Math.min(n, i + STEP));
  }
  const index = nearIndex(t);
  const parts = [];
  for (let i = 0; i < n; i += STEP) {
    opts.onProgress?.(n + i, 2 * n);
    parts.push(searchRange(t, index, i, Math.min(n, i + STEP), radius, threshold));
  }
  return mergeCandidates(n, parts);
}
