// Confident learning (Northcutt, Jiang, Chuang, "Confident Learning: Estimating Uncertainty in Dataset
// Labels", JAIR 2021), from out-of-sample probabilities: per-class thresholds, the confident joint, its
// calibration to the estimated joint of (given label, true label), and the prune-by-noise-rate rule.
// Hand-written (no maintained JavaScript port of cleanlab exists); the unit test checks it against a
// hand-worked example.

export interface ConfidentLearningResult {
  /** t_j = mean p(j|x) over the samples whose given label is j (NaN for a class with no samples). */
  thresholds: number[];
  /**
   * C[i][j]: samples given label i whose confident class is j. The confident class of x is the argmax of
   * p(k|x) over the classes with p(k|x) >= t_k; a sample with no such class is counted nowhere.
   */
  confidentJoint: number[][];
  /** Q[i][j]: estimated joint of (given i, true j): each row of C rescaled to that class's label count, then all divided by n. */
  joint: number[][];
  /** Per given class: estimated issues round(n * sum_{j != i} Q[i][j]), the sum of the prune counts below. */
  issueCounts: number[];
  /** Per given class: estimated noise rate sum_{j != i} Q[i][j] / sum_j Q[i][j] = P(true != i | given i). */
  noiseRates: number[];
  /** Per (given i, true j != i): the prune count round(n * Q[i][j]). */
  pruneCounts: number[][];
  /** The flagged samples (prune by noise rate), true at the sample's position. */
  isIssue: boolean[];
  /**
   * Per sample: the class j it was flagged as likely belonging to (of the j it was flagged for, the one
   * with the largest p(j|x)), or -1 when not flagged. The evidence the panel shows beside the flag.
   */
  flaggedAs: number[];
  /** Total estimated issues (sum of issueCounts). */
  estimatedIssues: number;
}

/** Small slack on the threshold test, as cleanlab does, so a sample exactly at t_j counts despite rounding. */
const THRESHOLD_SLACK = 1e-6;

/**
 * Confident learning on probs[n][K] (out-of-sample) and the given labels. Prune by noise rate: for every
 * off-diagonal (i, j), among the samples given label i, flag the round(n * Q[i][j]) with the largest
 * margin p(j|x) - p(i|x). A sample flagged for several j is counted once. At least one sample of each
 * class stays unflagged (cleanlab's min_examples_per_class = 1), so a class is never emptied.
 */
export function confidentLearning(probs: readonly ArrayLike<number>[], labels: readonly number[]): ConfidentLearningResult {
  const n = probs.length;
  if (labels.length !== n) throw new RangeError(`confidentLearning: ${n} probability rows but ${labels.length} labels`);
  if (n === 0) throw new RangeError('confidentLearning: no samples');
  const K = probs[0].length;
  labels.forEach((y, i) => {
    if (!Number.isInteger(y) || y < 0 || y >= K) throw new RangeError(`confidentLearning: label ${y} of sample ${i} is not a class index below ${K}`);
    if (probs[i].length !== K) throw new RangeError(`confidentLearning: sample ${i} has ${probs[i].length} probabilities, sample 0 has ${K}`);
  });

  const byClass: number[][] = Array.from({ length: K }, () => []);
  labels.forEach((y, i) => byClass[y].push(i));
  const thresholds = byClass.map((idx, j) => (idx.length ? idx.reduce((s, i) => s + probs[i][j], 0) / idx.length : NaN));

  const C = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let k = 0; k < K; k++) {
      // A class with no labelled samples has no threshold; nothing can be confidently in it.
      if (!(probs[i][k] >= thresholds[k] - THRESHOLD_SLACK)) continue;
      if (best < 0 || probs[i][k] > probs[i][best]) best = k;
    }
    if (best >= 0) C[labels[i]][best]++;
  }

  // Calibrate: row i of C rescaled so it sums to the number of samples given label i; Q = that / n.
  const calibrated = C.map((row, i) => {
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((c) => (s > 0 ? (c / s) * byClass[i].length : 0));
  });
  const total = calibrated.reduce((a, row) => a + row.reduce((b, c) => b + c, 0), 0);
  const joint = calibrated.map((row) => row.map((c) => (total > 0 ? c / total : 0)));

  const pruneCounts = joint.map((row, i) => row.map((q, j) => (i === j ? 0 : Math.round(n * q))));
  const isIssue = new Array<boolean>(n).fill(false);
  const flaggedAs = new Array<number>(n).fill(-1);
  const issueCounts = new Array<number>(K).fill(0);
  for (let i = 0; i < K; i++) {
    const members = byClass[i];
    const flagged = new Set<number>();
    for (let j = 0; j < K; j++) {
      const m = pruneCounts[i][j];
      if (j === i || m === 0) continue;
      // Largest margin p(j|x) - p(i|x) first; ties keep dataset order.
      const order = members.slice().sort((a, b) => probs[b][j] - probs[b][i] - (probs[a][j] - probs[a][i]) || a - b);
      for (const x of order.slice(0, m)) {
        flagged.add(x);
        if (flaggedAs[x] < 0 || probs[x][j] > probs[x][flaggedAs[x]]) flaggedAs[x] = j;
      }
    }
    // Keep one sample of the class: unflag the one with the highest p(i|x).
    if (members.length > 0 && flagged.size >= members.length) {
      const keep = members.reduce((b, x) => (probs[x][i] > probs[b][i] ? x : b), members[0]);
      flagged.delete(keep);
      flaggedAs[keep] = -1;
    }
    for (const x of flagged) isIssue[x] = true;
    issueCounts[i] = pruneCounts[i].reduce((a, b) => a + b, 0);
  }
  const noiseRates = joint.map((row, i) => {
    const s = row.reduce((a, b) => a + b, 0);
    return s > 0 ? (s - row[i]) / s : 0;
  });
  return { thresholds, confidentJoint: C, joint, issueCounts, noiseRates, pruneCounts, isIssue, flaggedAs, estimatedIssues: issueCounts.reduce((a, b) => a + b, 0) };
}

/**
 * The confident-learning ranking score (larger = rank higher): flagged samples first (offset 1 > any
 * 1 - p), then the rest; inside each group by self-confidence 1 - p(y|x), the order cleanlab's
 * find_label_issues(return_indices_ranked_by='self_confidence') returns. One definition for the CLI's
 * ranker (rankers.ts) and the store's cl column (store/confident.ts).
 */
export function confidentLearningScore(flagged: boolean, pLabel: number): number {
  return (flagged ? 1 : 0) + (1 - pLabel);
}
