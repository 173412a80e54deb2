// Read queries behind the diagnostics panel. Each is shaped to walk one index (see migrations.ts v2)
// so that it answers in milliseconds at AffectNet scale (300k samples x several runs).
//
// Label bases: "run" labels are the labels a run was scored against (records.label, fixed at import:
// reproduces the run's metrics); "effective" labels are the current labels with the relabel overlay.
import type { ClassName } from '../classes.js';
import { StoreError, type Store } from './db.js';
import { getDataset, sampleKeyOf, type SampleKey } from './datasets.js';
import { labelLog, type LabelChange } from './overlay.js';
import { decodeProbs } from './probsBlob.js';
import { getRun, runKey } from './runs.js';
import { MIN_REVIEWS } from '../issues/calibrate.js';
import { readRunVector } from './vectors.js';

/**
 * Grid orders; 'cl' = confident learning (prune by noise rate: flagged first, each group by self-confidence);
 * 'calibrated' = the issue ranking calibrated on the spot-check reviews (spotCheck.ts; none until then);
 * 'spotcheck' = the seeded random review order, which lists every record of a run (spotCheckPage), never a filtered set.
 */
export type SortKey = 'confidence' | 'gap' | 'gapz' | 'issue' | 'margin' | 'cl' | 'calibrated' | 'entropy' | 'votes' | 'spotcheck';
export const SORT_KEYS: readonly SortKey[] = ['issue', 'calibrated', 'cl', 'confidence', 'margin', 'gapz', 'gap', 'votes', 'entropy', 'spotcheck'];
/**
 * Sorted most suspicious first by default: descending scores (issue, cl, calibrated; gapz = the gap's
 * per-class suspicion, -robust z; votes = the share of votes for the predicted class; entropy = the
 * votes' entropy), ascending evidence (the rest). The v8 columns are NULL where they do not apply
 * (neutral labels, samples without votes): descending, those come last.
 */
const DESCENDING: ReadonlySet<SortKey> = new Set(['issue', 'cl', 'calibrated', 'gapz', 'votes', 'entropy']);
/** The records column of each order (and the suffix of its rec_wrong_ / rec_cell_ indexes). */
const COLUMN: Record<SortKey, string> = {
  confidence: 'confidence', gap: 'gap', gapz: 'gap_susp', issue: 'issue', margin: 'margin', cl: 'cl', calibrated: 'cal',
  entropy: 'vote_entropy', votes: 'votes_pred', spotcheck: 'spot',
};
export type LabelBasis = 'run' | 'effective';

/** Keyset cursor: pass the previous page's `next` to get the following page. */
export interface PageCursor {
  value: number;
  sample: number;
}

export interface PageOptions {
  /** Default 'confidence'. */
  sort?: SortKey;
  /** Default: most suspicious first (confidence/gap/margin/spotcheck ascending, issue/cl/calibrated descending). */
  order?: 'asc' | 'desc';
  /** Default 200. */
  limit?: number;
  after?: PageCursor;
  /** Offset paging (slower for deep pages than `after`). */
  offset?: number;
}

export interface MistakeFilter {
  /** Class index of the run label. */
  trueClass?: number;
  predClass?: number;
  split?: string;
  /** true: only samples relabeled since (effective != original); false: only untouched ones. */
  relabeled?: boolean;
  /** true: only samples whose annotators disagree about the run label (records.disagree, FER+ votes). */
  disagree?: boolean;
}

export interface RecordRow {
  sample: number;
  id: string;
  path: string;
  split: string;
  /** Label the run was scored against. */
  label: number;
  pred: number;
  /** Current effective label and the dataset's original label. */
  effLabel: number;
  origLabel: number;
  relabeled: boolean;
  excluded: boolean;
  unsure: boolean;
  /** Someone confirmed the label (the 'confirm' mark). */
  confirmed: boolean;
  confidence: number;
  margin: number;
  issue: number;
  /** Confident-learning ranking score (flagged samples >= 1). */
  cl: number;
  /** Flagged by confident learning: the class the sample likely belongs to and that class's threshold t_j; null when not flagged. */
  clFlag: { cls: number; threshold: number } | null;
  /** P(label wrong) calibrated on the spot-check reviews; null until the run is calibrated. */
  cal: number | null;
  /** Rank in the dataset's spot-check order. */
  spot: number;
  /** -(robust z of the gap within its class); null for neutral labels (v8). */
  gapSusp: number | null;
  /** Share of the votes for the predicted class, the votes' entropy in bits; null without votes. */
  votesPred: number | null;
  voteEntropy: number | null;
  /** The annotators disagree about the run label. */
  disagree: boolean;
  gap: number;
  simText: number;
  simNeutral: number;
  align: number | null;
  probs: number[];
  /** The annotators' vote counts where the dataset has them (Sample.votes); set on page rows. */
  votes?: number[];
}

export interface Page {
  rows: RecordRow[];
  /** Cursor for the next page; null on the last page. */
  next: PageCursor | null;
}

interface Plan {
  /** records column */
  col: string;
  dir: 'ASC' | 'DESC';
}

function plan(opts: PageOptions): Plan {
  const sort = opts.sort ?? 'confidence';
  let asc = !DESCENDING.has(sort);
  if (opts.order) asc = opts.order === 'asc';
  if (!SORT_KEYS.includes(sort)) throw new StoreError(`unknown sort key '${sort}'`);
  return { col: COLUMN[sort], dir: asc ? 'ASC' : 'DESC' };
}

/**
 * Mistake and cell pages: the spot-check order is refused (it lists every record: spotCheckPage), the
 * calibrated one needs the run calibrated (its scores are NULL before).
 */
function filteredPlan(store: Store, rk: number, runId: string, opts: PageOptions): Plan {
  if (opts.sort === 'spotcheck') throw new StoreError('the spot-check order lists every record of a run, never a filtered set: use spotCheckPage');
  if (opts.sort === 'calibrated' && !store.db.prepare('SELECT 1 FROM run_calibrations WHERE run = ?').get(rk)) {
    throw new StoreError(`run '${runId}' is not calibrated yet: review at least ${MIN_REVIEWS} samples in the spot-check order (relabel, exclude or confirm each)`);
  }
  return plan(opts);
}

function pageArgs(opts: PageOptions): { limit: number; offset: number } {
  const limit = opts.limit ?? 200;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw new StoreError(`page size ${limit} out of range 1..10000`);
  return { limit, offset: opts.offset ?? 0 };
}

function keyset(p: Plan, after: PageCursor | undefined, where: string[], args: unknown[]): void {
  if (!after) return;
  where.push(`(r.${p.col}, r.sample) ${p.dir === 'ASC' ? '>' : '<'} (?, ?)`);
  args.push(after.value, after.sample);
}

/** WHERE terms shared by mistakesPage and countMistakes (all but `relabeled`). */
function mistakeWhere(rk: number, filter: MistakeFilter): { where: string[]; args: unknown[] } {
  const where = ['r.run = ?', 'r.pred <> r.label'];
  const args: unknown[] = [rk];
  if (filter.trueClass !== undefined) {
    where.push('r.label = ?');
    args.push(filter.trueClass);
  }
  if (filter.predClass !== undefined) {
    where.push('r.pred = ?');
    args.push(filter.predClass);
  }
  if (filter.split !== undefined) {
    where.push('r.split = ?');
    args.push(filter.split);
  }
  if (filter.disagree) where.push('r.disagree = 1');
  return { where, args };
}

/** How many samples mistakesPage would list in all (the panel's virtual grid needs the total). */
export function countMistakes(store: Store, runId: string, filter: MistakeFilter = {}): number {
  const rk = runKey(store, runId);
  const { where, args } = mistakeWhere(rk, filter);
  if (filter.relabeled === true) {
    const { dataset } = store.db.prepare('SELECT dataset FROM runs WHERE rk = ?').get(rk) as { dataset: number };
    const sql = `SELECT count(*) FROM samples s INDEXED BY samples_relabeled CROSS JOIN records r
      WHERE s.dataset = ? AND s.label <> s.orig_label AND r.sample = s.sk AND ${where.join(' AND ')}`;
    return store.db.prepare(sql).pluck().get(dataset, ...args) as number;
  }
  if (filter.relabeled === false) where.push('NOT EXISTS (SELECT 1 FROM samples s WHERE s.sk = r.sample AND s.label <> s.orig_label)');
  // "annotators disagree": only samples with votes can, so start from that partial index
  return store.db.prepare(`SELECT count(*) FROM records r INDEXED BY ${filter.disagree ? 'rec_disagree' : 'rec_wrong_conf'} WHERE ${where.join(' AND ')}`).pluck().get(...args) as number;
}

/** Misclassified samples (pred != run label) of a run, filtered and sorted, one page. */
export function mistakesPage(store: Store, runId: string, filter: MistakeFilter = {}, opts: PageOptions = {}): Page {
  const rk = runKey(store, runId);
  const p = filteredPlan(store, rk, runId, opts);
  const { limit, offset } = pageArgs(opts);
  const { where, args } = mistakeWhere(rk, filter);
  keyset(p, opts.after, where, args);
  let sql: string;
  if (filter.relabeled === true) {
    // Few relabeled samples: start from them (partial index) and sort the handful that match.
    const { dataset } = store.db.prepare('SELECT dataset FROM runs WHERE rk = ?').get(rk) as { dataset: number };
    sql = `SELECT r.sample, r.${p.col} AS v FROM samples s INDEXED BY samples_relabeled CROSS JOIN records r
      WHERE s.dataset = ? AND s.label <> s.orig_label AND r.sample = s.sk AND ${where.join(' AND ')}
      ORDER BY r.${p.col} ${p.dir}, r.sample ${p.dir} LIMIT ? OFFSET ?`;
    args.unshift(dataset);
  } else {
    if (filter.relabeled === false) where.push('NOT EXISTS (SELECT 1 FROM samples s WHERE s.sk = r.sample AND s.label <> s.orig_label)');
    // Walk the partial sort index; filter columns are in the index, so no table lookups. The few rows
    // whose annotators disagree: start from their partial index and sort them.
    const index = filter.disagree ? 'rec_disagree' : `rec_wrong_${p.col === 'confidence' ? 'conf' : p.col}`;
    sql = `SELECT r.sample, r.${p.col} AS v FROM records r INDEXED BY ${index}
      WHERE ${where.join(' AND ')} ORDER BY r.${p.col} ${p.dir}, r.sample ${p.dir} LIMIT ? OFFSET ?`;
  }
  args.push(limit, offset);
  const keys = store.db.prepare(sql).raw().all(...args) as [number, number][];
  return finishPage(store, rk, keys, limit);
}

/** Most sample ids one selection page may name (a scatter lasso). */
export const MAX_SELECTION = 50_000;

/**
 * A run's records of the samples `ids` names (a lasso in the embedding scatter: right and wrong
 * predictions alike), with the mistake filters' label / prediction / split / relabeled / disagree
 * terms, sorted like the other pages; the total comes with the page. Ids the run did not evaluate are left out.
 */
export function selectionPage(store: Store, runId: string, ids: readonly string[], filter: MistakeFilter = {}, opts: PageOptions = {}): Page & { total: number } {
  if (ids.length > MAX_SELECTION) throw new StoreError(`a selection of ${ids.length} samples is more than ${MAX_SELECTION}`);
  const rk = runKey(store, runId);
  const p = filteredPlan(store, rk, runId, opts);
  const { limit, offset } = pageArgs(opts);
  const { dataset } = store.db.prepare('SELECT dataset FROM runs WHERE rk = ?').get(rk) as { dataset: number };
  const where = ['r.run = ?'];
  const args: unknown[] = [JSON.stringify(ids), dataset, rk];
  const term = (sql: string, v: unknown): void => {
    where.push(sql);
    args.push(v);
  };
  if (filter.trueClass !== undefined) term('r.label = ?', filter.trueClass);
  if (filter.predClass !== undefined) term('r.pred = ?', filter.predClass);
  if (filter.split !== undefined) term('r.split = ?', filter.split);
  if (filter.relabeled !== undefined) where.push(filter.relabeled ? 's.label <> s.orig_label' : 's.label = s.orig_label');
  if (filter.disagree) where.push('r.disagree = 1');
  // the ids drive the loop: each a sample lookup (dataset, sid) and a record lookup (run, sample)
  const from = `(SELECT DISTINCT value AS sid FROM json_each(?)) sel CROSS JOIN samples s ON s.dataset = ? AND s.sid = sel.sid
    CROSS JOIN records r ON r.sample = s.sk WHERE ${where.join(' AND ')}`;
  const total = store.db.prepare(`SELECT count(*) FROM ${from}`).pluck().get(...args) as number;
  const keys = store.db
    .prepare(`SELECT r.sample, r.${p.col} AS v FROM ${from} ORDER BY r.${p.col} ${p.dir}, r.sample ${p.dir} LIMIT ? OFFSET ?`)
    .raw()
    .all(...args, limit, offset) as [number, number][];
  return { ...finishPage(store, rk, keys, limit), total };
}

/**
 * One confusion-matrix cell (true class x predicted class, diagonal included), one page.
 * basis 'run' (default) drills into the matrix of `confusion(..., 'run')`; 'effective' into the other.
 */
export function cellPage(store: Store, runId: string, trueClass: number, predClass: number, opts: PageOptions & { basis?: LabelBasis } = {}): Page {
  const rk = runKey(store, runId);
  const p = filteredPlan(store, rk, runId, opts);
  const { limit, offset } = pageArgs(opts);
  const index = `rec_cell_${p.col === 'confidence' ? 'conf' : p.col}`;
  const effective = opts.basis === 'effective';
  // Rows of the run-label cell (index walk: (run, label, pred, sortkey, eff)); on the effective basis
  // only those whose label was not changed since.
  const where = ['r.run = ?', 'r.label = ?', 'r.pred = ?'];
  const args: unknown[] = [rk, trueClass, predClass];
  if (effective) where.push('r.eff = r.label');
  keyset(p, opts.after, where, args);
  const order = `ORDER BY r.${p.col} ${p.dir}, r.sample ${p.dir}`;
  const main = store.db
    .prepare(`SELECT r.sample, r.${p.col} AS v FROM records r INDEXED BY ${index} WHERE ${where.join(' AND ')} ${order} LIMIT ? OFFSET ?`)
    .raw()
    .all(...args, effective ? limit + offset : limit, effective ? 0 : offset) as [number, number][];
  if (!effective) return finishPage(store, rk, main, limit);
  // Plus the few rows relabeled INTO this cell, merged in JS.
  const whereB = ['r.run = ?', 'r.eff <> r.label', 'r.eff = ?', 'r.pred = ?'];
  const argsB: unknown[] = [rk, trueClass, predClass];
  keyset(p, opts.after, whereB, argsB);
  const moved = store.db
    .prepare(`SELECT r.sample, r.${p.col} AS v FROM records r INDEXED BY rec_eff_diff WHERE ${whereB.join(' AND ')}`)
    .raw()
    .all(...argsB) as [number, number][];
  const sign = p.dir === 'ASC' ? 1 : -1;
  const merged = [...main, ...moved].sort((x, y) => sign * (x[1] - y[1] || x[0] - y[0])).slice(offset, offset + limit);
  return finishPage(store, rk, merged, limit);
}

type RawRecordRow = [
  number, string, string, string, number, number, number, number, number, number, number, number, number, number, number, number, number | null, Buffer,
  number, number | null, number | null, number, number | null, number,
  number | null, number | null, number | null, number,
];
const RAW_RECORD_LENGTH = 28;

const RECORD_COLUMNS = `r.sample, s.sid, s.path, r.split, r.label, r.pred, s.label, s.orig_label,
  coalesce(m.excluded, 0), coalesce(m.unsure, 0), r.confidence, r.margin, r.issue, r.gap, r.sim_text, r.sim_neutral, r.align, r.probs,
  r.cl, r.cl_class, r.cl_threshold, coalesce(m.confirmed, 0), r.cal, r.spot, r.gap_susp, r.votes_pred, r.vote_entropy, r.disagree`;

function toRecordRow(x: RawRecordRow): RecordRow {
  return {
    sample: x[0],
    id: x[1],
    path: x[2],
    split: x[3],
    label: x[4],
    pred: x[5],
    effLabel: x[6],
    origLabel: x[7],
    relabeled: x[6] !== x[7],
    excluded: x[8] !== 0,
    unsure: x[9] !== 0,
    confidence: x[10],
    margin: x[11],
    issue: x[12],
    gap: x[13],
    simText: x[14],
    simNeutral: x[15],
    align: x[16],
    probs: decodeProbs(x[17]),
    cl: x[18],
    clFlag: x[19] !== null && x[20] !== null ? { cls: x[19], threshold: x[20] } : null,
    confirmed: x[21] !== 0,
    cal: x[22],
    spot: x[23],
    gapSusp: x[24],
    votesPred: x[25],
    voteEntropy: x[26],
    disagree: x[27] === 1,
  };
}

/** Full rows for a page of sample keys, in the given order, with the sample's votes (the panel shows them beside the label). */
function detailRows(store: Store, rk: number, samples: number[]): RecordRow[] {
  if (samples.length === 0) return [];
  const rows = store.db
    .prepare(
      `SELECT ${RECORD_COLUMNS}, s.votes FROM records r JOIN samples s ON s.sk = r.sample LEFT JOIN marks m ON m.sample = r.sample
       WHERE r.run = ? AND r.sample IN (SELECT value FROM json_each(?))`,
    )
    .raw()
    .all(rk, JSON.stringify(samples)) as [...RawRecordRow, string | null][];
  const withVotes = (x: [...RawRecordRow, string | null]): RecordRow => {
    const row = toRecordRow(x.slice(0, RAW_RECORD_LENGTH) as RawRecordRow);
    const votes = x[RAW_RECORD_LENGTH];
    return votes ? { ...row, votes: JSON.parse(votes) as number[] } : row;
  };
  const bySample = new Map(rows.map((x) => [x[0], withVotes(x)]));
  return samples.map((s) => bySample.get(s)).filter((r): r is RecordRow => r !== undefined);
}

function finishPage(store: Store, rk: number, keys: [number, number][], limit: number): Page {
  const rows = detailRows(store, rk, keys.map((k) => k[0]));
  const last = keys[keys.length - 1];
  return { rows, next: keys.length === limit && last ? { value: last[1], sample: last[0] } : null };
}

export interface Confusion {
  basis: LabelBasis;
  classes: string[];
  /** matrix[true][pred] counts. */
  matrix: number[][];
  n: number;
  accuracy: number;
}

/**
 * Confusion matrix of a run on its run labels (default: reproduces the run's metrics) or on current
 * effective labels (the run's predictions scored against the corrected labels).
 */
export function confusion(store: Store, runId: string, basis: LabelBasis = 'run'): Confusion {
  const run = getRun(store, runId);
  const classes: string[] = [...getDataset(store, run.dataset).classes];
  const v = readRunVector(store.db, run.rk);
  if (!v) throw new StoreError(`run '${runId}' has no evaluation records`);
  let k = classes.length;
  for (let i = 0; i < v.labels.length; i++) k = Math.max(k, v.labels[i] + 1, v.preds[i] + 1);
  // Only records relabeled since the run differ between the two bases: a handful of index rows.
  const moved =
    basis === 'effective'
      ? (store.db.prepare('SELECT label, eff, pred FROM records INDEXED BY rec_eff_diff WHERE run = ? AND eff <> label').raw().all(run.rk) as [number, number, number][])
      : [];
  for (const [, e] of moved) k = Math.max(k, e + 1);
  while (classes.length < k) classes.push(`class${classes.length}`);
  const flat = new Float64Array(k * k);
  for (let i = 0; i < v.labels.length; i++) flat[v.labels[i] * k + v.preds[i]]++;
  for (const [l, e, p] of moved) {
    flat[l * k + p]--;
    flat[e * k + p]++;
  }
  const matrix = Array.from({ length: k }, (_, t) => Array.from(flat.subarray(t * k, (t + 1) * k)));
  let right = 0;
  for (let t = 0; t < k; t++) right += matrix[t][t];
  const n = v.labels.length;
  return { basis, classes, matrix, n, accuracy: n ? right / n : 0 };
}

export interface ClassCounts {
  classes: ClassName[];
  /** Counts by the dataset's original labels. */
  original: number[];
  /** Counts by effective labels (overlay applied, excluded samples still counted). */
  effective: number[];
  /** Samples marked exclude, by effective label. */
  excluded: number[];
  total: number;
}

/** Samples per class of a dataset (optionally one split). */
export function classCounts(store: Store, dataset: number, opts: { split?: string } = {}): ClassCounts {
  const d = getDataset(store, dataset);
  const k = d.classes.length;
  const original = new Array<number>(k).fill(0);
  const effective = new Array<number>(k).fill(0);
  const excluded = new Array<number>(k).fill(0);
  const grow = (a: number[], i: number) => {
    while (a.length <= i) a.push(0);
  };
  const splitWhere = opts.split === undefined ? '' : ' AND split = ?';
  const args: unknown[] = opts.split === undefined ? [dataset] : [dataset, opts.split];
  let total = 0;
  // Original counts are cached per (split, label) at import; effective ones adjust them by the
  // relabeled samples (partial index).
  for (const [o, c] of store.db
    .prepare(`SELECT label, sum(n) FROM dataset_counts WHERE dataset = ?${splitWhere} GROUP BY label`)
    .raw()
    .iterate(...args) as Iterable<[number, number]>) {
    grow(original, o);
    grow(effective, o);
    original[o] += c;
    effective[o] += c;
    total += c;
  }
  for (const [o, e] of store.db
    .prepare(`SELECT orig_label, label FROM samples INDEXED BY samples_relabeled WHERE dataset = ? AND label <> orig_label${splitWhere}`)
    .raw()
    .iterate(...args) as Iterable<[number, number]>) {
    grow(effective, Math.max(o, e));
    effective[o]--;
    effective[e]++;
  }
  // CROSS JOIN keeps marks (a few rows) as the outer loop instead of a scan of the dataset's samples.
  for (const [e, c] of store.db
    .prepare(`SELECT s.label, count(*) FROM marks m CROSS JOIN samples s ON s.sk = m.sample WHERE m.excluded = 1 AND s.dataset = ?${splitWhere.replace('split', 's.split')} GROUP BY s.label`)
    .raw()
    .iterate(...args) as Iterable<[number, number]>) {
    grow(excluded, e);
    excluded[e] += c;
  }
  return { classes: d.classes, original, effective, excluded, total };
}

export interface SampleHistory {
  sample: { key: number; id: string; path: string; split: string; origLabel: number; label: number; excluded: boolean; unsure: boolean; confirmed: boolean; votes?: number[] };
  /** Label and mark changes, oldest first. */
  changes: LabelChange[];
  /** The sample's evaluation record in every run that has one, oldest run first. */
  records: (Omit<RecordRow, 'sample' | 'id' | 'path'> & { run: string; created: string })[];
}

export function sampleHistory(store: Store, key: SampleKey): SampleHistory {
  const sk = sampleKeyOf(store, key);
  const s = store.db
    .prepare('SELECT s.sid, s.path, s.split, s.orig_label, s.label, coalesce(m.excluded, 0) AS ex, coalesce(m.unsure, 0) AS un, coalesce(m.confirmed, 0) AS co, s.votes FROM samples s LEFT JOIN marks m ON m.sample = s.sk WHERE s.sk = ?')
    .get(sk) as { sid: string; path: string; split: string; orig_label: number; label: number; ex: number; un: number; co: number; votes: string | null };
  const changes = labelLog(store, { dataset: key.dataset, sample: key.id }).reverse();
  const recs = store.db
    .prepare(
      `SELECT ${RECORD_COLUMNS}, u.id, u.created FROM records r INDEXED BY records_sample JOIN runs u ON u.rk = r.run
       JOIN samples s ON s.sk = r.sample LEFT JOIN marks m ON m.sample = r.sample WHERE r.sample = ? ORDER BY u.created, u.rk`,
    )
    .raw()
    .all(sk) as [...RawRecordRow, string, string][];
  const records = recs.map((x) => {
    const { sample: _s, id: _i, path: _p, ...rest } = toRecordRow(x.slice(0, RAW_RECORD_LENGTH) as RawRecordRow);
    return { ...rest, run: x[RAW_RECORD_LENGTH] as string, created: x[RAW_RECORD_LENGTH + 1] as string };
  });
  return {
    sample: { key: sk, id: s.sid, path: s.path, split: s.split, origLabel: s.orig_label, label: s.label, excluded: s.ex !== 0, unsure: s.un !== 0, confirmed: s.co !== 0, ...(s.votes ? { votes: JSON.parse(s.votes) as number[] } : {}) },
    changes,
    records,
  };
}

/**
 * Every record of a run in the dataset's spot-check order (a seeded random order: spotRanks.ts), one page.
 * No filter: a spot-check is a random sample of the whole run, which a filter would bias.
 */
export function spotCheckPage(store: Store, runId: string, opts: Omit<PageOptions, 'sort' | 'order'> = {}): Page {
  const rk = runKey(store, runId);
  const p: Plan = { col: 'spot', dir: 'ASC' };
  const { limit, offset } = pageArgs(opts);
  const where = ['r.run = ?'];
  const args: unknown[] = [rk];
  keyset(p, opts.after, where, args);
  const keys = store.db
    .prepare(`SELECT r.sample, r.spot AS v FROM records r INDEXED BY rec_spot WHERE ${where.join(' AND ')} ORDER BY r.spot, r.sample LIMIT ? OFFSET ?`)
    .raw()
    .all(...args, limit, offset) as [number, number][];
  return finishPage(store, rk, keys, limit);
}

/** One line per record of a run: enough for per-class statistics and the embedding scatter. */
export interface RecordBrief {
  id: string;
  split: string;
  /** Run label, current effective label, prediction. */
  label: number;
  eff: number;
  pred: number;
  align: number | null;
}

/** Every record of a run (one scan of its records, no probability BLOBs decoded). */
export function runRecordBriefs(store: Store, runId: string): RecordBrief[] {
  const rk = runKey(store, runId);
  const rows = store.db
    .prepare('SELECT s.sid, r.split, r.label, r.eff, r.pred, r.align FROM records r JOIN samples s ON s.sk = r.sample WHERE r.run = ?')
    .raw()
    .all(rk) as [string, string, number, number, number, number | null][];
  return rows.map(([id, split, label, eff, pred, align]) => ({ id, split, label, eff, pred, align }));
}

export type CompareKind = 'changed' | 'fixed' | 'broken';

export interface CompareRow {
  sample: number;
  id: string;
  path: string;
  split: string;
  labelA: number;
  labelB: number;
  predA: number;
  predB: number;
  effLabel: number;
  confidenceA: number;
  confidenceB: number;
}

export interface RunComparison {
  a: { id: string; n: number; accuracy: number };
  b: { id: string; n: number; accuracy: number };
  /** Samples evaluated by both runs, and both runs' accuracy on them (each on its own run labels). */
  common: number;
  commonAccuracyA: number;
  commonAccuracyB: number;
  /** Common samples whose prediction differs; fixed = wrong in A, right in B; broken = the reverse. */
  changed: number;
  fixed: number;
  broken: number;
  /** One page (sample-key order) of the requested kind. */
  kind: CompareKind;
  rows: CompareRow[];
  /** Offset of the next page, or null. */
  nextOffset: number | null;
}

/** Compares two runs (e.g. before/after a retrain) via their packed prediction vectors. */
export function compareRuns(store: Store, runA: string, runB: string, opts: { kind?: CompareKind; limit?: number; offset?: number } = {}): RunComparison {
  const rkA = runKey(store, runA);
  const rkB = runKey(store, runB);
  const va = readRunVector(store.db, rkA);
  const vb = readRunVector(store.db, rkB);
  if (!va || !vb) throw new StoreError(`run '${!va ? runA : runB}' has no evaluation records`);
  const kind = opts.kind ?? 'changed';
  const limit = opts.limit ?? 200;
  const offset = opts.offset ?? 0;
  let rightA = 0;
  let rightB = 0;
  for (let i = 0; i < va.samples.length; i++) if (va.labels[i] === va.preds[i]) rightA++;
  for (let i = 0; i < vb.samples.length; i++) if (vb.labels[i] === vb.preds[i]) rightB++;
  let common = 0;
  let cA = 0;
  let cB = 0;
  let changed = 0;
  let fixed = 0;
  let broken = 0;
  let matched = 0;
  const page: { sample: number; i: number; j: number }[] = [];
  // Both vectors are sorted by sample key: one merge pass.
  for (let i = 0, j = 0; i < va.samples.length && j < vb.samples.length; ) {
    const sa = va.samples[i];
    const sb = vb.samples[j];
    if (sa < sb) i++;
    else if (sb < sa) j++;
    else {
      common++;
      const okA = va.labels[i] === va.preds[i];
      const okB = vb.labels[j] === vb.preds[j];
      if (okA) cA++;
      if (okB) cB++;
      const isChanged = va.preds[i] !== vb.preds[j];
      const isFixed = !okA && okB;
      const isBroken = okA && !okB;
      if (isChanged) changed++;
      if (isFixed) fixed++;
      if (isBroken) broken++;
      if (kind === 'changed' ? isChanged : kind === 'fixed' ? isFixed : isBroken) {
        if (matched >= offset && page.length < limit) page.push({ sample: sa, i, j });
        matched++;
      }
      i++;
      j++;
    }
  }
  const detailsA = new Map(detailRows(store, rkA, page.map((x) => x.sample)).map((r) => [r.sample, r]));
  const detailsB = new Map(detailRows(store, rkB, page.map((x) => x.sample)).map((r) => [r.sample, r]));
  const rows: CompareRow[] = [];
  for (const x of page) {
    const a = detailsA.get(x.sample);
    const b = detailsB.get(x.sample);
    if (!a || !b) continue;
    rows.push({
      sample: x.sample,
      id: a.id,
      path: a.path,
      split: a.split,
      labelA: a.label,
      labelB: b.label,
      predA: a.pred,
      predB: b.pred,
      effLabel: a.effLabel,
      confidenceA: a.confidence,
      confidenceB: b.confidence,
    });
  }
  return {
    a: { id: runA, n: va.samples.length, accuracy: va.samples.length ? rightA / va.samples.length : 0 },
    b: { id: runB, n: vb.samples.length, accuracy: vb.samples.length ? rightB / vb.samples.length : 0 },
    common,
    commonAccuracyA: common ? cA / common : 0,
    commonAccuracyB: common ? cB / common : 0,
    changed,
    fixed,
    broken,
    kind,
    rows,
    nextOffset: matched > offset + page.length ? offset + page.length : null,
  };
}
