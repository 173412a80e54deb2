// Duplicate scans in the store (schema v7): the clusters `kefer data dups` found, per tier, with their
// leak kinds and label conflicts, so a view can page through them (largest first, filtered by tier, leak
// kind or conflict) without running the finder again, and fixes can name a cluster by its id.
import type { Store } from './db.js';
import { nowIso, StoreError } from './db.js';
import { DUP_SCORES_SCHEMA_VERSION, DUPS_SCHEMA_VERSION } from './dupSchema.js';

export { DUP_SCORES_SCHEMA_VERSION, DUPS_SCHEMA_VERSION };

const hasMemberScores = (store: Store): boolean => (store.db.pragma('user_version', { simple: true }) as number) >= DUP_SCORES_SCHEMA_VERSION;

export interface StoredCluster {
  tier: string;
  cid: number;
  /** Sample ids (the dataset's Sample.id). */
  members: string[];
  leaks: number;
  conflict: boolean;
  score: number;
  /** Per member (same order): its highest similarity to another member of the cluster; absent: not known. */
  scores?: readonly (number | null)[];
}

function requireV7(store: Store): void {
  const v = store.db.pragma('user_version', { simple: true }) as number;
  if (v < DUPS_SCHEMA_VERSION) throw new StoreError(`this store is at schema ${v}: duplicate scans need schema ${DUPS_SCHEMA_VERSION}`);
}

/**
 * Stores a scan's clusters, replacing the dataset's earlier scans (a view shows the latest). Members are
 * the dataset's sample ids; a sample the store does not know is an error (store the dataset first).
 */
export function saveDupScan(store: Store, dataset: number, clusters: Iterable<StoredCluster>, summary: unknown): number {
  requireV7(store);
  const { db } = store;
  let scan = 0;
  db.transaction(() => {
    db.prepare('DELETE FROM dup_scans WHERE dataset = ?').run(dataset);
    scan = Number(db.prepare('INSERT INTO dup_scans (dataset, created, summary) VALUES (?, ?, ?)').run(dataset, nowIso(), JSON.stringify(summary)).lastInsertRowid);
    const sk = new Map<string, number>();
    for (const [sid, k] of db.prepare('SELECT sid, sk FROM samples WHERE dataset = ?').raw().iterate(dataset) as Iterable<[string, number]>) sk.set(sid, k);
    const insC = db.prepare('INSERT INTO dup_clusters (scan, tier, cid, size, leaks, conflict, score) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const scores = hasMemberScores(store);
    const insM = scores
      ? db.prepare('INSERT INTO dup_members (scan, tier, cid, sample, score) VALUES (?, ?, ?, ?, ?)')
      : db.prepare('INSERT INTO dup_members (scan, tier, cid, sample) VALUES (?, ?, ?, ?)');
    for (const c of clusters) {
      insC.run(scan, c.tier, c.cid, c.members.length, c.leaks, c.conflict ? 1 : 0, c.score);
      c.members.forEach((id, i) => {
        const k = sk.get(id);
        if (k === undefined) throw new StoreError(`duplicate scan: sample '${id}' is not in dataset ${dataset} of the store`);
        if (scores) insM.run(scan, c.tier, c.cid, k, c.scores?.[i] ?? null);
        else insM.run(scan, c.tier, c.cid, k);
      });
    }
  }).immediate();
  return scan;
}

export interface DupScanInfo {
  id: number;
  dataset: number;
  created: string;
  summary: unknown;
}

/** The dataset's stored scan, or undefined. */
export function latestDupScan(store: Store, dataset: number): DupScanInfo | undefined {
  if ((store.db.pragma('user_version', { simple: true }) as number) < DUPS_SCHEMA_VERSION) return undefined;
  const r = store.db.prepare('SELECT id, dataset, created, summary FROM dup_scans WHERE dataset = ? ORDER BY id DESC LIMIT 1').get(dataset) as
    | { id: number; dataset: number; created: string; summary: string }
    | undefined;
  return r && { ...r, summary: JSON.parse(r.summary) as unknown };
}

export interface DupMember {
  id: string;
  path: string;
  split: string;
  /** Effective label now (the overlay applied). */
  label: number;
  origLabel: number;
  excluded: boolean;
  /** Its highest similarity to another member of the cluster; null in scans that did not keep it. */
  score: number | null;
}

export interface DupClusterRow {
  tier: string;
  cid: number;
  size: number;
  leaks: number;
  /** Conflict at scan time. */
  conflict: boolean;
  score: number;
  members: DupMember[];
}

export interface DupPageQuery {
  scan: number;
  tier: string;
  /** Only clusters with this leak bit (1 train-test, 2 train-val, 4 val-test); 7 = any leak. */
  leaks?: number;
  conflicting?: boolean;
  /** Keyset: the last row of the previous page. */
  after?: { size: number; cid: number };
  limit?: number;
}

export interface DupPage {
  rows: DupClusterRow[];
  /** Pass as `after` for the next page; undefined on the last page. */
  next?: { size: number; cid: number };
}

/**
 * One page of a scan's clusters, largest first: a keyset walk of a covering index (no OFFSET), then the
 * page's members with their current labels and marks.
 */
export function dupClusterPage(store: Store, q: DupPageQuery): DupPage {
  const limit = Math.max(1, Math.min(q.limit ?? 50, 1000));
  const where = ['scan = ?', 'tier = ?'];
  const args: (string | number)[] = [q.scan, q.tier];
  if (q.leaks) {
    where.push('leaks <> 0', '(leaks & ?) <> 0');
    args.push(q.leaks);
  }
  if (q.conflicting) where.push('conflict = 1');
  if (q.after) {
    where.push('(size < ? OR (size = ? AND cid > ?))');
    args.push(q.after.size, q.after.size, q.after.cid);
  }
  const clusters = store.db
    .prepare(`SELECT tier, cid, size, leaks, conflict, score FROM dup_clusters WHERE ${where.join(' AND ')} ORDER BY size DESC, cid LIMIT ?`)
    .all(...args, limit + 1) as { tier: string; cid: number; size: number; leaks: number; conflict: number; score: number }[];
  const more = clusters.length > limit;
  const page = clusters.slice(0, limit);
  const rows: DupClusterRow[] = page.map((c) => ({ ...c, conflict: c.conflict !== 0, members: [] }));
  if (rows.length) {
    const byCid = new Map(rows.map((r) => [r.cid, r]));
    for (const [cid, m] of membersOf(store, q.scan, q.tier, rows.map((r) => r.cid))) byCid.get(cid)!.members.push(m);
  }
  const last = page.at(-1);
  return { rows, next: more && last ? { size: last.size, cid: last.cid } : undefined };
}

/** The members of clusters `cids` of a scan's tier, with their current labels and marks, by cluster then sample order. */
function membersOf(store: Store, scan: number, tier: string, cids: readonly number[]): [number, DupMember][] {
  const score = hasMemberScores(store) ? 'm.score' : 'NULL';
  const rows = store.db
    .prepare(
      `SELECT m.cid, s.sid, s.path, s.split, s.label, s.orig_label, coalesce(k.excluded, 0), ${score}
       FROM dup_members m JOIN samples s ON s.sk = m.sample LEFT JOIN marks k ON k.sample = m.sample
       WHERE m.scan = ? AND m.tier = ? AND m.cid IN (${cids.map(() => '?').join(',')}) ORDER BY m.cid, m.sample`,
    )
    .raw()
    .all(scan, tier, ...cids) as [number, string, string, string, number, number, number, number | null][];
  return rows.map(([cid, id, path, split, label, origLabel, ex, sc]) => [cid, { id, path, split, label, origLabel, excluded: ex !== 0, score: sc }]);
}

/** One stored cluster of a scan's tier with its members, or undefined (the fixes of one cluster read it). */
export function dupCluster(store: Store, scan: number, tier: string, cid: number): DupClusterRow | undefined {
  const c = store.db.prepare('SELECT tier, cid, size, leaks, conflict, score FROM dup_clusters WHERE scan = ? AND tier = ? AND cid = ?').get(scan, tier, cid) as
    | { tier: string; cid: number; size: number; leaks: number; conflict: number; score: number }
    | undefined;
  if (!c) return undefined;
  return { ...c, conflict: c.conflict !== 0, members: membersOf(store, scan, tier, [cid]).map(([, m]) => m) };
}

/** Number of clusters a page query walks through (the view's count). */
export function dupClusterCount(store: Store, q: Omit<DupPageQuery, 'after' | 'limit'>): number {
  const where = ['scan = ?', 'tier = ?'];
  const args: (string | number)[] = [q.scan, q.tier];
  if (q.leaks) {
    where.push('leaks <> 0', '(leaks & ?) <> 0');
    args.push(q.leaks);
  }
  if (q.conflicting) where.push('conflict = 1');
  return (store.db.prepare(`SELECT count(*) AS n FROM dup_clusters WHERE ${where.join(' AND ')}`).get(...args) as { n: number }).n;
}

/** Every stored cluster of a tier with its members (the fixes walk these). */
export function dupClusters(store: Store, scan: number, tier: string): DupClusterRow[] {
  const out: DupClusterRow[] = [];
  let after: DupPageQuery['after'];
  for (;;) {
    const p = dupClusterPage(store, { scan, tier, after, limit: 1000 });
    out.push(...p.rows);
    if (!p.next) return out;
    after = p.next;
  }
}
