// Fixing duplicates through the relabel overlay, each fix ONE action (overlay.ts applyGroup: one
// transaction, one undo, every change in the audit log; the dataset's files are never touched).
import { StoreError, type Store } from './db.js';
import { dupClusterPage, dupClusters, latestDupScan, type DupClusterRow, type DupMember } from './dupScans.js';
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

/**
 * Keeps one image per cluster and excludes the rest (kefer data dups --keep-one): the one kept is the
 * member in the earliest split (train, then valid, then test), the first by sample order within it, so
 * a leak is fixed on the evaluation side.
 */
export function keepOnePerCluster(store: Store, dataset: number, tier: string, opts: ChangeOptions = {}): FixResult {
  const clusters = dupClusters(store, scanOf(store, dataset), tier);
  const ids: string[] = [];
  for (const c of clusters) {
    const keep = [...c.members].sort((a, b) => (rank(a) < 0 ? 9 : rank(a)) - (rank(b) < 0 ? 9 : rank(b)))[0];
    for (const m of c.members) if (m !== keep) ids.push(m.id);
  }
  return { changes: applyGroup(store, dataset, ids.map((id) => ({ id, kind: 'exclude', value: 1 })), { note: `${tier} duplicate: one kept per cluster`, ...opts }), clusters: clusters.length };
}

/** Relabels every member of one stored cluster to `label` (kefer data dups --relabel-cluster CID LABEL). */
export function relabelDupCluster(store: Store, dataset: number, tier: string, cid: number, label: number, opts: ChangeOptions = {}): FixResult {
  const scan = scanOf(store, dataset);
  const page = dupClusterPage(store, { scan, tier, after: undefined, limit: 1000 });
  let c = page.rows.find((r) => r.cid === cid);
  if (!c) c = dupClusters(store, scan, tier).find((r) => r.cid === cid);
  if (!c) throw new StoreError(`no ${tier} cluster ${cid} in the stored scan (clusters are numbered from 1, largest first)`);
  const changes = applyGroup(store, dataset, c.members.map((m) => ({ id: m.id, kind: 'label', value: label })), { note: `${tier} duplicate cluster ${cid} relabelled`, ...opts });
  return { changes, clusters: 1 };
}
