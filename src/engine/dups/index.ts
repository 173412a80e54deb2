// Duplicates and split leakage (docs/duplicates.md): exact, near and semantic tiers, cross-split leaks,
// conflicting labels.
export { TIERS, type Tier, type DupPair, type DupCluster } from './types.js';
export { fingerprint, exactFingerprint, type Fingerprint, type Grey } from './fingerprint.js';
export { nearPairs, NEAR_DEFAULTS, type NearOptions } from './near.js';
export { semanticPairs, exactPairs, exactNeighbourPairs, annPairs, unitRows, pcaProject, SEMANTIC_DEFAULTS, type SemanticOptions, type SemanticResult } from './semantic.js';
export { clustersOf, pairsOfEqualKeys } from './clusters.js';
export { HammingIndex } from './hammingIndex.js';
export {
  LEAK_KINDS, leakKinds, leakMask, leakPairs, leakedCopies, conflictOf, conflictShare, voteMajority, splitRank,
  type LeakKind, type LeakPair, type Conflict,
} from './report.js';
export { findDuplicates, crossSplitExact, crossSplitOf, THRESHOLDS, type FindOptions, type DupResult, type TierResult, type Threshold, type Embeddings, type CrossSplitExact } from './find.js';
export { plantedCopyOf, plantedCopy, TRANSFORMS, TRANSFORM_TIER, type Transform, type PlantedCopy } from './planted.js';
export { buildPlantedSet, scorePlanted, unnamedLeaks, type PlantedSet, type PlantedCopyTruth, type TransformScore } from './plantedSet.js';
export { summariseTier, storedClusters, type TierSummary, type ClusterInfo, type LeakSummary } from './summary.js';
