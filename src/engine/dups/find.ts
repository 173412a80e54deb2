// The duplicate finder end to end: fingerprints every image, then each tier's pairs and clusters.
import type { Dataset } from '../data/types.js';
import { clustersOf, pairsOfEqualKeys } from './clusters.js';
import { NEAR_DEFAULTS, type NearOptions } from './near.js';
import { leakedCopies, leakPairs, type LeakPair } from './report.js';
import { scanImages } from './scan.js';
import { dedupePairs, SEMANTIC_DEFAULTS, semanticPairs, type SemanticOptions } from './semantic.js';
import type { DupCluster, DupPair, Tier } from './types.js';

export interface Embeddings {
  /** [samples, dim] in dataset order. */
  vectors: Float32Array;
  dim: number;
  /** Where they come from, in words (the run and checkpoint). */
  source: string;
}

export interface FindOptions {
  /** Default: exact and near, and semantic when embeddings are given. */
  tiers?: Tier[];
  near?: NearOptions;
  semantic?: SemanticOptions;
  embeddings?: Embeddings;
  /** Images decoded at once on this thread (by sharp: what the scan threads cannot decode). */
  concurrency?: number;
  /** Threads the exact and near scan runs on (default: the machine's cores, at most 8, from 2,000 images; 1: this thread). */
  threads?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface Threshold {
  value: number;
  /** What is compared. */
  measure: string;
  /** How the value was chosen. */
  how: string;
}

export const THRESHOLDS: Record<Tier, (o: FindOptions) => Threshold> = {
  exact: () => ({ value: 1, measure: 'identical decoded pixels (sha1 of the pixels; an opaque alpha and grey RGB normalised away)', how: 'no threshold: equal or not' }),
  near: (o) => ({
    value: o.near?.threshold ?? NEAR_DEFAULTS.threshold,
    measure: `correlation of high-passed 16x16 thumbnails of the best-matching views (whole, 18 crops, mirrored), candidates within Hamming ${o.near?.radius ?? NEAR_DEFAULTS.radius} of their 64-bit blockhash`,
    how: o.near?.threshold === undefined
      ? 'default, chosen by bench:dups from planted copies of real FERPlus faces (resize, JPEG, flip, brightness, 5-10% crop): the lowest copies (crops) correlate above it, while the nearest distinct face correlates 0.59 at the median and 0.77 at the 95th percentile'
      : 'given on the command line',
  }),
  semantic: (o) => ({
    value: o.semantic?.threshold ?? SEMANTIC_DEFAULTS.threshold,
    measure: `cosine similarity of the run's embeddings${o.embeddings ? ` (${o.embeddings.source})` : ''}`,
    how: o.semantic?.threshold === undefined
      ? 'default, NOT validated: on bench:dups\'s briefly trained compact model (36% WAR) planted copies and distinct faces overlap in cosine (docs/duplicates.md), so choose it per run (--semantic-threshold) from a well-trained encoder'
      : 'given on the command line',
  }),
};

export interface TierResult {
  tier: Tier;
  threshold: Threshold;
  pairs: DupPair[];
  clusters: DupCluster[];
  /** Semantic: 'exact' (all pairs) or 'ann' (usearch). */
  method?: string;
  seconds: number;
}

export interface DupResult {
  dataset: Dataset;
  /** sha1 of each sample's decoded pixels (dataset order). */
  exactHashes: string[];
  tiers: TierResult[];
  /** Fingerprinting time (decode + hash). */
  fingerprintSeconds: number;
  /** Threads the exact and near scan ran on (1: the calling thread). */
  scanThreads: number;
}

const now = () => performance.now() / 1000;

export async function findDuplicates(dataset: Dataset, opts: FindOptions = {}): Promise<DupResult> {
  const tiers = opts.tiers ?? (opts.embeddings ? ['exact', 'near', 'semantic'] : ['exact', 'near']);
  if (tiers.includes('semantic') && !opts.embeddings) throw new RangeError('the semantic tier needs a run\'s embeddings (--run RUN)');
  const n = dataset.samples.length;
  if (opts.embeddings && opts.embeddings.vectors.length !== n * opts.embeddings.dim) {
    throw new RangeError(`embeddings hold ${opts.embeddings.vectors.length / opts.embeddings.dim} rows for ${n} samples`);
  }
  const scan = await scanImages(dataset, { near: tiers.includes('near'), nearOptions: opts.near, threads: opts.threads, concurrency: opts.concurrency, onProgress: opts.onProgress });
  const exactHashes = scan.hashes;
  const fingerprintSeconds = scan.fingerprintSeconds;
  const exactP = pairsOfEqualKeys(exactHashes);
  const out: TierResult[] = [];
  for (const tier of tiers) {
    const t = now();
    let pairs: DupPair[];
    let method: string | undefined;
    let searched = 0;
    if (tier === 'exact') pairs = exactP;
    else if (tier === 'near') {
      // searched during the scan, on its threads
      pairs = dedupePairs([...exactP, ...scan.nearPairs!]);
      searched = scan.nearSeconds;
    } else {
      const e = opts.embeddings!;
      const r = semanticPairs(e.vectors, n, e.dim, { ...opts.semantic, onProgress: (s) => opts.onProgress?.(s, 0, 0) });
      pairs = dedupePairs([...exactP, ...r.pairs]);
      method = r.method === 'ann' ? `${r.candidates === 'hnsw' ? 'usearch HNSW' : `k-means cells (usearch brute force, ${opts.semantic?.probes ?? SEMANTIC_DEFAULTS.probes} nearest cells a sample)`} on ${r.searchDim} PCA dimensions, candidates checked on the full ${e.dim}` : `all pairs (${n} samples, below ${opts.semantic?.exactBelow ?? SEMANTIC_DEFAULTS.exactBelow})`;
    }
    out.push({ tier, threshold: THRESHOLDS[tier](opts), pairs, clusters: clustersOf(n, pairs, tier), method, seconds: searched + now() - t });
  }
  return { dataset, exactHashes, tiers: out, fingerprintSeconds, scanThreads: scan.threads };
}

export interface CrossSplitExact {
  /** Exact clusters spanning two or more splits. */
  clusters: DupCluster[];
  pairs: LeakPair[];
  /** Samples that leak (test copies of train/valid pictures, valid copies of train pictures). */
  leaked: number[];
}

/** The exact tier only, cross-split (kefer data check, kefer eval): decode and hash, no near search. */
export async function crossSplitExact(dataset: Dataset, opts: { concurrency?: number; threads?: number } = {}): Promise<CrossSplitExact> {
  const { hashes } = await scanImages(dataset, { near: false, threads: opts.threads, concurrency: opts.concurrency });
  return crossSplitOf(dataset, clustersOf(dataset.samples.length, pairsOfEqualKeys(hashes), 'exact'));
}

export function crossSplitOf(dataset: Dataset, clusters: DupCluster[]): CrossSplitExact {
  const cross = clusters.filter((c) => new Set(c.members.map((m) => dataset.samples[m].split)).size > 1);
  return {
    clusters: cross,
    pairs: cross.flatMap((c) => leakPairs(c, dataset.samples)),
    leaked: cross.flatMap((c) => leakedCopies(c, dataset.samples)).sort((a, b) => a - b),
  };
}
