// The semantic tier: samples whose embeddings (a run encoder's features v) have a cosine similarity at or
// above a threshold. Below SEMANTIC_DEFAULTS.exactBelow samples every sample is compared with every other
// (usearch's brute-force kernel; faster there: nothing to build); above, each sample's k nearest
// neighbours on a PCA projection of the unit vectors come from k-means cells searched by that kernel (or,
// opts.candidates 'hnsw', usearch's HNSW index), and every candidate's cosine is then computed on the full
// vectors. Projection shortens distances (|P(a - b)| <= |a - b|), so a true pair stays close there, and a
// candidate farther than a pair can be is never checked; the full cosine removes the pairs that only look
// close. Not int8: usearch 2.26's JS wrapper turns an Int8Array into float32 and its float-to-int8 cast
// scales every vector to unit length, which is not the projection's geometry.
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
  /**
   * How candidates are generated above exactBelow: 'cells' (default) groups the projected rows into
   * about sqrt(n * probes) cells around k-means centres and compares each row, by usearch's brute-force kernel,
   * with the rows of its `probes` nearest cells; 'hnsw' searches usearch's HNSW index.
   */
  candidates?: 'cells' | 'hnsw';
  /** Cells a row is compared with ('cells'): its nearest few. */
  probes?: number;
  threads?: number;
  onProgress?: (stage: string) => void;
}

/**
 * threshold: a default NOT validated by a well-trained encoder: bench:dups's briefly trained compact model
 * (36% WAR) puts distinct faces at a median nearest-neighbour cosine of 0.91, above many planted copies,
 * so no threshold separates them there (docs/duplicates.md); pick one per run. exactBelow: where
 * bench:dups measured all pairs and the cells taking about the same time (4,000-8,000). probes: 5, as 3 missed 2 of
 * 3,000 planted pairs at 300,000 (bench/README.md).
 */
export const SEMANTIC_DEFAULTS = {
  threshold: 0.95, k: 16, exactBelow: 6000, reduceTo: 64, candidates: 'cells' as 'cells' | 'hnsw', probes: 5,
  connectivity: 16, expansionAdd: 64, expansionSearch: 64,
};

export interface SemanticResult {
  pairs: DupPair[];
  method: 'exact' | 'ann';
  /** How the candidates were generated ('ann' only). */
  candidates?: 'cells' | 'hnsw';
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

/**
 * Queries [from, to)'s neighbours (batch row q is query from + q, or rowOf(q)) whose cosine reaches the
 * threshold. Neighbours farther than maxDistance (in the search's own distance) are passed over unchecked;
 * keyOf maps a search's keys to rows.
 */
function checkNeighbours(
  found: BatchMatches, from: number, to: number, cosine: (i: number, j: number) => number, threshold: number, out: PairList,
  maxDistance = Infinity, rowOf: (q: number) => number = (q) => from + q, keyOf: (key: number) => number = (key) => key,
): void {
  const stride = Number(found.k);
  const n = to - from;
  for (let q = 0; q < n; q++) {
    const i = rowOf(q);
    const cnt = Number(found.counts[q]);
    for (let t = 0; t < cnt; t++) {
      if (found.distances[q * stride + t] > maxDistance) continue;
      const j = keyOf(Number(found.keys[q * stride + t]));
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

/** Rows projected at a time (each batch a copy of its rows: see exactNeighbourPairs). */
const PROJECT_BATCH = 8192;

/**
 * Every row, scaled to unit length, projected on the directions ([n, r]). The r dot products of a row come
 * from usearch's brute-force kernel with the inner-product metric (distance 1 - dot, every direction among
 * the r "neighbours" of the row): SIMD on threads, about 20x the same loop in JS.
 */
function project(x: Float32Array, inv: Float64Array, n: number, d: number, basis: Float64Array, r: number, threads: number): Float32Array {
  const out = new Float32Array(n * r);
  const dirs = Float32Array.from(basis);
  for (let from = 0; from < n; from += PROJECT_BATCH) {
    const to = Math.min(n, from + PROJECT_BATCH);
    const found = exactSearch(dirs, x.slice(from * d, to * d), d, r, MetricKind.IP, threads) as unknown as BatchMatches;
    if (!('counts' in found)) throw new Error('usearch: a batch search returned single-query matches');
    for (let q = 0, i = from; i < to; q++, i++) {
      if (Number(found.counts[q]) !== r) throw new Error(`usearch: ${found.counts[q]} of ${r} directions returned for row ${i}`);
      for (let t = 0; t < r; t++) out[i * r + Number(found.keys[q * r + t])] = (1 - found.distances[q * r + t]) * inv[i];
    }
  }
  return out;
}

/** The rows scaled to unit length ([n, d]), when there are no fewer directions to project on. */
function scaled(x: Float32Array, inv: Float64Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0, o = i * d; j < d; j++) out[o + j] = x[o + j] * inv[i];
  return out;
}

/**
 * The top-r principal directions of a sample of the (unit) rows, by subspace iteration on their
 * covariance; then every row projected on them ([n, r]).
 */
export function pcaProject(unit: Float32Array, n: number, d: number, r: number, seed = 1): Float32Array {
  const inv = inverseNorms(unit, n, d);
  return project(unit, inv, n, d, principalDirections(unit, inv, n, d, r, seed), r, 2);
}

/** Queries searched a batch at a time (progress between batches; usearch's result arrays stay small). */
const SEARCH_BATCH = 65_536;

type Cosine = (i: number, j: number) => number;

/**
 * Candidate pairs, each checked on the full vectors, from a PCA projection of the unit rows: by cells
 * (cellCandidates) or usearch's HNSW index (hnswCandidates). `x` need not be unit length: cosines use the
 * rows' inverse lengths, so no unit copy of the vectors is made (at 300,000 x 512 that copy alone is 586 MiB).
 */
function annSearch(x: Float32Array, n: number, d: number, opts: SemanticOptions): { pairs: DupPair[]; searchDim: number; candidates: 'cells' | 'hnsw' } {
  const threshold = opts.threshold ?? SEMANTIC_DEFAULTS.threshold;
  const k = Math.min(n - 1, opts.k ?? SEMANTIC_DEFAULTS.k);
  const r = Math.min(d, opts.reduceTo ?? SEMANTIC_DEFAULTS.reduceTo);
  const threads = opts.threads ?? 2;
  const how = opts.candidates ?? SEMANTIC_DEFAULTS.candidates;
  const inv = inverseNorms(x, n, d);
  opts.onProgress?.(r < d ? `projecting ${n} vectors to ${r} principal dimensions` : `scaling ${n} vectors to unit length`);
  const y = r < d ? project(x, inv, n, d, principalDirections(x, inv, n, d, r, 1), r, threads) : scaled(x, inv, n, d);
  const cosine: Cosine = (i, j) => {
    let s = 0;
    for (let t = 0, oi = i * d, oj = j * d; t < d; t++) s += x[oi + t] * x[oj + t];
    return s * inv[i] * inv[j];
  };
  // Orthonormal directions shorten distances: unit rows with cosine c are 2 - 2c apart (squared), their
  // projections no farther, so a candidate farther than 2 - 2 * threshold in the projection cannot reach the
  // threshold and is passed over unchecked (the slack: float32 rounding).
  const maxDistance = 2 * (1 - threshold) + 1e-4;
  const pairs = new PairList();
  if (how === 'cells') cellCandidates(y, n, r, k, opts.probes ?? SEMANTIC_DEFAULTS.probes, threads, maxDistance, cosine, threshold, pairs, opts.onProgress);
  else hnswCandidates(y, n, r, k, opts, threads, maxDistance, cosine, threshold, pairs);
  return { pairs: pairs.toPairs(), searchDim: r, candidates: how };
}

/** Each row's k nearest in usearch's HNSW index of the projected rows. */
function hnswCandidates(y: Float32Array, n: number, r: number, k: number, opts: SemanticOptions, threads: number, maxDistance: number, cosine: Cosine, threshold: number, pairs: PairList): void {
  opts.onProgress?.(`indexing ${n} vectors (usearch HNSW, ${r} dimensions)`);
  const index = new Index({
    dimensions: r, metric: MetricKind.L2sq, quantization: ScalarKind.F32,
    connectivity: opts.connectivity ?? SEMANTIC_DEFAULTS.connectivity, expansion_add: opts.expansionAdd ?? SEMANTIC_DEFAULTS.expansionAdd,
    expansion_search: opts.expansionSearch ?? SEMANTIC_DEFAULTS.expansionSearch, multi: false,
  });
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  index.add(keys, y, threads);
  for (let from = 0; from < n; from += SEARCH_BATCH) {
    opts.onProgress?.(`searching ${k} neighbours of each: ${from} of ${n}`);
    const to = Math.min(n, from + SEARCH_BATCH);
    const found = index.search(y.slice(from * r, to * r), k + 1, threads) as unknown as BatchMatches;
    if (!('counts' in found)) throw new Error('usearch: a batch search returned single-query matches');
    checkNeighbours(found, from, to, cosine, threshold, pairs, maxDistance);
  }
}

/** The rows listed, gathered into one array (usearch's kernel takes whole arrays). */
function gather(y: Float32Array, r: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * r);
  for (let q = 0; q < rows.length; q++) out.set(y.subarray(rows[q] * r, rows[q] * r + r), q * r);
  return out;
}

/** usearch's brute-force search (squared L2) of queries among rows; found: batch results, query offset. */
function bruteForce(rows: Float32Array, queries: Float32Array, r: number, k: number, threads: number, found: (m: BatchMatches, from: number, to: number) => void): void {
  const nRows = rows.length / r, nQueries = queries.length / r;
  const batch = Math.max(1, Math.floor(EXACT_BATCH_BYTES / (16 * nRows)));
  for (let from = 0; from < nQueries; from += batch) {
    const to = Math.min(nQueries, from + batch);
    const m = exactSearch(rows, from === 0 && to === nQueries ? queries : queries.slice(from * r, to * r), r, Math.min(k, nRows), MetricKind.L2sq, threads) as unknown as BatchMatches;
    if (!('counts' in m)) throw new Error('usearch: a batch search returned single-query matches');
    found(m, from, to);
  }
}

/**
 * Candidates by cells: about sqrt(n * probes) centres from a few k-means rounds on a sample of the projected
 * rows; each row lives in the cell of its nearest centre and is compared (usearch's brute-force kernel) with
 * the rows of its `probes` nearest cells, its k nearest there kept. A pair is missed only when neither row's
 * nearest cells hold the other; bench:dups measures how often against all-pairs search.
 */
function cellCandidates(
  y: Float32Array, n: number, r: number, k: number, probes: number, threads: number, maxDistance: number, cosine: Cosine, threshold: number, pairs: PairList,
  onProgress?: (stage: string) => void,
): void {
  const cells = Math.max(1, Math.min(n, Math.round(Math.sqrt(n * probes))));
  const m = Math.min(probes, cells);
  onProgress?.(`grouping ${n} vectors into ${cells} cells (k-means on ${r} dimensions)`);
  const rng = new Rng(2);
  const sample = Int32Array.from(rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.min(n, 32 * cells)));
  const sampleRows = gather(y, r, sample);
  let centres = sampleRows.slice(0, cells * r);
  for (let round = 0; round < 4; round++) {
    const sum = new Float64Array(cells * r), count = new Int32Array(cells);
    bruteForce(centres, sampleRows, r, 1, threads, (found, from, to) => {
      for (let q = from; q < to; q++) {
        const c = Number(found.keys[q - from]);
        count[c]++;
        for (let t = 0; t < r; t++) sum[c * r + t] += sampleRows[q * r + t];
      }
    });
    const next = centres.slice();
    for (let c = 0; c < cells; c++) if (count[c] > 0) for (let t = 0; t < r; t++) next[c * r + t] = sum[c * r + t] / count[c];
    centres = next;
  }
  // every row's m nearest centres; the first is its home
  const near = new Int32Array(n * m);
  for (let from = 0; from < n; from += SEARCH_BATCH) {
    const to = Math.min(n, from + SEARCH_BATCH);
    bruteForce(centres, y.slice(from * r, to * r), r, m, threads, (found, f, t) => {
      const stride = Number(found.k);
      for (let q = f; q < t; q++) for (let p = 0; p < m; p++) near[(from + q) * m + p] = Number(found.keys[(q - f) * stride + p]);
    });
  }
  // members of each cell, and the rows that probe it
  const memberStart = new Int32Array(cells + 1), probeStart = new Int32Array(cells + 1);
  for (let i = 0; i < n; i++) {
    memberStart[near[i * m] + 1]++;
    for (let p = 0; p < m; p++) probeStart[near[i * m + p] + 1]++;
  }
  for (let c = 0; c < cells; c++) {
    memberStart[c + 1] += memberStart[c];
    probeStart[c + 1] += probeStart[c];
  }
  const members = new Int32Array(n), probers = new Int32Array(n * m);
  const mFill = memberStart.slice(0, cells), pFill = probeStart.slice(0, cells);
  for (let i = 0; i < n; i++) {
    members[mFill[near[i * m]]++] = i;
    for (let p = 0; p < m; p++) probers[pFill[near[i * m + p]]++] = i;
  }
  for (let c = 0; c < cells; c++) {
    if (c % 100 === 0) onProgress?.(`comparing each vector with the ${m} nearest of ${cells} cells: cell ${c}`);
    const mem = members.subarray(memberStart[c], memberStart[c + 1]);
    const qs = probers.subarray(probeStart[c], probeStart[c + 1]);
    if (mem.length === 0 || qs.length === 0) continue;
    bruteForce(gather(y, r, mem), gather(y, r, qs), r, k + 1, threads, (found, from, to) => {
      checkNeighbours(found, 0, to - from, cosine, threshold, pairs, maxDistance, (q) => qs[from + q], (key) => mem[key]);
    });
  }
}

/** Candidate pairs (cells or usearch's HNSW index: opts.candidates), each checked on the full vectors. */
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
  const { pairs, searchDim, candidates } = annSearch(vectors, n, d, opts);
  return { pairs, method: 'ann', searchDim, candidates };
}
