// The semantic tier: samples whose embeddings (a run encoder's features v) have a cosine similarity at or
// above a threshold. Below SEMANTIC_DEFAULTS.exactBelow samples every sample is compared with every other
// (usearch's brute-force kernel; faster there: no index to build); above, usearch's HNSW index finds each sample's k nearest neighbours on a PCA projection of the
// unit vectors, and every candidate's cosine is then computed on the full vectors. Projection
// shortens distances (|P(a - b)| <= |a - b|), so a true pair stays close in the index; the full cosine
// removes the pairs that only look close there.
import { exactSearch, Index, MetricKind, ScalarKind, type BatchMatches } from 'usearch';
import { Rng } from '../util/rng.js';
import type { DupPair } from './types.js';

export interface SemanticOptions {
  /** Least cosine similarity of a semantic pair (default SEMANTIC_DEFAULTS.threshold). */
  threshold?: number;
  /** Neighbours kept per sample (index and exact search alike). */
  k?: number;
  /** Compare all pairs below this many samples (default SEMANTIC_DEFAULTS.exactBelow). */
  exactBelow?: number;
  /** Dimensions the index works in (PCA); vectors with fewer are indexed as they are. */
  reduceTo?: number;
  /** usearch HNSW parameters: links per node, and the candidate lists of an insertion and of a search. */
  connectivity?: number;
  expansionAdd?: number;
  expansionSearch?: number;
  threads?: number;
  onProgress?: (stage: string) => void;
}

/**
 * threshold: a default NOT validated by a well-trained encoder: bench:dups's briefly trained compact model
 * (36% WAR) puts distinct faces at a median nearest-neighbour cosine of 0.91, above many planted copies,
 * so no threshold separates them there (docs/duplicates.md); pick one per run. exactBelow: where
 * bench:dups measured usearch's brute-force search and its index taking about the same time.
 */
export const SEMANTIC_DEFAULTS = { threshold: 0.95, k: 16, exactBelow: 6000, reduceTo: 64, connectivity: 16, expansionAdd: 64, expansionSearch: 64 };

export interface SemanticResult {
  pairs: DupPair[];
  method: 'exact' | 'ann';
  /** Dimensions searched in (the index's; the full ones for exact). */
  searchDim: number;
}

/** Unit-length copies of the rows (a zero row stays zero). */
export function unitRows(x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] * x[i * d + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j] * inv;
  }
  return out;
}

function dot(x: Float32Array, a: number, b: number, d: number): number {
  let s = 0;
  for (let j = 0, oa = a * d, ob = b * d; j < d; j++) s += x[oa + j] * x[ob + j];
  return s;
}

/** Every pair compared in JS: n^2 / 2 dot products (tests and small benchmarks; exactNeighbourPairs is faster). */
export function exactPairs(unit: Float32Array, n: number, d: number, threshold: number): DupPair[] {
  const pairs: DupPair[] = [];
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) {
    const s = dot(unit, a, b, d);
    if (s >= threshold) pairs.push({ a, b, score: Math.min(1, s) });
  }
  return pairs;
}

/** Bytes usearch's brute-force search may hold at once: it keeps 16 bytes per (query, row) pair of a batch. */
const EXACT_BATCH_BYTES = 256 * 2 ** 20;

/**
 * Exact search: every sample compared with every other by usearch's brute-force kernel (SIMD, threads),
 * its k nearest kept, each checked against the threshold. Exact up to k: a sample with more than k
 * others above the threshold keeps its k nearest (they still join one cluster through each other).
 * The queries go in batches: the kernel holds a queries x rows distance table (16 bytes an entry), which
 * for all 20,000 rows at once is 6.4 GB.
 */
export function exactNeighbourPairs(unit: Float32Array, n: number, d: number, threshold: number, k: number, threads = 2): DupPair[] {
  const kk = Math.min(n, k + 1);
  const batch = Math.max(1, Math.min(n, Math.floor(EXACT_BATCH_BYTES / (16 * n))));
  const pairs = new PairList();
  // usearch 2.26's exactSearch reads its arrays from the start of their ArrayBuffer, whatever their
  // byteOffset: a subarray is searched as the buffer's first rows. Hence copies, never views.
  const data = unit.byteOffset === 0 && unit.length === unit.buffer.byteLength / 4 ? unit : unit.slice(0, n * d);
  for (let from = 0; from < n; from += batch) {
    const to = Math.min(n, from + batch);
    const found = exactSearch(data, data.slice(from * d, to * d), d, kk, MetricKind.Cos, threads) as unknown as BatchMatches;
    if (!('counts' in found)) throw new Error('usearch: a batch search returned single-query matches');
    checkNeighbours(found, from, to, (i, j) => dot(unit, i, j, d), threshold, pairs);
  }
  return pairs.toPairs();
}

/** Pairs (a < b) with their scores, held in typed arrays while they are collected. */
class PairList {
  private a = new Int32Array(1024);
  private b = new Int32Array(1024);
  private s = new Float64Array(1024);
  length = 0;

  push(i: number, j: number, score: number): void {
    if (this.length === this.a.length) {
      const grow = <T extends Int32Array | Float64Array>(x: T): T => {
        const y = new (x.constructor as new (n: number) => T)(2 * x.length);
        y.set(x);
        return y;
      };
      this.a = grow(this.a);
      this.b = grow(this.b);
      this.s = grow(this.s);
    }
    this.a[this.length] = Math.min(i, j);
    this.b[this.length] = Math.max(i, j);
    this.s[this.length++] = score;
  }

  /** Each pair once, sorted by (a, b): what dedupePairs gives. */
  toPairs(): DupPair[] {
    const order = Uint32Array.from({ length: this.length }, (_, t) => t).sort((x, y) => this.a[x] - this.a[y] || this.b[x] - this.b[y]);
    const out: DupPair[] = [];
    for (let t = 0; t < order.length; t++) {
      const o = order[t];
      if (t > 0 && this.a[o] === this.a[order[t - 1]] && this.b[o] === this.b[order[t - 1]]) continue;
      out.push({ a: this.a[o], b: this.b[o], score: Math.min(1, this.s[o]) });
    }
    return out;
  }
}

/** Queries [from, to)'s neighbours (batch row q is query from + q) whose cosine reaches the threshold. */
function checkNeighbours(found: BatchMatches, from: number, to: number, cosine: (i: number, j: number) => number, threshold: number, out: PairList): void {
  const stride = Number(found.k);
  const n = to - from;
  for (let q = 0; q < n; q++) {
    const i = from + q;
    const cnt = Number(found.counts[q]);
    for (let t = 0; t < cnt; t++) {
      const j = Number(found.keys[q * stride + t]);
      if (j === i) continue;
      const s = cosine(i, j);
      if (s >= threshold) out.push(i, j, s);
    }
  }
}

/** Inverse lengths of the rows (0 for a zero row): cosines and projections of unit rows without a unit copy. */
function inverseNorms(x: Float32Array, n: number, d: number): Float64Array {
  const inv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0, o = i * d; j < d; j++) s += x[o + j] * x[o + j];
    inv[i] = s > 0 ? 1 / Math.sqrt(s) : 0;
  }
  return inv;
}

/**
 * The top-r principal directions ([r, d], row-major) of the unit rows, from a sample of at most 4,000 of
 * them, by subspace iteration on their covariance.
 */
function principalDirections(x: Float32Array, inv: Float64Array, n: number, d: number, r: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const m = Math.min(n, 4000);
  const rows = m === n ? Array.from({ length: n }, (_, i) => i) : rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, m);
  const mean = new Float64Array(d);
  for (const i of rows) for (let j = 0; j < d; j++) mean[j] += (x[i * d + j] * inv[i]) / m;
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (const i of rows) {
    for (let j = 0; j < d; j++) c[j] = x[i * d + j] * inv[i] - mean[j];
    for (let p = 0; p < d; p++) {
      const cp = c[p];
      if (cp === 0) continue;
      const o = p * d;
      for (let q = p; q < d; q++) cov[o + q] += cp * c[q];
    }
  }
  for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) cov[q * d + p] = cov[p * d + q];
  let basis = Array.from({ length: r }, () => Float64Array.from({ length: d }, () => rng.normal()));
  for (let it = 0; it < 8; it++) {
    basis = basis.map((v) => {
      const out = new Float64Array(d);
      for (let p = 0; p < d; p++) {
        let s = 0;
        for (let q = 0, o = p * d; q < d; q++) s += cov[o + q] * v[q];
        out[p] = s;
      }
      return out;
    });
    orthonormalise(basis);
  }
  const flat = new Float64Array(r * d);
  basis.forEach((v, k) => flat.set(v, k * d));
  return flat;
}

function orthonormalise(vs: Float64Array[]): void {
  for (let k = 0; k < vs.length; k++) {
    const v = vs[k];
    for (let p = 0; p < k; p++) {
      let s = 0;
      for (let j = 0; j < v.length; j++) s += v[j] * vs[p][j];
      for (let j = 0; j < v.length; j++) v[j] -= s * vs[p][j];
    }
    let nrm = 0;
    for (let j = 0; j < v.length; j++) nrm += v[j] * v[j];
    const inv = nrm > 0 ? 1 / Math.sqrt(nrm) : 0;
    for (let j = 0; j < v.length; j++) v[j] *= inv;
  }
}

/** Every row, scaled to unit length, projected on the directions ([n, r]). */
function project(x: Float32Array, inv: Float64Array, n: number, d: number, basis: Float64Array, r: number): Float32Array {
  const out = new Float32Array(n * r);
  // four directions a pass over the row: a row is read once per four outputs
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let k = 0;
    for (; k + 4 <= r; k += 4) {
      const b0 = k * d, b1 = b0 + d, b2 = b1 + d, b3 = b2 + d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = 0; j < d; j++) {
        const v = x[o + j];
        s0 += v * basis[b0 + j];
        s1 += v * basis[b1 + j];
        s2 += v * basis[b2 + j];
        s3 += v * basis[b3 + j];
      }
      out[i * r + k] = s0 * inv[i];
      out[i * r + k + 1] = s1 * inv[i];
      out[i * r + k + 2] = s2 * inv[i];
      out[i * r + k + 3] = s3 * inv[i];
    }
    for (; k < r; k++) {
      let s = 0;
      for (let j = 0, b = k * d; j < d; j++) s += x[o + j] * basis[b + j];
      out[i * r + k] = s * inv[i];
    }
  }
  return out;
}

/**
 * The top-r principal directions of a sample of the (unit) rows, by subspace iteration on their
 * covariance; then every row projected on them ([n, r]).
 */
export function pcaProject(unit: Float32Array, n: number, d: number, r: number, seed = 1): Float32Array {
  const inv = inverseNorms(unit, n, d);
  return project(unit, inv, n, d, principalDirections(unit, inv, n, d, r, seed), r);
}

/** Queries searched a batch at a time (progress between batches; usearch's result arrays stay small). */
const SEARCH_BATCH = 65_536;

/**
 * Candidate pairs from usearch's HNSW index (k nearest per row) on a PCA projection of the unit rows,
 * each checked on the full vectors. `x` need not be unit length: cosines use the rows' inverse lengths,
 * so no unit copy of the vectors is made (at 300,000 x 512 that copy alone is 586 MiB).
 */
function annSearch(x: Float32Array, n: number, d: number, opts: SemanticOptions): { pairs: DupPair[]; searchDim: number } {
  const threshold = opts.threshold ?? SEMANTIC_DEFAULTS.threshold;
  const k = Math.min(n - 1, opts.k ?? SEMANTIC_DEFAULTS.k);
  const r = Math.min(d, opts.reduceTo ?? SEMANTIC_DEFAULTS.reduceTo);
  const threads = opts.threads ?? 2;
  const inv = inverseNorms(x, n, d);
  opts.onProgress?.(r < d ? `projecting ${n} vectors to ${r} principal dimensions` : 'indexing');
  const basis = r < d ? principalDirections(x, inv, n, d, r, 1) : identity(d);
  const y = project(x, inv, n, d, basis, r);
  opts.onProgress?.(`indexing ${n} vectors (usearch HNSW, ${r} dimensions)`);
  const index = new Index({
    dimensions: r, metric: MetricKind.L2sq, quantization: ScalarKind.F32,
    connectivity: opts.connectivity ?? SEMANTIC_DEFAULTS.connectivity, expansion_add: opts.expansionAdd ?? SEMANTIC_DEFAULTS.expansionAdd,
    expansion_search: opts.expansionSearch ?? SEMANTIC_DEFAULTS.expansionSearch, multi: false,
  });
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  index.add(keys, y, threads);
  const pairs = new PairList();
  const cosine = (i: number, j: number) => {
    let s = 0;
    for (let t = 0, oi = i * d, oj = j * d; t < d; t++) s += x[oi + t] * x[oj + t];
    return s * inv[i] * inv[j];
  };
  for (let from = 0; from < n; from += SEARCH_BATCH) {
    opts.onProgress?.(`searching ${k} neighbours of each: ${from} of ${n}`);
    const to = Math.min(n, from + SEARCH_BATCH);
    // a flat Float32Array of rows is searched as a batch
    const found = index.search(y.subarray(from * r, to * r), k + 1, threads) as unknown as BatchMatches;
    if (!('counts' in found)) throw new Error('usearch: a batch search returned single-query matches');
    checkNeighbours(found, from, to, cosine, threshold, pairs);
  }
  return { pairs: pairs.toPairs(), searchDim: r };
}

function identity(d: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let j = 0; j < d; j++) m[j * d + j] = 1;
  return m;
}

/** Candidate pairs from usearch's HNSW index (k nearest per row), each checked on the full unit vectors. */
export function annPairs(unit: Float32Array, n: number, d: number, opts: SemanticOptions = {}): { pairs: DupPair[]; searchDim: number } {
  return annSearch(unit, n, d, opts);
}

export function dedupePairs(pairs: DupPair[]): DupPair[] {
  pairs.sort((x, y) => x.a - y.a || x.b - y.b);
  return pairs.filter((p, i) => i === 0 || p.a !== pairs[i - 1].a || p.b !== pairs[i - 1].b);
}

/** Pairs of rows of `vectors` ([n, d], any length) with cosine similarity at or above the threshold. */
export function semanticPairs(vectors: Float32Array, n: number, d: number, opts: SemanticOptions = {}): SemanticResult {
  if (vectors.length !== n * d) throw new RangeError(`semanticPairs: ${vectors.length} values are not ${n} x ${d}`);
  const threshold = opts.threshold ?? SEMANTIC_DEFAULTS.threshold;
  if (n < (opts.exactBelow ?? SEMANTIC_DEFAULTS.exactBelow)) {
    const unit = unitRows(vectors, n, d);
    return { pairs: exactNeighbourPairs(unit, n, d, threshold, opts.k ?? SEMANTIC_DEFAULTS.k, opts.threads ?? 2), method: 'exact', searchDim: d };
  }
  const { pairs, searchDim } = annSearch(vectors, n, d, opts);
  return { pairs, method: 'ann', searchDim };
}
