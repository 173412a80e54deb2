// Fixing duplicates through the relabel overlay, each fix ONE action (overlay.ts applyGroup: one
// transaction, one undo, every change in the audit log; the dataset's files are never touched).
import { StoreError, type Store } from './db.js';
import { dupCluster, dupClusters, latestDupScan, type DupClusterRow, type DupMember } from './dupScans.js';
import { applyGroup, type ChangeOptions, type LabelChange } from './overlay.js';

const RANK: Record<string, number> = { train: 0, valid: 1, val: 1, test: 2 };
const rank = (m: DupMember) => RANK[m.split] ?? -1;

function scanOf(store: Store, dataset: number): number {
  const scan = latestDupScan(store, dataset);
  if (!scan) throw new StoreError('no duplicate scan of this dataset in the store: run `kefer data dups SPEC` first');
  return scan.id;
}

/**
 * The copies that leak in one cluster: test members when it also holds train or validation members,
 * validation members when it also holds training members (dups/report.ts leakedCopies, on stored rows).
 */
export function leakedMembers(c: DupClusterRow): DupMember[] {
  const ranks = c.members.map(rank).filter((r) => r >= 0);
  if (!ranks.length) return [];
  const lowest = Math.min(...ranks);
  return c.members.filter((m) => rank(m) > lowest && rank(m) >= 1);
}

export interface FixResult {
  /** Changes made (one action: undone together). */
  changes: LabelChange[];
  /** Clusters the fix looked at. */
  clusters: number;
}

/** Excludes every leaked copy of the stored scan's tier (kefer data dups --exclude-leaks). */
export function excludeLeakedCopies(store: Store, dataset: number, tier: string, opts: ChangeOptions = {}): FixResult {
  const clusters = dupClusters(store, scanOf(store, dataset), tier).filter((c) => c.leaks !== 0);
  const ids = clusters.flatMap((c) => leakedMembers(c).map((m) => m.id));
  return { changes: applyGroup(store, dataset, ids.map((id) => ({ id, kind: 'exclude', value: 1 })), { note: `leaked ${tier} duplicate`, ...opts }), clusters: clusters.length };
}

/** The member a keep-one keeps: in the earliest split (train, then valid, then test), the first by sample order within it. */
export function keptMember(c: DupClusterRow, among: readonly DupMember[] = c.members): DupMember | undefined {
  const r = (m: DupMember) => (rank(m) < 0 ? 9 : rank(m));
  return [...among].sort((a, b) => r(a) - r(b))[0];
}

/**
 * Keeps one image per cluster and excludes the rest (kefer data dups --keep-one): the one kept is the
 * member in the earliest split (train, then valid, then test), the first by sample order within it, so
 * a leak is fixed on the evaluation side.
 */
export function keepOnePerCluster(store: Store, dataset: number, tier: string, opts: ChangeOptions = {}): FixResult {
  const clusters = dupClusters(store, scanOf(store, dataset), tier);
  const ids: string[] = [];
  for (const c of clusters) {
    const keep = keptMember(c);
    for (const m of c.members) if (m !== keep) ids.push(m.id);
  }
  return { changes: applyGroup(store, dataset, ids.map((id) => ({ id, kind: 'exclude', value: 1 })), { note: `${tier} duplicate: one kept per cluster`, ...opts }), clusters: clusters.length };
}

function clusterOf(store: Store, dataset: number, tier: string, cid: number): DupClusterRow {
  const c = dupCluster(store, scanOf(store, dataset), tier, cid);
  if (!c) throw new StoreError(`no ${tier} cluster ${cid} in the stored scan (clusters are numbered from 1, largest first)`);
  return c;
}

/** Relabels every member of one stored cluster to `label` (kefer data dups --relabel-cluster CID LABEL). */
export function relabelDupCluster(store: Store, dataset: number, tier: string, cid: number, label: number, opts: ChangeOptions = {}): FixResult {
  const c = clusterOf(store, dataset, tier, cid);
  const changes = applyGroup(store, dataset, c.members.map((m) => ({ id: m.id, kind: 'label', value: label })), { note: `${tier} duplicate cluster ${cid} relabelled`, ...opts });
  return { changes, clusters: 1 };
}

/** Excludes the leaked copies of one stored cluster (the duplicates view's X), as one action. */
export function excludeLeakedInCluster(store: Store, dataset: number, tier: string, cid: number, opts: ChangeOptions = {}): FixResult {
  const c = clusterOf(store, dataset, tier, cid);
  const ids = leakedMembers(c).map((m) => m.id);
  return { changes: applyGroup(store, dataset, ids.map((id) => ({ id, kind: 'exclude', value: 1 })), { note: `leaked ${tier} duplicate (cluster ${cid})`, ...opts }), clusters: 1 };
}

/**
 * Keeps one image of one stored cluster and excludes the others (the duplicates view's K), as one action:
 * `keep` (a member's sample id) when given, else the member keepOnePerCluster would keep among those not
 * excluded yet; the kept one is included again if it was excluded.
 */
export function keepOneInCluster(store: Store, dataset: number, tier: string, cid: number, opts: ChangeOptions & { keep?: string } = {}): FixResult & { kept: string } {
  const { keep, ...change } = opts;
  const c = clusterOf(store, dataset, tier, cid);
  const kept = keep !== undefined ? c.members.find((m) => m.id === keep) : (keptMember(c, c.members.filter((m) => !m.excluded)) ?? keptMember(c));
  if (!kept) throw new StoreError(`sample '${keep}' is not a member of ${tier} cluster ${cid}`);
  const changes = applyGroup(store, dataset, c.members.map((m) => ({ id: m.id, kind: 'exclude', value: m === kept ? 0 : 1 })), { note: `${tier} duplicate cluster ${cid}: ${kept.id} kept`, ...change });
  return { changes, clusters: 1, kept: kept.id };
}
