// Every label-issue ranker on the same out-of-sample records, so benches, the CLI and the panel compare
// them side by side. Each returns one score per record, larger = more likely mislabelled.
import type { SampleRecord } from '../eval/types.js';
import { issueContext, issueScoreOfSignals, normalisedRanks, rankAverage, type IssueModel } from './combine.js';
import { confidentLearning, confidentLearningScore, type ConfidentLearningResult } from './confidentLearning.js';
import { computeSignals, DEFAULT_NEUTRAL_INDEX, SIGNAL_NAMES, suspicion } from './signals.js';

export const RANKER_NAMES = ['selfConfidence', 'margin', 'confidentLearning', 'gap', 'align', 'rankAverage', 'combined'] as const;
export type RankerName = (typeof RANKER_NAMES)[number];

/** One line per ranker for tables, help texts and docs. */
export const RANKER_DESCRIPTIONS: Record<RankerName, string> = {
  selfConfidence: 'self-confidence: 1 - p(y|x) (cleanlab self_confidence)',
  margin: 'normalised margin: 1 - (p(y|x) - max_{k!=y} p(k|x) + 1) / 2 (cleanlab normalized_margin)',
  confidentLearning: 'confident learning, prune by noise rate (Northcutt et al.): flagged samples first, each group by self-confidence',
  gap: 'KE-FER gap: -(simText - simNeutral); neutral labels sit mid-ranking',
  align: 'KE-FER align: (1 - cos(v - n, t_y - t_N)) / 2; neutral labels sit mid-ranking',
  rankAverage: 'mean normalised rank of self-confidence, margin, gap, align (no fit)',
  combined: 'the project score: logistic on the four standardised signals + neutral-label offset (combine.ts)',
};

export function isRankerName(s: string): s is RankerName {
  return (RANKER_NAMES as readonly string[]).includes(s);
}

export interface RankerOptions {
  neutralIndex?: number;
  /** The combined score's weights (default: the shipped DEFAULT_ISSUE_MODEL). */
  model?: IssueModel;
}

export interface RankerScores {
  scores: Record<RankerName, number[]>;
  /** Confident learning's intermediate results (thresholds, joints, per-class counts). */
  cl: ConfidentLearningResult;
}

/** Scores of every ranker for every record (records must be out-of-sample for the ranking to mean anything). */
export function rankerScores(records: readonly SampleRecord[], opts: RankerOptions = {}): RankerScores {
  const neutralIndex = opts.neutralIndex ?? DEFAULT_NEUTRAL_INDEX;
  const signals = records.map((r) => computeSignals(r, neutralIndex));
  const columns = SIGNAL_NAMES.map((name) => signals.map((s) => suspicion(s, name)));
  const cl = confidentLearning(records.map((r) => r.probs), records.map((r) => r.label));
  const ctx = issueContext(records, { neutralIndex, model: opts.model });
  const scores: Record<RankerName, number[]> = {
    selfConfidence: columns[0] as number[],
    margin: columns[1] as number[],
    confidentLearning: signals.map((s, i) => confidentLearningScore(cl.isIssue[i], s.selfConfidence)),
    gap: normalisedRanks(columns[2]),
    align: normalisedRanks(columns[3]),
    rankAverage: rankAverage(columns),
    combined: signals.map((s) => issueScoreOfSignals(s, ctx)),
  };
  return { scores, cl };
}

/** Positions ordered by score, largest first (ties keep input order). */
export function orderByScore(score: readonly number[]): number[] {
  return score.map((_, i) => i).sort((a, b) => score[b] - score[a] || a - b);
}
