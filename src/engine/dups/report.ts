// What a tier's clusters mean for a dataset: cross-split leaks, clusters whose labels disagree (and
// whose FER+ vote majorities disagree), and the copies a fix would exclude.
import type { Sample } from '../data/types.js';
import type { DupCluster } from './types.js';

export const LEAK_KINDS = ['train-test', 'train-val', 'val-test'] as const;
export type LeakKind = (typeof LEAK_KINDS)[number];

/** Split rank: train 0, valid 1, test 2; other split names (folds) take no part in leaks. */
export function splitRank(split: string): number {
  return split === 'train' ? 0 : split === 'valid' || split === 'val' ? 1 : split === 'test' ? 2 : -1;
}

const KIND_OF: Record<string, LeakKind> = { '0,2': 'train-test', '0,1': 'train-val', '1,2': 'val-test' };

/** The leak kinds a cluster's splits make. */
export function leakKinds(cluster: DupCluster, samples: readonly Sample[]): LeakKind[] {
  const ranks = new Set(cluster.members.map((m) => splitRank(samples[m].split)).filter((r) => r >= 0));
  const out: LeakKind[] = [];
  for (const k of LEAK_KINDS) {
    const [a, b] = Object.entries(KIND_OF).find(([, v]) => v === k)![0].split(',').map(Number);
    if (ranks.has(a) && ranks.has(b)) out.push(k);
  }
  return out;
}

/** Leak kind bits for storage: train-test 1, train-val 2, val-test 4. */
export function leakMask(kinds: readonly LeakKind[]): number {
  return kinds.reduce((m, k) => m | (1 << LEAK_KINDS.indexOf(k)), 0);
}

export interface LeakPair {
  kind: LeakKind;
  /** Sample indices: a in the earlier split (train before valid before test). */
  a: number;
  b: number;
}

/** Clusters up to this size list every cross-split pair; larger ones pair each member with one per earlier split. */
export const ALL_PAIRS_UP_TO = 50;

/**
 * The cross-split pairs of a cluster: every one in a cluster of up to ALL_PAIRS_UP_TO members; in a larger
 * one each member is paired with the first member of each earlier split (so the listing stays linear in
 * the cluster's size, and every leaked image is still named).
 */
export function leakPairs(cluster: DupCluster, samples: readonly Sample[]): LeakPair[] {
  const out: LeakPair[] = [];
  const all = cluster.members.length <= ALL_PAIRS_UP_TO;
  const firstOf = new Map<number, number>();
  for (const m of cluster.members) {
    const r = splitRank(samples[m].split);
    if (r >= 0 && !firstOf.has(r)) firstOf.set(r, m);
  }
  for (const b of cluster.members) {
    const rb = splitRank(samples[b].split);
    if (rb <= 0) continue;
    const partners = all ? cluster.members : [...firstOf.values()];
    for (const a of partners) {
      const ra = splitRank(samples[a].split);
      if (ra < 0 || ra >= rb) continue;
      out.push({ kind: KIND_OF[`${ra},${rb}`], a, b });
    }
  }
  return out;
}

/**
 * The copies that leak: a cluster's test members when it also holds train or validation samples, and its
 * validation members when it also holds training samples. Excluding them leaves each evaluation split
 * free of pictures trained (or selected) on.
 */
export function leakedCopies(cluster: DupCluster, samples: readonly Sample[]): number[] {
  const ranks = cluster.members.map((m) => splitRank(samples[m].split));
  const lowest = Math.min(...ranks.filter((r) => r >= 0));
  return cluster.members.filter((m, i) => ranks[i] > lowest && ranks[i] >= 1);
}

/**
 * The FER+ majority of a Sample.votes vector (canonical classes, then unknown, NF): votes of 1 dropped,
 * more than half of the rest; a class index, 'unknown' / 'NF', or null when there is none.
 */
export function voteMajority(votes: readonly number[]): number | 'unknown' | 'NF' | null {
  const v = votes.map((x) => (x <= 1 ? 0 : x));
  const total = v.reduce((a, b) => a + b, 0);
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  if (!(v[best] > 0.5 * total)) return null;
  return best < 8 ? best : best === 8 ? 'unknown' : 'NF';
}

export interface Conflict {
  /** Distinct labels of the members (effective labels). */
  labels: number[];
  /** Distinct FER+ vote majorities where members have votes and a majority (empty otherwise). */
  voteMajorities: (number | string)[];
}

/** Label conflicts of a cluster; null when all members carry one label and one vote majority. */
export function conflictOf(cluster: DupCluster, samples: readonly Sample[], labels: readonly number[]): Conflict | null {
  const ls = [...new Set(cluster.members.map((m) => labels[m]))].sort((a, b) => a - b);
  const maj = new Set<number | string>();
  for (const m of cluster.members) {
    const v = samples[m].votes;
    const x = v ? voteMajority(v) : null;
    if (x !== null) maj.add(x);
  }
  const voteMajorities = maj.size > 1 ? [...maj] : [];
  return ls.length > 1 || voteMajorities.length ? { labels: ls, voteMajorities } : null;
}

/** Per sample: the share of its cluster mates whose label differs from its own (0 outside conflicts). */
export function conflictShare(n: number, clusters: readonly DupCluster[], labels: readonly number[]): Float64Array {
  const out = new Float64Array(n);
  for (const c of clusters) {
    if (c.members.length < 2) continue;
    for (const m of c.members) {
      let differ = 0;
      for (const o of c.members) if (o !== m && labels[o] !== labels[m]) differ++;
      out[m] = Math.max(out[m], differ / (c.members.length - 1));
    }
  }
  return out;
}
