// Label-issue ranking: per-record signals, one combined score, k-fold out-of-sample records.
export { computeSignals, suspicion, DEFAULT_NEUTRAL_INDEX, SIGNAL_NAMES, type IssueSignals, type SignalName } from './signals.js';
export {
  issueScore, issueScoreOfSignals, issueContext, signalStats, SignalStatsAccumulator, rankIssues, rankAverage, normalisedRanks,
  fitIssueModel, features, DEFAULT_ISSUE_MODEL, DEFAULT_ISSUE_CONTEXT, FEATURE_NAMES,
  type IssueContext, type IssueModel, type SignalStats, type RankedIssue, type FitOptions,
} from './combine.js';
export { stratifiedFolds, foldsOf, crossValidatedRecords, type Fold, type FoldTrainer, type CrossValOptions } from './crossval.js';
export { featureHeadFoldTrainer, trainAndScore, type FeatureHeadOptions } from './featureHead.js';
export { hog, hogFeatures, hogRows, columnStats, standardiseWith, HOG_DIM, HOG_SIZE, type ColumnStats } from './pixelFeatures.js';
export { confidentLearning, confidentLearningScore, type ConfidentLearningResult } from './confidentLearning.js';
export { rankerScores, orderByScore, isRankerName, RANKER_NAMES, RANKER_DESCRIPTIONS, type RankerName, type RankerOptions, type RankerScores } from './rankers.js';
export { hitsAt, precisionAt, recallAt, auroc } from './scoring.js';
export { loadFer2013WithFerplusTruth, verdictOf, type FerplusVerdict, type FerplusTruth, type Fer2013WithTruth } from './ferplusTruth.js';
export {
  fitReviewCalibratedModel, calibratedScore, calibratedScores, estimatedIssueRates, spotCheckOrder, MIN_REVIEWS, prepareRecords, type PreparedRecords,
  type Review, type CalibratedIssueModel, type CalibrateOptions, type ClassIssueEstimate, type ReviewCounts,
} from './calibrate.js';
export { duplicateConflictScores, withDuplicateConflicts } from './duplicateConflict.js';
