// Shared shapes of the duplicate finder: tiers, pairs, clusters.

/**
 * exact: the same decoded pixels; near: the same picture altered (resized, re-compressed, mirrored,
 * brightened, cropped a little), found by perceptual hashes; semantic: embeddings of a run's encoder
 * closer than a cosine threshold (the same face, or very alike faces).
 */
export const TIERS = ['exact', 'near', 'semantic'] as const;
export type Tier = (typeof TIERS)[number];

/** Two samples (indices into the dataset's samples, a < b) a tier calls duplicates. */
export interface DupPair {
  a: number;
  b: number;
  /** Similarity: 1 for exact, the thumbnails' correlation for near, the cosine for semantic. */
  score: number;
}

export interface DupCluster {
  /** Cluster id, stable within one result (1-based, largest clusters first). */
  id: number;
  tier: Tier;
  /** Sample indices, ascending. */
  members: number[];
  /** Least similarity of the pairs that joined it (1 for exact). */
  minScore: number;
}
