// One tier's findings in the terms of the report: cluster sizes, cross-split leaks per kind, label
// conflicts; what `kefer data dups` prints, its --json carries and the store's scan keeps.
import type { Dataset } from '../data/types.js';
import type { TierResult } from './find.js';
import { conflictOf, leakedCopies, leakKinds, leakMask, leakPairs, LEAK_KINDS, type Conflict, type LeakKind, type LeakPair } from './report.js';
import type { DupCluster } from './types.js';

export interface ClusterInfo {
  cluster: DupCluster;
  leaks: LeakKind[];
  conflict: Conflict | null;
}

export interface LeakSummary {
  /** Clusters holding both splits. */
  clusters: number;
  /** Images of the later split in them (the copies that leak). */
  images: number;
  pairs: LeakPair[];
}

export interface TierSummary {
  tier: TierResult;
  clusters: ClusterInfo[];
  /** Images in clusters. */
  images: number;
  /** Cluster size -> count. */
  sizes: Map<number, number>;
  leaks: Record<LeakKind, LeakSummary>;
  /** Images a --exclude-leaks would exclude. */
  leakedCopies: number[];
  conflicts: { labels: number; votes: number; clusters: ClusterInfo[] };
}

const LATER: Record<LeakKind, string[]> = { 'train-test': ['test'], 'train-val': ['valid', 'val'], 'val-test': ['test'] };

export function summariseTier(dataset: Dataset, tier: TierResult, labels: readonly number[]): TierSummary {
  const s = dataset.samples;
  const clusters = tier.clusters.map((c) => ({ cluster: c, leaks: leakKinds(c, s), conflict: conflictOf(c, s, labels) }));
  const sizes = new Map<number, number>();
  let images = 0;
  for (const c of tier.clusters) {
    sizes.set(c.members.length, (sizes.get(c.members.length) ?? 0) + 1);
    images += c.members.length;
  }
  const leaks = Object.fromEntries(LEAK_KINDS.map((k) => [k, { clusters: 0, images: 0, pairs: [] as LeakPair[] }])) as Record<LeakKind, LeakSummary>;
  for (const c of clusters) {
    if (!c.leaks.length) continue;
    const pairs = leakPairs(c.cluster, s);
    for (const k of c.leaks) {
      const l = leaks[k];
      l.clusters++;
      for (const p of pairs) if (p.kind === k) l.pairs.push(p);
      const [from] = k.split('-');
      const earlier = from === 'train' ? ['train'] : ['valid', 'val'];
      if (c.cluster.members.some((m) => earlier.includes(s[m].split))) l.images += c.cluster.members.filter((m) => LATER[k].includes(s[m].split)).length;
    }
  }
  const conflicted = clusters.filter((c) => c.conflict);
  return {
    tier, clusters, images, sizes, leaks,
    leakedCopies: clusters.filter((c) => c.leaks.length).flatMap((c) => leakedCopies(c.cluster, s)),
    conflicts: { labels: conflicted.filter((c) => c.conflict!.labels.length > 1).length, votes: conflicted.filter((c) => c.conflict!.voteMajorities.length > 1).length, clusters: conflicted },
  };
}

/** A summary's clusters as the store keeps them (saveDupScan). */
export function storedClusters(dataset: Dataset, t: TierSummary) {
  return t.clusters.map((c) => ({
    tier: t.tier.tier, cid: c.cluster.id, members: c.cluster.members.map((m) => dataset.samples[m].id),
    leaks: leakMask(c.leaks), conflict: c.conflict !== null, score: c.cluster.minScore,
  }));
}
