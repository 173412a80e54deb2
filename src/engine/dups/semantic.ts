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
  threads?: number;
  onProgress?: (stage: string) => void;
}

/**
 * threshold: a default NOT validated by a well-trained encoder: bench:dups's briefly trained compact model
 * (36% WAR) puts distinct faces at a median nearest-neighbour cosine of 0.91, above many planted copies,
 * so no threshold separates them there (docs/duplicates.md); pick one per run. exactBelow: where
 * bench:dups measured usearch's brute-force search and its index taking about the same time.
 */
export const SEMANTIC_DEFAULTS = { threshold: 0.95, k: 16, exactBelow: 6000, reduceTo: 64 };

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

/**
 * Exact search: every sample compared with every other by usearch's brute-force kernel (SIMD, threads),
 * its k nearest kept, each checked against the threshold. Exact up to k: a sample with more than k
 * others above the threshold keeps its k nearest (they still join one cluster through each other).
 */
export function exactNeighbourPairs(unit: Float32Array, n: number, d: number, threshold: number, k: number, threads = 2): DupPair[] {
  const kk = Math.min(n, k + 1);
  const found = exactSearch(unit, unit, d, kk, MetricKind.Cos, threads) as unknown as BatchMatches;
  if (!('counts' in found)) throw new Error('usearch: a batch search returned single-query matches');
  return neighbourPairs(found, unit, n, d, threshold);
}

function neighbourPairs(found: BatchMatches, unit: Float32Array, n: number, d: number, threshold: number): DupPair[] {
  const pairs: DupPair[] = [];
  const stride = Number(found.k);
  for (let i = 0; i < n; i++) {
    const cnt = Number(found.counts[i]);
    for (let t = 0; t < cnt; t++) {
      const j = Number(found.keys[i * stride + t]);
      if (j === i || j >= n) continue;
      const s = dot(unit, i, j, d);
      if (s >= threshold) pairs.push(i < j ? { a: i, b: j, score: Math.min(1, s) } : { a: j, b: i, score: Math.min(1, s) });
    }
  }
  return dedupePairs(pairs);
}

/**
 * The top-r principal directions (d x r, column-major per direction) of a sample of the rows, by subspace
 * iteration on their covariance; then every row projected on them.
 */
export function pcaProject(unit: Float32Array, n: number, d: number, r: number, seed = 1): Float32Array {
  const rng = new Rng(seed);
  const m = Math.min(n, 4000);
  const rows = m === n ? Array.from({ length: n }, (_, i) => i) : rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, m);
  const mean = new Float64Array(d);
  for (const i of rows) for (let j = 0; j < d; j++) mean[j] += unit[i * d + j] / m;
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (const i of rows) {
    for (let j = 0; j < d; j++) c[j] = unit[i * d + j] - mean[j];
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
  const out = new Float32Array(n * r);
  for (let i = 0; i < n; i++) for (let k = 0; k < r; k++) {
    const v = basis[k];
    let s = 0;
    for (let j = 0, o = i * d; j < d; j++) s += unit[o + j] * v[j];
    out[i * r + k] = s;
  }
  return out;
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

/** Candidate pairs from usearch's HNSW index (k nearest per row), each checked on the full unit vectors. */
export function annPairs(unit: Float32Array, n: number, d: number, opts: SemanticOptions = {}): { pairs: DupPair[]; searchDim: number } {
  const threshold = opts.threshold ?? SEMANTIC_DEFAULTS.threshold;
  const k = Math.min(n - 1, opts.k ?? SEMANTIC_DEFAULTS.k);
  const r = Math.min(d, opts.reduceTo ?? SEMANTIC_DEFAULTS.reduceTo);
  const threads = opts.threads ?? 2;
  opts.onProgress?.(r < d ? `projecting ${n} vectors to ${r} principal dimensions` : 'indexing');
  const x = r < d ? pcaProject(unit, n, d, r) : unit;
  opts.onProgress?.(`indexing ${n} vectors (usearch HNSW, ${r} dimensions)`);
  const index = new Index({ dimensions: r, metric: MetricKind.L2sq, quantization: ScalarKind.F32, connectivity: 16, expansion_add: 64, expansion_search: 64, multi: false });
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  index.add(keys, x, threads);
  opts.onProgress?.(`searching ${k} neighbours of each`);
  // a flat Float32Array of n rows is searched as a batch
  const found = index.search(x, k + 1, threads) as unknown as BatchMatches;
  if (!('counts' in found)) throw new Error('usearch: a batch search returned single-query matches');
  return { pairs: neighbourPairs(found, unit, n, d, threshold), searchDim: r };
}

export function dedupePairs(pairs: DupPair[]): DupPair[] {
  pairs.sort((x, y) => x.a - y.a || x.b - y.b);
  return pairs.filter((p, i) => i === 0 || p.a !== pairs[i - 1].a || p.b !== pairs[i - 1].b);
}

/** Pairs of rows of `vectors` ([n, d], any length) with cosine similarity at or above the threshold. */
export function semanticPairs(vectors: Float32Array, n: number, d: number, opts: SemanticOptions = {}): SemanticResult {
  if (vectors.length !== n * d) throw new RangeError(`semanticPairs: ${vectors.length} values are not ${n} x ${d}`);
  const threshold = opts.threshold ?? SEMANTIC_DEFAULTS.threshold;
  const unit = unitRows(vectors, n, d);
  if (n < (opts.exactBelow ?? SEMANTIC_DEFAULTS.exactBelow)) {
    return { pairs: exactNeighbourPairs(unit, n, d, threshold, opts.k ?? SEMANTIC_DEFAULTS.k, opts.threads ?? 2), method: 'exact', searchDim: d };
  }
  const { pairs, searchDim } = annPairs(unit, n, d, opts);
  return { pairs, method: 'ann', searchDim };
}
