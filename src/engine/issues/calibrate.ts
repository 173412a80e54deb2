// The issue ranking calibrated on the user's own reviews (a spot-check): a logistic model of "this label is
// wrong" on the four standardised signals plus one offset per given class, fit on the samples a person
// has looked at (relabelled or excluded = issue, confirmed = clean).
//
// Why per-class offsets: real label noise is strongly class dependent (FER2013 against FER+: 7% of the
// happiness labels are disputed, 86% of the fear labels), and a model trained on the noisy labels cannot see
// that: confident learning's per-class estimates come from the same noisy fit (bench/README, issue 14).
// A hundred random reviews measure it directly. The offsets are shrunk towards the pooled rate (L2 on the
// deviation, the intercept free), so a class with few reviews borrows from the others.
// Why random reviews: a fit on the top of a ranking only sees suspicious samples and learns the wrong
// base rates (measured in bench:label-issues --review); callers pass the reviews of a random spot-check.
import type { SampleRecord } from '../eval/types.js';
import { features, irlsNonNegative, signalStats, type SignalStats } from './combine.js';
import { computeSignals, DEFAULT_NEUTRAL_INDEX, SIGNAL_NAMES, type SignalName } from './signals.js';

/** One reviewed sample: `issue` true when the person changed or excluded its label, false when they confirmed it. */
export interface Review {
  id: string;
  issue: boolean;
}

/** Fewest reviews a fit accepts: below this the class offsets are mostly the prior. */
export const MIN_REVIEWS = 20;

export interface ReviewCounts {
  n: number;
  issues: number;
}

export interface CalibratedIssueModel {
  /** SIGNAL_NAMES order, each >= 0 (monotone in every suspicion, as the shipped combined score). */
  signalWeights: number[];
  /** Added to the bias for a sample whose given label is class k. */
  classOffsets: number[];
  bias: number;
  /** Standardisation of the signals: the whole run's statistics (label-free). */
  stats: SignalStats;
  neutralIndex: number;
  reviews: ReviewCounts & { perClass: ReviewCounts[] };
  fittedOn: string;
}

export interface CalibrateOptions {
  numClasses?: number;
  neutralIndex?: number;
  /** L2 penalty on the class deviations from the pooled rate (default 1: about four pseudo-reviews at the pooled rate). */
  classL2?: number;
  /** L2 penalty on the signal weights (default 1e-3 per review, as fitIssueModel). */
  signalL2?: number;
  /** Signals the model may use (default all four); the others get weight 0 (the bench's ablation of gap / align). */
  signals?: readonly SignalName[];
}

const sigmoid = (t: number) => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));

/**
 * A run's records with their standardised signals computed once: they change only when the run's
 * records are re-imported, while the model is refit after every spot-check decision. With them a refit
 * costs a fit on the reviews and one pass of dot products (milliseconds at 300k records, where
 * recomputing the signals per refit took most of a second).
 */
export interface PreparedRecords {
  records: readonly SampleRecord[];
  stats: SignalStats;
  neutralIndex: number;
  numClasses: number;
  /** records.length x SIGNAL_NAMES.length standardised signals, row-major. */
  z: Float64Array;
  /** Each record's given label (typed: the refit's passes over 300k records touch no objects). */
  labels: Int32Array;
  /** Index of each record by id. */
  index: ReadonlyMap<string, number>;
}

export function prepareRecords(records: readonly SampleRecord[], opts: { neutralIndex?: number; numClasses?: number } = {}): PreparedRecords {
  const neutralIndex = opts.neutralIndex ?? DEFAULT_NEUTRAL_INDEX;
  // a loop, not Math.max(...): a spread of 300k records overflows the call stack
  const numClasses = opts.numClasses ?? records.reduce((k, r) => Math.max(k, r.probs.length), 0);
  const stats = signalStats(records, neutralIndex);
  const S = SIGNAL_NAMES.length;
  const z = new Float64Array(records.length * S);
  records.forEach((r, i) => z.set(features(computeSignals(r, neutralIndex), stats).slice(0, S), i * S));
  return { records, stats, neutralIndex, numClasses, z, labels: Int32Array.from(records, (r) => r.label), index: new Map(records.map((r, i) => [r.id, i])) };
}

const isPrepared = (x: readonly SampleRecord[] | PreparedRecords): x is PreparedRecords => !Array.isArray(x);

/** The model's input row of record i: [1, standardised signals, one-hot given class]. */
function row(p: PreparedRecords, i: number): number[] {
  const S = SIGNAL_NAMES.length;
  const oneHot = new Array<number>(p.numClasses).fill(0);
  oneHot[p.records[i].label] = 1;
  return [1, ...p.z.subarray(i * S, (i + 1) * S), ...oneHot];
}

/**
 * Fits the calibrated model. Throws, naming the problem, when a review names a sample the run does not
 * have, names one twice, when there are fewer than MIN_REVIEWS, or when they are all issues or all clean
 * (no contrast to learn from).
 */
export function fitReviewCalibratedModel(input: readonly SampleRecord[] | PreparedRecords, reviews: readonly Review[], opts: CalibrateOptions = {}): CalibratedIssueModel {
  const p = isPrepared(input) ? input : prepareRecords(input, opts);
  const { records, neutralIndex, numClasses, stats } = p;
  const byId = p.index;
  const seen = new Set<string>();
  for (const rv of reviews) {
    if (!byId.has(rv.id)) throw new Error(`review of '${rv.id}': no such sample in this run`);
    if (seen.has(rv.id)) throw new Error(`review of '${rv.id}': given twice`);
    seen.add(rv.id);
  }
  const issues = reviews.filter((r) => r.issue).length;
  if (reviews.length < MIN_REVIEWS) throw new Error(`calibration needs at least ${MIN_REVIEWS} reviewed samples, have ${reviews.length}`);
  if (issues === 0 || issues === reviews.length) throw new Error(`calibration needs reviewed samples of both kinds, have ${issues} issue(s) and ${reviews.length - issues} confirmed`);

  const reviewedAt = reviews.map((rv) => byId.get(rv.id)!);
  const reviewed = reviewedAt.map((i) => records[i]);
  const use = opts.signals ?? SIGNAL_NAMES;
  // A left-out signal's column is all zeros: the L2 penalty then holds its weight at exactly 0.
  const X = reviewedAt.map((i) => row(p, i).map((v, j) => (j >= 1 && j <= SIGNAL_NAMES.length && !use.includes(SIGNAL_NAMES[j - 1]) ? 0 : v)));
  const y = reviews.map((rv) => (rv.issue ? 1 : 0));
  const S = SIGNAL_NAMES.length;
  const P = 1 + S + numClasses;
  const signalL2 = (opts.signalL2 ?? 1e-3) * reviews.length;
  const lambda = Array.from({ length: P }, (_, j) => (j === 0 ? 0 : j <= S ? signalL2 : (opts.classL2 ?? 1)));
  const beta = irlsNonNegative(X, y, lambda, P, SIGNAL_NAMES.map((_, j) => j + 1));

  const perClass = Array.from({ length: numClasses }, () => ({ n: 0, issues: 0 }));
  reviewed.forEach((r, i) => {
    perClass[r.label].n++;
    perClass[r.label].issues += y[i];
  });
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return {
    bias: round(beta[0]),
    signalWeights: beta.slice(1, 1 + S).map(round),
    classOffsets: beta.slice(1 + S).map(round),
    stats,
    neutralIndex,
    reviews: { n: reviews.length, issues, perClass },
    fittedOn: `${reviews.length} reviewed samples (${issues} issues)${use.length < SIGNAL_NAMES.length ? `, signals ${use.join(', ')}` : ''}`,
  };
}

/** Probability that the record's label is wrong, under the calibrated model. */
export function calibratedScore(r: SampleRecord, m: CalibratedIssueModel): number {
  const z = features(computeSignals(r, m.neutralIndex), m.stats);
  let t = m.bias + (m.classOffsets[r.label] ?? 0);
  for (let j = 0; j < m.signalWeights.length; j++) t += m.signalWeights[j] * z[j];
  return sigmoid(t);
}

/** calibratedScore of every record; from prepared records (the model's own standardisation) without recomputing signals. */
export function calibratedScores(input: readonly SampleRecord[] | PreparedRecords, m: CalibratedIssueModel): number[] {
  if (!isPrepared(input) || input.stats !== m.stats) return (isPrepared(input) ? input.records : input).map((r) => calibratedScore(r, m));
  const S = SIGNAL_NAMES.length;
  const { z, labels } = input;
  const offsets = Float64Array.from(m.classOffsets);
  const w = Float64Array.from(m.signalWeights);
  const out = new Array<number>(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let t = m.bias + (offsets[labels[i]] ?? 0);
    for (let j = 0; j < S; j++) t += w[j] * z[i * S + j];
    out[i] = sigmoid(t);
  }
  return out;
}

export interface ClassIssueEstimate {
  /** Samples with this given label. */
  n: number;
  reviewed: number;
  reviewedIssues: number;
  /** (reviewed issues + the model's expected issues among the unreviewed) / n. */
  rate: number;
}

/**
 * Estimated issue rate per given class: what the reviews found, plus the calibrated probabilities of the
 * samples nobody reviewed. Meaningful when the reviews are a random sample (the model's base rates are theirs).
 */
export function estimatedIssueRates(
  input: readonly SampleRecord[] | PreparedRecords, reviews: readonly Review[], m: CalibratedIssueModel,
  /** calibratedScores(records, m), when the caller has them already (a refit ranks and estimates at once). */
  scores?: readonly number[],
): ClassIssueEstimate[] {
  if (isPrepared(input) && scores) return preparedRates(input, reviews, m, scores);
  const records = isPrepared(input) ? input.records : input;
  const verdict = new Map(reviews.map((r) => [r.id, r.issue]));
  const out = m.classOffsets.map(() => ({ n: 0, reviewed: 0, reviewedIssues: 0, rate: 0 }));
  const expected = m.classOffsets.map(() => 0);
  records.forEach((r, i) => {
    const c = out[r.label];
    c.n++;
    const v = verdict.get(r.id);
    if (v === undefined) expected[r.label] += scores ? scores[i] : calibratedScore(r, m);
    else {
      c.reviewed++;
      if (v) c.reviewedIssues++;
    }
  });
  return out.map((c, k) => ({ ...c, rate: c.n ? (c.reviewedIssues + expected[k]) / c.n : NaN }));
}

/** estimatedIssueRates from prepared records: per-class sums over typed arrays, the reviewed few looked up by index. */
function preparedRates(p: PreparedRecords, reviews: readonly Review[], m: CalibratedIssueModel, scores: readonly number[]): ClassIssueEstimate[] {
  const K = m.classOffsets.length;
  const n = new Float64Array(K);
  const expected = new Float64Array(K);
  for (let i = 0; i < p.labels.length; i++) {
    n[p.labels[i]]++;
    expected[p.labels[i]] += scores[i];
  }
  const reviewed = new Float64Array(K);
  const reviewedIssues = new Float64Array(K);
  for (const rv of reviews) {
    const i = p.index.get(rv.id);
    if (i === undefined) continue;
    const k = p.labels[i];
    reviewed[k]++;
    if (rv.issue) reviewedIssues[k]++;
    expected[k] -= scores[i];
  }
  return Array.from({ length: K }, (_, k) => ({ n: n[k], reviewed: reviewed[k], reviewedIssues: reviewedIssues[k], rate: n[k] ? (reviewedIssues[k] + expected[k]) / n[k] : NaN }));
}

/**
 * A seeded random order of sample ids for a spot-check: the same run and seed give the same order, so a
 * review interrupted today continues tomorrow where it stopped. FNV-1a hash of seed + id, ties by id.
 */
export function spotCheckOrder(ids: readonly string[], seed = 0): string[] {
  const key = (id: string) => {
    let h = 0x811c9dc5 ^ seed;
    for (let i = 0; i < id.length; i++) {
      h ^= id.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    // Final avalanche (murmur3 fmix32): FNV alone keeps ids that differ in the last character close.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  };
  return ids.map((id) => [key(id), id] as const).sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)).map(([, id]) => id);
}
