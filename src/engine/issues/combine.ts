// One label-issue score from the four signals (signals.ts), plus the tools to fit and check it.
//
// The score is a logistic combination: issue = sigmoid(b + sum_j w_j z_j), where z_j is signal j's
// suspicion (self-confidence and margin on the log scale, see rawFeature) standardised by the run's mean and standard deviation (so weights are in "standard deviations"
// and carry over between runs whose gap / align live on different scales, e.g. stand-in text vs CLIP).
// Why logistic and not a rank average: it scores ONE record at a time (the store fills its issue column
// while streaming records in; a rank needs the whole run first), its weights are fit where flips are known
// (a calibration set with injected flips, bench/labelIssues.ts) instead of assumed equal, and a signal
// that carries no information gets a weight near 0 instead of diluting the others. rankAverage() is kept
// as a fit-free reference the bench reports next to it.
import type { SampleRecord } from '../eval/types.js';
import { computeSignals, DEFAULT_NEUTRAL_INDEX, SIGNAL_NAMES, suspicion, type IssueSignals, type SignalName } from './signals.js';

/** Mean and standard deviation of each model input (rawFeature) over a run (neutral-labelled rows skip gap / align). */
export interface SignalStats {
  mean: Record<SignalName, number>;
  std: Record<SignalName, number>;
  n: number;
}

/** Features of the logistic model: the four standardised suspicions and a neutral-label indicator. */
export const FEATURE_NAMES = [...SIGNAL_NAMES, 'neutralLabel'] as const;

export interface IssueModel {
  /** Weights in FEATURE_NAMES order. */
  weights: number[];
  bias: number;
  /** Standardisation used when the caller gives no per-run statistics (the calibration run's). */
  stats: SignalStats;
  /** Where the weights come from (shown by `kefer issues`, written to docs). */
  fittedOn: string;
}

export interface IssueContext {
  neutralIndex: number;
  model: IssueModel;
  /** Per-run statistics (signalStats over the run's records); default: the model's calibration stats. */
  stats?: SignalStats;
}

/**
 * Fit by `npm run bench:label-issues` (seed 1): FERPlus train subset of 4000 images, 400 injected flips,
 * 5-fold out-of-sample records from a KE-FER head on label-free HOG features, STAND-IN text embeddings.
 * gap and self-confidence came out at 0 (the non-negativity bound is active: given the margin they add
 * nothing on this data); with CLIP text and a trained encoder they may not, so refit there
 * (fitIssueModel) before trusting these. docs/label-issues.md has the numbers.
 */
export const DEFAULT_ISSUE_MODEL: IssueModel = {
  weights: [0, 0.8806, 0, 0.2683, -0.7076],
  bias: -2.4272,
  stats: {
    mean: { selfConfidence: 2.7491, margin: 1.2682, gap: -0.4533, align: 0.1802 },
    std: { selfConfidence: 3.1507, margin: 4.4686, gap: 0.3351, align: 0.1243 },
    n: 4000,
  },
  fittedOn: 'bench:label-issues, FERPlus n=4000, 400 flips, seed 1 (HOG features, stand-in text)',
};

export const DEFAULT_ISSUE_CONTEXT: IssueContext = { neutralIndex: DEFAULT_NEUTRAL_INDEX, model: DEFAULT_ISSUE_MODEL };

/** Running statistics, so a store can accumulate them while streaming records. */
export class SignalStatsAccumulator {
  private readonly sum = { selfConfidence: 0, margin: 0, gap: 0, align: 0 };
  private readonly sq = { selfConfidence: 0, margin: 0, gap: 0, align: 0 };
  private readonly cnt = { selfConfidence: 0, margin: 0, gap: 0, align: 0 };
  private total = 0;

  constructor(private readonly neutralIndex = DEFAULT_NEUTRAL_INDEX) {}

  add(r: SampleRecord | IssueSignals): void {
    const s = 'probs' in r ? computeSignals(r, this.neutralIndex) : r;
    this.total++;
    for (const name of SIGNAL_NAMES) {
      const x = rawFeature(s, name);
      if (x === null || !Number.isFinite(x)) continue;
      this.sum[name] += x;
      this.sq[name] += x * x;
      this.cnt[name]++;
    }
  }

  finish(fallback: SignalStats = DEFAULT_ISSUE_MODEL.stats): SignalStats {
    const mean = { ...fallback.mean };
    const std = { ...fallback.std };
    for (const name of SIGNAL_NAMES) {
      const c = this.cnt[name];
      if (c < 2) continue; // too few values to estimate: keep the calibration's
      const m = this.sum[name] / c;
      mean[name] = m;
      // A constant signal (sd 0) must not blow up: floor the sd.
      std[name] = Math.max(Math.sqrt(Math.max(this.sq[name] / c - m * m, 0)), 1e-6);
    }
    return { mean, std, n: this.total };
  }
}

export function signalStats(records: Iterable<SampleRecord>, neutralIndex = DEFAULT_NEUTRAL_INDEX): SignalStats {
  const acc = new SignalStatsAccumulator(neutralIndex);
  for (const r of records) acc.add(r);
  return acc.finish();
}

/** Context for a whole run: its own standardisation, the shipped (or a fitted) model. */
export function issueContext(records: Iterable<SampleRecord>, opts: { neutralIndex?: number; model?: IssueModel } = {}): IssueContext {
  const neutralIndex = opts.neutralIndex ?? DEFAULT_NEUTRAL_INDEX;
  return { neutralIndex, model: opts.model ?? DEFAULT_ISSUE_MODEL, stats: signalStats(records, neutralIndex) };
}

const P_FLOOR = 1e-6; // records round probabilities to 6 decimals

/**
 * Model inputs before standardisation. Self-confidence and margin enter on the log scale, -log p(y|x) and
 * log max_{k!=y} p(k|x) - log p(y|x): with the method's logit scale (100) probabilities pile up at 0 and 1,
 * and the probability scale squeezes exactly the region where flips and hard samples differ; a logistic
 * model is linear in its inputs, and log-probabilities are what it adds. gap / align enter as they are.
 */
export function rawFeature(s: IssueSignals, name: SignalName): number | null {
  switch (name) {
    case 'selfConfidence':
      return -Math.log(Math.max(s.selfConfidence, P_FLOOR));
    case 'margin':
      return Math.log(Math.max(s.selfConfidence - s.margin, P_FLOOR)) - Math.log(Math.max(s.selfConfidence, P_FLOOR));
    default:
      return suspicion(s, name);
  }
}

/** Standardised feature vector (FEATURE_NAMES order); a missing gap / align is 0 (the run's mean). */
export function features(s: IssueSignals, stats: SignalStats): number[] {
  const z = SIGNAL_NAMES.map((name) => {
    const x = rawFeature(s, name);
    return x === null || !Number.isFinite(x) ? 0 : (x - stats.mean[name]) / stats.std[name];
  });
  return [...z, s.neutral ? 1 : 0];
}

const sigmoid = (t: number) => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));

/** Combined issue score in (0, 1) from precomputed signals; larger = more likely mislabelled. */
export function issueScoreOfSignals(s: IssueSignals, context: IssueContext = DEFAULT_ISSUE_CONTEXT): number {
  const x = features(s, context.stats ?? context.model.stats);
  let t = context.model.bias;
  for (let j = 0; j < x.length; j++) t += context.model.weights[j] * x[j];
  return sigmoid(t);
}

/**
 * Combined issue score of one record, in (0, 1); larger = more likely mislabelled. It orders records;
 * read it as a probability only on data like the calibration set (10% flips).
 */
export function issueScore(record: SampleRecord, context: IssueContext = DEFAULT_ISSUE_CONTEXT): number {
  return issueScoreOfSignals(computeSignals(record, context.neutralIndex), context);
}

/** One record with every signal, its suspicions and the combined score. */
export interface RankedIssue {
  rank: number;
  record: SampleRecord;
  signals: IssueSignals;
  suspicion: Record<SignalName, number | null>;
  score: number;
}

/** All records, most suspicious first (ties keep input order). */
export function rankIssues(records: readonly SampleRecord[], context?: IssueContext): RankedIssue[] {
  const ctx = context ?? issueContext(records);
  const rows = records.map((record) => {
    const signals = computeSignals(record, ctx.neutralIndex);
    const susp = Object.fromEntries(SIGNAL_NAMES.map((n) => [n, suspicion(signals, n)])) as Record<SignalName, number | null>;
    return { rank: 0, record, signals, suspicion: susp, score: issueScoreOfSignals(signals, ctx) };
  });
  const order = rows.map((_, i) => i).sort((a, b) => rows[b].score - rows[a].score || a - b);
  return order.map((i, r) => ({ ...rows[i], rank: r + 1 }));
}

/** Average ranks in [0, 1] (ties share their mean rank); null values get 0.5 (no evidence either way). */
export function normalisedRanks(values: readonly (number | null)[]): number[] {
  const idx = values.map((_, i) => i).filter((i) => values[i] !== null && Number.isFinite(values[i]));
  idx.sort((a, b) => values[a]! - values[b]!);
  const out = values.map(() => 0.5);
  const m = idx.length;
  for (let i = 0; i < m; ) {
    let j = i;
    while (j + 1 < m && values[idx[j + 1]] === values[idx[i]]) j++;
    const r = m > 1 ? (i + j) / 2 / (m - 1) : 0.5;
    for (let t = i; t <= j; t++) out[idx[t]] = r;
    i = j + 1;
  }
  return out;
}

/** Fit-free combination: mean of each signal's normalised suspicion rank. Needs the whole run. */
export function rankAverage(columns: readonly (readonly (number | null)[])[]): number[] {
  const ranks = columns.map((c) => normalisedRanks(c));
  const n = columns[0]?.length ?? 0;
  return Array.from({ length: n }, (_, i) => ranks.reduce((s, r) => s + r[i], 0) / ranks.length);
}

/** Solves A x = b (small, symmetric positive definite here) by Gaussian elimination with pivoting. */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    const d = M[c][c] || 1e-12;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c] / d;
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  return M.map((row, i) => row[n] / (row[i] || 1e-12));
}

export interface FitOptions {
  neutralIndex?: number;
  /** L2 penalty on the weights (not the bias), per sample. Default 1e-3: the features are few and standardised. */
  l2?: number;
  iterations?: number;
  fittedOn?: string;
}

/** L2-penalised logistic regression by Newton's method (IRLS); column 0 is the intercept (never penalised; `lambda` is one penalty for all others or one per column). `free[j]` false pins beta_j at 0. */
export function irls(X: number[][], y: number[], lambda: number | number[], free: boolean[], iterations: number): number[] {
  const penalty = (j: number) => (typeof lambda === 'number' ? lambda : lambda[j]);
  const P = free.length;
  const N = X.length;
  let beta = new Array<number>(P).fill(0);
  for (let it = 0; it < iterations; it++) {
    const g = new Array<number>(P).fill(0);
    const H = Array.from({ length: P }, () => new Array<number>(P).fill(0));
    for (let i = 0; i < N; i++) {
      let t = 0;
      for (let j = 0; j < P; j++) t += beta[j] * X[i][j];
      const p = sigmoid(t);
      const w = Math.max(p * (1 - p), 1e-9);
      for (let j = 0; j < P; j++) {
        g[j] += (p - y[i]) * X[i][j];
        for (let k = 0; k < P; k++) H[j][k] += w * X[i][j] * X[i][k];
      }
    }
    for (let j = 1; j < P; j++) {
      g[j] += penalty(j) * beta[j];
      H[j][j] += penalty(j);
    }
    // Pinned coefficients: identity rows, zero gradient, so the step leaves them at 0.
    for (let j = 0; j < P; j++) {
      if (free[j]) continue;
      g[j] = 0;
      for (let k = 0; k < P; k++) H[j][k] = H[k][j] = 0;
      H[j][j] = 1;
    }
    H[0][0] += 1e-9;
    const step = solve(H, g);
    beta = beta.map((b, j) => b - step[j]);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return beta;
}

/**
 * irls with the coefficients in `nonNegative` constrained to be >= 0 by an active set: the most negative
 * one is pinned at 0 and the fit repeated until none is negative.
 */
export function irlsNonNegative(X: number[][], y: number[], lambda: number | number[], P: number, nonNegative: readonly number[], iterations = 25): number[] {
  const free = new Array<boolean>(P).fill(true);
  let beta = irls(X, y, lambda, free, iterations);
  for (;;) {
    let worst = -1;
    for (const j of nonNegative) if (free[j] && beta[j] < 0 && (worst < 0 || beta[j] < beta[worst])) worst = j;
    if (worst < 0) return beta;
    free[worst] = false;
    beta = irls(X, y, lambda, free, iterations);
  }
}

/**
 * Fits the logistic model on records whose flip status is known (a calibration set with injected flips),
 * standardising with the calibration records' own statistics. The four signal weights are constrained to
 * be >= 0 (active set: a signal whose weight goes negative is pinned at 0 and the fit repeated), so the
 * score is monotone: a record more suspicious on one signal and equal on the rest never scores lower.
 * Without it the collinear pair self-confidence / margin gets weights of opposite sign that fit noise.
 */
export function fitIssueModel(records: readonly SampleRecord[], flipped: readonly boolean[], opts: FitOptions = {}): IssueModel {
  if (records.length !== flipped.length) throw new RangeError('fitIssueModel: records and flipped differ in length');
  const neutralIndex = opts.neutralIndex ?? DEFAULT_NEUTRAL_INDEX;
  const stats = signalStats(records, neutralIndex);
  const X = records.map((r) => [1, ...features(computeSignals(r, neutralIndex), stats)]);
  const y = flipped.map((f) => (f ? 1 : 0));
  const P = FEATURE_NAMES.length + 1;
  const lambda = (opts.l2 ?? 1e-3) * X.length;
  // Only the suspicion weights (columns 1..4) are constrained; the neutral indicator is a plain offset.
  const beta = irlsNonNegative(X, y, lambda, P, SIGNAL_NAMES.map((_, j) => j + 1), opts.iterations ?? 25);
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return { weights: beta.slice(1).map(round), bias: round(beta[0]), stats, fittedOn: opts.fittedOn ?? `${X.length} records, ${y.filter(Boolean).length} known flips` };
}
