// The duplicates view's store side: which dataset a view names (by its root), the stored scan's summary
// in the protocol's terms, a page of clusters with each member's leak flag, and the fixes of one
// cluster, each ONE overlay action (store/dupFixes.ts). Runs in the curation worker (CurationService).
import * as path from 'node:path';
import {
  dupClusterCount, dupClusterPage, excludeLeakedInCluster, keepOneInCluster, latestDupScan, leakedMembers, listDatasets, relabelDupCluster,
  type DatasetRow, type DupClusterRow, type DupMember, type Store,
} from '../../engine/store/index.js';
import { DUP_LEAK_BITS, DUP_LEAK_KINDS, DUP_TIERS, type DupFix, type DupLeakKind, type DupQuery, type DupTier, type DupTierSummary } from '../../webviews/protocol.js';

/**
 * The stored dataset at `root`: where several readers registered the same folder (`folder:` and
 * `synthetic:`), the one with the newest duplicate scan, else the first registered.
 */
export function datasetByRoot(store: Store, root: string): DatasetRow | undefined {
  const want = path.resolve(root);
  const all = listDatasets(store).filter((d) => path.resolve(d.root) === want);
  const scanned = all.map((d) => ({ d, scan: latestDupScan(store, d.id)?.id ?? 0 })).sort((a, b) => b.scan - a.scan);
  return scanned[0]?.d;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The scan's per-tier summary as `kefer data dups` stored it (cli/dups.ts summaryJson), read defensively. */
export function scanSummary(summary: unknown): DupTierSummary[] {
  if (!Array.isArray(summary)) return [];
  const out: DupTierSummary[] = [];
  for (const t of summary as Record<string, unknown>[]) {
    if (!t || !(DUP_TIERS as readonly unknown[]).includes(t.tier)) continue;
    const th = (t.threshold ?? {}) as Record<string, unknown>;
    const leaks = (t.leaks ?? {}) as Record<string, Record<string, unknown> | undefined>;
    const conflicts = (t.conflicts ?? {}) as Record<string, unknown>;
    out.push({
      tier: t.tier as DupTier, threshold: num(th.value), measure: str(th.measure), how: str(th.how), clusters: num(t.clusters), images: num(t.images),
      leaks: Object.fromEntries(DUP_LEAK_KINDS.map((k) => [k, { clusters: num(leaks[k]?.clusters), images: num(leaks[k]?.images) }])) as DupTierSummary['leaks'],
      leakedCopies: num(t.leakedCopies), conflicts: num(conflicts.labels),
    });
  }
  return out;
}

export type DupClusterWithLeaks = Omit<DupClusterRow, 'leaks' | 'members'> & { leaks: DupLeakKind[]; members: (DupMember & { leaked: boolean })[] };

/** A page of the scan's clusters (keyset, largest first), each member flagged when it is a leaked copy. */
export function clusterPage(store: Store, scan: number, q: DupQuery): { total: number; rows: DupClusterWithLeaks[]; next: { size: number; cid: number } | null } {
  const f = q.filter;
  const leaks = f.leak === null ? undefined : f.leak === 'any' ? 7 : DUP_LEAK_BITS[f.leak];
  const filter = { scan, tier: f.tier, leaks, conflicting: f.conflicting || undefined };
  const p = dupClusterPage(store, { ...filter, after: q.after ?? undefined, limit: q.limit });
  // the count walks the filter's partial index: milliseconds at 40,000 clusters (bench:dups panel)
  const total = dupClusterCount(store, filter);
  return { total, rows: p.rows.map(withLeaks), next: p.next ?? null };
}

const SPLIT_ORDER: Record<string, number> = { train: 0, valid: 1, val: 1, test: 2 };
const splitOrder = (m: DupMember): number => SPLIT_ORDER[m.split] ?? 3;

/** Members in split order (train first: the pictures the copies leak from, then validation, then test), each flagged when it leaks. */
function withLeaks(c: DupClusterRow): DupClusterWithLeaks {
  const leaked = new Set(leakedMembers(c).map((m) => m.id));
  const members = [...c.members].sort((a, b) => splitOrder(a) - splitOrder(b)).map((m) => ({ ...m, leaked: leaked.has(m.id) }));
  return { ...c, leaks: DUP_LEAK_KINDS.filter((k) => (c.leaks & DUP_LEAK_BITS[k]) !== 0), members };
}

const copies = (n: number) => `${n} cop${n === 1 ? 'y' : 'ies'}`;

/** Applies one fix to one cluster as ONE overlay action; the samples it changed and what it did, in words. */
export function applyDupFix(store: Store, dataset: DatasetRow, tier: DupTier, cid: number, fix: DupFix): { ids: string[]; message: string } {
  const opts = {};
  const what = `${tier} cluster ${cid}`;
  const undoHint = ' (one action: U undoes it)';
  switch (fix.kind) {
    case 'excludeLeaks': {
      const r = excludeLeakedInCluster(store, dataset.id, tier, cid, opts);
      return { ids: r.changes.map((c) => c.sampleId), message: r.changes.length ? `Excluded ${copies(r.changes.length)} leaked from ${what}${undoHint}` : `${what}: no leaked copy left to exclude` };
    }
    case 'keepOne': {
      const r = keepOneInCluster(store, dataset.id, tier, cid, { ...opts, keep: fix.keep });
      const excluded = r.changes.filter((c) => c.newValue === 1).length;
      return { ids: r.changes.map((c) => c.sampleId), message: r.changes.length ? `Kept ${r.kept} of ${what}, excluded ${excluded} other${excluded === 1 ? '' : 's'}${undoHint}` : `${what}: only ${r.kept} is kept already` };
    }
    case 'relabel': {
      const r = relabelDupCluster(store, dataset.id, tier, cid, fix.label, opts);
      const name = dataset.classes[fix.label] ?? String(fix.label);
      return { ids: r.changes.map((c) => c.sampleId), message: r.changes.length ? `Relabelled ${r.changes.length} image${r.changes.length === 1 ? '' : 's'} of ${what} to ${name}${undoHint}` : `${what}: every member is ${name} already` };
    }
  }
}
