// Schema v8: what the diagnostics panel needs to read the KE-FER gap against its class and the FER+
// votes of every sample it lists.
// - records.gap_susp: minus the robust z of the gap within its class (run label, split): the "gap,
//   normalised per class" sort (descending; NULL for neutral labels, where t_y = t_N and the method
//   trains no gap: they sort last);
// - records.votes_pred / vote_entropy / disagree: the share of the annotators' votes for the predicted
//   class, the votes' entropy in bits and whether the annotators disagree about the run's label
//   (data/ferplusVotes.ts); NULL / 0 where the sample has no votes;
// - run_class_stats: per (run, split, run label, signal) the class's robust statistics, quantiles and
//   histogram (issues/classReference.ts), for each sample's z-score, percentile and the inspector's histogram.
import { annotatorsDisagree, voteEntropy, voteShare } from '../data/ferplusVotes.js';
import { classStats, robustZ, type ClassStats } from '../issues/classReference.js';
import type { Db } from './db.js';

/** The schema version that added these columns (migrations.ts). */
export const REFERENCE_SCHEMA_VERSION = 8;

export type ReferenceSignal = 'gap' | 'align';

/** Collects a run's gap / align values per (split, run label) while its records stream in. */
export class ReferenceBuilder {
  private readonly values = new Map<string, { split: string; label: number; gap: number[]; align: number[] }>();

  add(split: string, label: number, gap: number, align: number | null): void {
    const key = `${label}\0${split}`;
    let g = this.values.get(key);
    if (!g) this.values.set(key, (g = { split, label, gap: [], align: [] }));
    if (Number.isFinite(gap)) g.gap.push(gap);
    if (align !== null && Number.isFinite(align)) g.align.push(align);
  }

  finish(): ClassReferences {
    const out = new ClassReferences();
    for (const g of this.values.values()) out.set(g.split, g.label, { gap: classStats(g.gap), align: classStats(g.align) });
    return out;
  }
}

export class ClassReferences {
  private readonly byKey = new Map<string, { split: string; label: number; gap: ClassStats | null; align: ClassStats | null }>();

  set(split: string, label: number, s: { gap: ClassStats | null; align: ClassStats | null }): void {
    this.byKey.set(`${label}\0${split}`, { split, label, ...s });
  }

  get(split: string, label: number): { gap: ClassStats | null; align: ClassStats | null } | undefined {
    return this.byKey.get(`${label}\0${split}`);
  }

  /** The gap_susp column of a record: -robust z of its gap, null for a neutral label or a class without stats. */
  gapSuspicion(split: string, label: number, gap: number, neutralIndex: number): number | null {
    if (label === neutralIndex) return null;
    const s = this.get(split, label)?.gap;
    return s && Number.isFinite(gap) ? Math.round(-robustZ(gap, s) * 1e6) / 1e6 : null;
  }

  /** Replaces the run's stored statistics with these (inside the caller's transaction). */
  write(db: Db, rk: number): void {
    db.prepare('DELETE FROM run_class_stats WHERE run = ?').run(rk);
    const ins = db.prepare('INSERT INTO run_class_stats (run, split, label, signal, stats) VALUES (?, ?, ?, ?, ?)');
    for (const g of this.byKey.values()) {
      for (const signal of ['gap', 'align'] as const) {
        const s = g[signal];
        if (s) ins.run(rk, g.split, g.label, signal, JSON.stringify(s));
      }
    }
  }
}

/** The class statistics of one (run, split, run label), per signal; null where the class has none. */
export function readClassStats(db: Db, rk: number, split: string, label: number): Record<ReferenceSignal, ClassStats | null> {
  const out: Record<ReferenceSignal, ClassStats | null> = { gap: null, align: null };
  for (const [signal, stats] of db.prepare('SELECT signal, stats FROM run_class_stats WHERE run = ? AND split = ? AND label = ?').raw().all(rk, split, label) as [ReferenceSignal, string][]) {
    out[signal] = JSON.parse(stats) as ClassStats;
  }
  return out;
}

/** [votes_pred, vote_entropy, disagree] of a record from its sample's votes (null, null, 0 without votes). */
export function voteColumns(votes: readonly number[] | null | undefined, label: number, pred: number): [number | null, number | null, 0 | 1] {
  if (!votes) return [null, null, 0];
  const share = voteShare(votes, pred);
  return [share === null ? null : Math.round(share * 1e6) / 1e6, voteEntropy(votes), annotatorsDisagree(votes, label) ? 1 : 0];
}

/**
 * Recomputes every v8 column of run `rk` from its stored records and its samples' votes (the v8
 * migration of existing runs). Call inside the caller's write transaction.
 */
export function fillReference(db: Db, rk: number, neutralIndex: number): void {
  const rows = db
    .prepare('SELECT r.sample, r.split, r.label, r.pred, r.gap, r.align, s.votes FROM records r JOIN samples s ON s.sk = r.sample WHERE r.run = ?')
    .raw()
    .all(rk) as [number, string, number, number, number | null, number | null, string | null][];
  const b = new ReferenceBuilder();
  for (const [, split, label, , gap, align] of rows) b.add(split, label, gap ?? NaN, align);
  const refs = b.finish();
  refs.write(db, rk);
  const update = db.prepare('UPDATE records SET gap_susp = ?, votes_pred = ?, vote_entropy = ?, disagree = ? WHERE run = ? AND sample = ?');
  for (const [sample, split, label, pred, gap, , votes] of rows) {
    const v = voteColumns(votes ? (JSON.parse(votes) as number[]) : null, label, pred);
    update.run(refs.gapSuspicion(split, label, gap ?? NaN, neutralIndex), ...v, rk, sample);
  }
}

/**
 * The vote columns of every record of a dataset's runs, after its samples' votes changed (a dataset
 * loaded again with votes: upsertDataset). Only rows whose values differ are written.
 */
export function refreshVoteColumns(db: Db, datasetId: number): number {
  const rows = db
    .prepare(`SELECT r.run, r.sample, r.label, r.pred, r.votes_pred, r.vote_entropy, r.disagree, s.votes FROM records r
      JOIN samples s ON s.sk = r.sample WHERE r.run IN (SELECT rk FROM runs WHERE dataset = ?)`)
    .raw()
    .iterate(datasetId) as Iterable<[number, number, number, number, number | null, number | null, number, string | null]>;
  const update = db.prepare('UPDATE records SET votes_pred = ?, vote_entropy = ?, disagree = ? WHERE run = ? AND sample = ?');
  const changes: [number | null, number | null, 0 | 1, number, number][] = [];
  for (const [run, sample, label, pred, vp, ve, dis, votes] of rows) {
    const v = voteColumns(votes ? (JSON.parse(votes) as number[]) : null, label, pred);
    if (v[0] !== vp || v[1] !== ve || v[2] !== dis) changes.push([...v, run, sample]);
  }
  for (const c of changes) update.run(...c);
  return changes.length;
}
