// Spot-check reviews and the issue ranking calibrated on them (issues/calibrate.ts). A person walks the
// run in the spot-check order (a seeded random order: spotRanks.ts) and decides each sample: relabel,
// exclude or confirm. Those decisions are a random sample of the run, so they measure its label noise
// without the bias of reviewing the top of a ranking (which makes the calibrated ranking worse:
// bench:label-issues --review); only decisions recorded with ChangeOptions.spotCheck count.
import { createHash } from 'node:crypto';
import type { SampleRecord } from '../eval/types.js';
import { calibratedScores, estimatedIssueRates, fitReviewCalibratedModel, MIN_REVIEWS, prepareRecords, type PreparedRecords, type Review } from '../issues/calibrate.js';
import { nowIso, StoreError, type Store } from './db.js';
import { getDataset } from './datasets.js';
import { schemaVersion } from './migrations.js';
import { decodeProbs } from './probsBlob.js';
import { getRun } from './runs.js';
import { SPOT_SCHEMA_VERSION } from './spotRanks.js';

export interface ReviewTally {
  n: number;
  issues: number;
  confirmed: number;
}

export interface ClassRate {
  name: string;
  /** Records of the run with this given (run) label. */
  n: number;
  reviewed: number;
  reviewedIssues: number;
  /** Estimated share of wrong labels in the class: the reviews' verdicts plus the model's expectation for the rest; null without records. */
  rate: number | null;
}

export interface Calibrated {
  calibrated: true;
  run: string;
  reviews: ReviewTally;
  classes: ClassRate[];
  /** The fitted model (standardised signal weights, per-class offsets): what the ranking is. */
  model: { bias: number; signalWeights: number[]; classOffsets: number[] };
  time: string;
  /** Identifies the reviews fitted on: an unchanged fingerprint means the scores are current. */
  fingerprint: string;
}

export interface NeedsReviews {
  calibrated: false;
  run: string;
  reviews: ReviewTally;
  /** Reviews still missing to reach MIN_REVIEWS (0 when there are enough but all of one kind). */
  needed: number;
  message: string;
}

export type CalibrationResult = Calibrated | NeedsReviews;

function requireV6(store: Store): void {
  const v = schemaVersion(store.db);
  if (v < SPOT_SCHEMA_VERSION) throw new StoreError(`this store is at schema ${v}: spot-check reviews need schema ${SPOT_SCHEMA_VERSION}`);
}

/**
 * The run's spot-check reviews: per sample of the run, its latest applied decision made during a
 * spot-check, judged against the label the run was scored against (records.label):
 * - relabelled to class c: an issue when c differs from the run's label (setting it back to the run's
 *   label says that label was right);
 * - excluded: an issue; an exclude cleared: no review;
 * - confirmed: the label confirmed (the sample's label when confirming) differs from the run's label
 *   means an issue (the run trained on a label since corrected); the same label: no issue;
 * - unsure (set or cleared), a confirmation cleared: no review.
 * Reviews belong to the dataset: a spot-check made on one run counts for every run with those samples.
 */
export function spotCheckReviews(store: Store, runId: string): Review[] {
  requireV6(store);
  const run = getRun(store, runId);
  const rows = store.db
    .prepare(
      `SELECT s.sid, c.kind, c.new_label, r.label,
         coalesce((SELECT l.new_label FROM label_changes l WHERE l.sample = c.sample AND l.kind = 'label' AND l.undone = 0 AND l.id < c.id
                   ORDER BY l.id DESC LIMIT 1), s.orig_label)
       FROM label_changes c JOIN samples s ON s.sk = c.sample JOIN records r ON r.run = ? AND r.sample = c.sample
       WHERE c.dataset = ? AND c.spot_check = 1 AND c.undone = 0
         AND c.id = (SELECT max(x.id) FROM label_changes x WHERE x.sample = c.sample AND x.spot_check = 1 AND x.undone = 0)
       ORDER BY c.id`,
    )
    .raw()
    .all(run.rk, run.dataset) as [string, string, number, number, number][];
  const out: Review[] = [];
  for (const [id, kind, value, runLabel, labelBefore] of rows) {
    if (kind === 'label') out.push({ id, issue: value !== runLabel });
    else if (kind === 'exclude' && value === 1) out.push({ id, issue: true });
    else if (kind === 'confirm' && value === 1) out.push({ id, issue: labelBefore !== runLabel });
  }
  return out;
}

/**
 * Where the run's spot-check stands: the position, in the spot-check order, of the first record nobody
 * has decided during a spot-check (any decision, unsure included), so an interrupted review resumes
 * there; null when every record is decided.
 */
export function spotCheckNext(store: Store, runId: string): number | null {
  requireV6(store);
  const { rk } = getRun(store, runId);
  const decided = 'EXISTS (SELECT 1 FROM label_changes c WHERE c.sample = r.sample AND c.spot_check = 1 AND c.undone = 0)';
  // walks the spot-check order (rec_spot) until the first undecided record: as far as the review got
  const first = store.db.prepare(`SELECT r.spot FROM records r INDEXED BY rec_spot WHERE r.run = ? AND NOT ${decided} ORDER BY r.spot LIMIT 1`).pluck().get(rk) as number | undefined;
  if (first === undefined) return null;
  return store.db.prepare('SELECT count(*) FROM records r INDEXED BY rec_spot WHERE r.run = ? AND r.spot < ?').pluck().get(rk, first) as number;
}

function tally(reviews: readonly Review[]): ReviewTally {
  const issues = reviews.filter((r) => r.issue).length;
  return { n: reviews.length, issues, confirmed: reviews.length - issues };
}

function fingerprintOf(reviews: readonly Review[]): string {
  const h = createHash('sha1');
  for (const r of [...reviews].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) h.update(`${r.id}\0${r.issue ? 1 : 0}\n`);
  return h.digest('hex');
}

/** Why the reviews cannot calibrate yet, or null when they can. */
function shortfall(runId: string, t: ReviewTally): NeedsReviews | null {
  const have = `have ${t.n}: ${t.issues} issue${t.issues === 1 ? '' : 's'}, ${t.confirmed} confirmed`;
  if (t.n < MIN_REVIEWS) {
    const needed = MIN_REVIEWS - t.n;
    return { calibrated: false, run: runId, reviews: t, needed, message: `needs ${needed} more spot-check review${needed === 1 ? '' : 's'} (${have})` };
  }
  if (t.issues === 0 || t.confirmed === 0) {
    return { calibrated: false, run: runId, reviews: t, needed: 0, message: `needs at least one ${t.issues === 0 ? 'issue (a relabel or an exclude)' : 'confirmed label'} among the spot-check reviews (${have})` };
  }
  return null;
}

/** The run's records as the issue rankers read them, with their sample keys. */
export function runSampleRecords(store: Store, runId: string): RunRecords {
  const { rk } = getRun(store, runId);
  const rows = store.db
    .prepare('SELECT r.sample, s.sid, s.path, r.split, r.label, r.pred, r.probs, r.sim_text, r.sim_neutral, r.gap, r.align FROM records r JOIN samples s ON s.sk = r.sample WHERE r.run = ?')
    .raw()
    .iterate(rk) as Iterable<[number, string, string, string, number, number, Buffer, number, number, number, number | null]>;
  const records: SampleRecord[] = [];
  const samples: number[] = [];
  for (const [sample, id, path, split, label, pred, probs, simText, simNeutral, gap, align] of rows) {
    samples.push(sample);
    records.push({ id, path, split, label, pred, probs: decodeProbs(probs), simText, simNeutral, gap, align });
  }
  return { records, samples };
}

/**
 * Changes when the run's records are re-imported (by this process or another: the CLI writes the same
 * store), so a caller keeping runSampleRecords knows when to read them again. One pass over the run's
 * records without decoding probabilities: milliseconds next to a refit.
 */
export function runRecordsSignature(store: Store, runId: string): string {
  const { rk } = getRun(store, runId);
  const r = store.db.prepare('SELECT count(*), total(confidence), total(gap), total(pred * 31 + label) FROM records WHERE run = ?').raw().get(rk) as number[];
  return r.join(':');
}

/** The run's last calibration, or null when it has none (never calibrated, or its records were re-imported). */
export function storedCalibration(store: Store, runId: string): Calibrated | null {
  requireV6(store);
  const { rk } = getRun(store, runId);
  const s = store.db.prepare('SELECT summary FROM run_calibrations WHERE run = ?').pluck().get(rk) as string | undefined;
  return s === undefined ? null : (JSON.parse(s) as Calibrated);
}

/** A run's records as runSampleRecords reads them; `prepared` when the caller keeps their signals too (prepareRecords). */
export interface RunRecords {
  records: SampleRecord[];
  samples: number[];
  prepared?: PreparedRecords;
}

export interface RecalibrateOptions {
  /**
   * The run's records (runSampleRecords), when the caller keeps them (they change only on a re-import);
   * called only when a refit is due.
   */
  records?: () => RunRecords;
  /** Refit even when the reviews are those of the stored calibration. */
  force?: boolean;
  /**
   * Return the new scores (`pending`) instead of writing them: the caller writes them in chunks
   * (writeCalibrationChunk) off the path of the decision, and the stored calibration changes with the
   * last chunk. At 300k records the write takes seconds; the fit and the rates, milliseconds.
   */
  deferWrite?: boolean;
  /** A calibration whose scores are being written (deferWrite): returned as is when the reviews are its. */
  pending?: Calibrated;
}

/** Scores of a refit still to be written (RecalibrateOptions.deferWrite). */
export interface PendingScores {
  rk: number;
  samples: number[];
  scores: number[];
  summary: Calibrated;
}

/**
 * Fits the review-calibrated model on the run's records and its spot-check reviews, writes records.cal of
 * every record of the run in one transaction (or hands the scores back: deferWrite) and returns the summary.
 * With too few reviews (or reviews of one kind only) nothing is fitted, any earlier calibration of the
 * run is cleared (its reviews are gone: undone), and the result says how many reviews are still needed.
 * Unless `force`, reviews unchanged since the stored (or pending) calibration return it without a refit.
 */
export function recalibrate(store: Store, runId: string, opts: RecalibrateOptions = {}): CalibrationResult & { pendingScores?: PendingScores } {
  requireV6(store);
  const run = getRun(store, runId);
  const { db } = store;
  const reviews = spotCheckReviews(store, runId);
  const t = tally(reviews);
  const short = shortfall(runId, t);
  if (short) {
    // (read first: no write lock taken, nor waited for behind an import, when there is nothing to clear)
    if (db.prepare('SELECT 1 FROM run_calibrations WHERE run = ?').get(run.rk)) {
      db.transaction(() => {
        if (db.prepare('DELETE FROM run_calibrations WHERE run = ?').run(run.rk).changes > 0) db.prepare('UPDATE records SET cal = NULL WHERE run = ?').run(run.rk);
      }).immediate();
    }
    return short;
  }
  const fingerprint = fingerprintOf(reviews);
  if (!opts.force && opts.pending?.fingerprint === fingerprint) return opts.pending;
  const stored = storedCalibration(store, runId);
  if (!opts.force && stored?.fingerprint === fingerprint) return stored;

  const { records, samples, prepared } = opts.records ? opts.records() : runSampleRecords(store, runId);
  const classes = getDataset(store, run.dataset).classes;
  const neutralIndex = Math.max(0, classes.indexOf('neutral'));
  const input = prepared && prepared.neutralIndex === neutralIndex ? prepared : prepareRecords(records, { neutralIndex });
  const model = fitReviewCalibratedModel(input, reviews);
  const scores = calibratedScores(input, model);
  const rates = estimatedIssueRates(input, reviews, model, scores);
  const summary: Calibrated = {
    calibrated: true,
    run: runId,
    reviews: t,
    classes: rates.map((c, k) => ({ name: classes[k] ?? `class${k}`, n: c.n, reviewed: c.reviewed, reviewedIssues: c.reviewedIssues, rate: Number.isFinite(c.rate) ? c.rate : null })),
    model: { bias: model.bias, signalWeights: model.signalWeights, classOffsets: model.classOffsets },
    time: nowIso(),
    fingerprint,
  };
  const pendingScores: PendingScores = { rk: run.rk, samples, scores, summary };
  if (opts.deferWrite) return { ...summary, pendingScores };
  writeCalibrationChunk(store, pendingScores, 0, samples.length);
  return summary;
}

/**
 * Writes scores [from, to) of a refit in one transaction; the chunk that reaches the end also stores the
 * calibration's summary, so a calibration is stored only with all its scores (a worker stopped halfway
 * leaves the old one, and the next recalibrate refits).
 */
export function writeCalibrationChunk(store: Store, p: PendingScores, from: number, to: number): void {
  const { db } = store;
  const update = db.prepare('UPDATE records SET cal = ? WHERE run = ? AND sample = ?');
  const end = Math.min(to, p.samples.length);
  db.transaction(() => {
    for (let i = from; i < end; i++) update.run(p.scores[i], p.rk, p.samples[i]);
    if (end === p.samples.length) db.prepare('INSERT OR REPLACE INTO run_calibrations (run, summary) VALUES (?, ?)').run(p.rk, JSON.stringify(p.summary));
  }).immediate();
}
