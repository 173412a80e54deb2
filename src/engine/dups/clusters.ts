// Pairs -> clusters: the connected components (union-find) of a tier's pairs.
import type { DupCluster, DupPair, Tier } from './types.js';

export function clustersOf(n: number, pairs: readonly DupPair[], tier: Tier): DupCluster[] {
  const parent = new Int32Array(n).map((_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  for (const p of pairs) {
    const a = find(p.a), b = find(p.b);
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
  }
  const members = new Map<number, number[]>();
  const minScore = new Map<number, number>();
  for (const p of pairs) {
    const r = find(p.a);
    minScore.set(r, Math.min(minScore.get(r) ?? 1, p.score));
  }
  for (let i = 0; i < n; i++) {
    const r = find(i);
    if (!minScore.has(r)) continue;
    (members.get(r) ?? members.set(r, []).get(r)!).push(i);
  }
  const out = [...members.entries()].map(([r, m]) => ({ tier, members: m, minScore: minScore.get(r)! }));
  out.sort((x, y) => y.members.length - x.members.length || x.members[0] - y.members[0]);
  return out.map((c, i) => ({ id: i + 1, ...c }));
}

/** Pairs within groups of equal keys (the exact tier): each member joined to the group's first. */
export function pairsOfEqualKeys(keys: readonly string[]): DupPair[] {
  const first = new Map<string, number>();
  const pairs: DupPair[] = [];
  keys.forEach((k, i) => {
    const f = first.get(k);
    if (f === undefined) first.set(k, i);
    else pairs.push({ a: f, b: i, score: 1 });
  });
  return pairs;
}
