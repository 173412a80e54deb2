// Confident learning against a hand-worked example, the side-by-side rankers, the ranking metrics, and
// the FER+ verdict rule used by the real-noise benchmark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { auroc, confidentLearning, precisionAt, rankerScores, recallAt, RANKER_NAMES, verdictOf, orderByScore } from '../../src/engine/issues/index.js';

const near = (a: number, b: number, msg: string) => assert.ok(Math.abs(a - b) < 1e-9, `${msg}: ${a} != ${b}`);

// Hand-worked example, 3 classes, n = 10 (rows: p(0|x), p(1|x), p(2|x)).
//   given 0: s0 [.8 .1 .1]  s1 [.6 .3 .1]  s2 [.1 .8 .1]  s3 [.3 .45 .25]
//   given 1: s4 [.2 .7 .1]  s5 [.1 .6 .3]  s6 [.7 .2 .1]
//   given 2: s7 [.1 .1 .8]  s8 [.2 .2 .6]  s9 [.3 .3 .4]
// Thresholds t_j = mean p(j|x) over samples given j:
//   t0 = (.8 + .6 + .1 + .3) / 4 = .45;  t1 = (.7 + .6 + .2) / 3 = .5;  t2 = (.8 + .6 + .4) / 3 = .6
// Confident class = argmax over {k : p(k|x) >= t_k}:
//   s0 -> 0, s1 -> 0, s2 -> 1 (p1 .8 >= .5), s3 -> none (.3 < .45, .45 < .5, .25 < .6)
//   s4 -> 1, s5 -> 1 (p2 .3 < .6), s6 -> 0 (p0 .7 >= .45)
//   s7 -> 2, s8 -> 2 (.6 >= .6, exactly at the threshold), s9 -> none
// Confident joint C = [[2, 1, 0], [1, 2, 0], [0, 0, 2]]
// Calibrate each row to its class count (4, 3, 3): [[8/3, 4/3, 0], [1, 2, 0], [0, 0, 3]], total 10
// Q = that / 10 = [[4/15, 2/15, 0], [1/10, 2/10, 0], [0, 0, 3/10]]
// Prune counts round(n Q[i][j]), i != j: (0,1) = round(4/3) = 1, (1,0) = 1, all others 0.
//   class 0, largest p1 - p0: s2 (+.7) > s3 (+.15) > s1 > s0  -> flag s2
//   class 1, largest p0 - p1: s6 (+.5) > s4 = s5 (-.5)        -> flag s6
// Per-class issue counts [1, 1, 0]; noise rates sum_{j!=i} Q[i][j] / sum_j Q[i][j]: [1/3, 1/3, 0].
const P = [
  [0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.3, 0.45, 0.25],
  [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.7, 0.2, 0.1],
  [0.1, 0.1, 0.8], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4],
];
const Y = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];

test('confident learning: thresholds, confident joint, calibrated joint and prune-by-noise-rate match the hand-worked example', () => {
  const r = confidentLearning(P, Y);
  [0.45, 0.5, 0.6].forEach((t, j) => near(r.thresholds[j], t, `t${j}`));
  assert.deepEqual(r.confidentJoint, [[2, 1, 0], [1, 2, 0], [0, 0, 2]]);
  const Q = [[4 / 15, 2 / 15, 0], [1 / 10, 2 / 10, 0], [0, 0, 3 / 10]];
  Q.forEach((row, i) => row.forEach((q, j) => near(r.joint[i][j], q, `Q[${i}][${j}]`)));
  assert.deepEqual(r.pruneCounts, [[0, 1, 0], [1, 0, 0], [0, 0, 0]]);
  assert.deepEqual(r.issueCounts, [1, 1, 0]);
  [1 / 3, 1 / 3, 0].forEach((x, i) => near(r.noiseRates[i], x, `noise rate ${i}`));
  assert.equal(r.estimatedIssues, 2);
  assert.deepEqual(r.isIssue.flatMap((f, i) => (f ? [i] : [])), [2, 6]);
  // s2 was flagged for (0, 1), s6 for (1, 0): the class each likely belongs to
  assert.deepEqual(r.flaggedAs, [-1, -1, 1, -1, -1, -1, 0, -1, -1, -1]);
});

test('confident learning flags only what the thresholds support, and never empties a class', () => {
  const probs = [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.1, 0.9], [0.2, 0.8]];
  const labels = [0, 0, 0, 0, 1, 1];
  const r = confidentLearning(probs, labels);
  // t0 = (.9+.2+.3+.4)/4 = .45, t1 = .85: s1..s3 have p1 < .85 and p0 < .45, so they are confidently nowhere...
  assert.deepEqual(r.confidentJoint, [[1, 0], [0, 1]]);
  // ...and nothing is flagged: confident learning flags only what the thresholds support.
  assert.equal(r.estimatedIssues, 0);
  const all = confidentLearning([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]], [0, 0, 1]);
  // t0 = .15, t1 = .1: both class-0 samples are confidently class 1 (p1 > p0 >= t0) -> prune count 2,
  // but one sample of class 0 must remain: the one with the higher p(0|x) (sample 1) stays. Class 1's
  // only sample is confidently class 0 (prune count round(3 * 1/3) = 1) and stays for the same reason.
  assert.deepEqual(all.confidentJoint, [[0, 2], [1, 0]]);
  assert.deepEqual(all.pruneCounts, [[0, 2], [1, 0]]);
  assert.deepEqual(all.isIssue, [true, false, false]);
  assert.deepEqual(all.flaggedAs, [1, -1, -1], 'a sample kept to keep its class is not flagged as anything');
  assert.throws(() => confidentLearning([[0.5, 0.5]], [2]), /label 2 of sample 0/);
});

function rec(i: number, label: number, probs: number[], gap: number, align: number | null): SampleRecord {
  return { id: `s${i}`, path: `s${i}.png`, split: 'train', label, pred: probs.indexOf(Math.max(...probs)), probs, simText: gap, simNeutral: 0, gap, align };
}

test('every ranker puts unambiguous issues first', () => {
  // 40 clean samples (confident in their label, large gap, aligned) and 4 planted issues (confident in
  // another class, negative gap, anti-aligned). Neutral = index 2 is never a label here.
  const records: SampleRecord[] = [];
  const planted = new Set([5, 17, 29, 38]);
  for (let i = 0; i < 44; i++) {
    const y = i % 2;
    const jitter = (i % 7) * 0.01;
    records.push(planted.has(i)
      ? rec(i, y, y === 0 ? [0.05 + jitter, 0.9 - jitter, 0.05] : [0.9 - jitter, 0.05 + jitter, 0.05], -0.3 - jitter, -0.5)
      : rec(i, y, y === 0 ? [0.85 - jitter, 0.1 + jitter, 0.05] : [0.1 + jitter, 0.85 - jitter, 0.05], 0.4 + jitter, 0.7 - jitter));
  }
  const { scores, cl } = rankerScores(records, { neutralIndex: 2 });
  for (const name of RANKER_NAMES) {
    const top = orderByScore(scores[name]).slice(0, planted.size);
    assert.deepEqual(new Set(top), planted, `${name} ranks the planted issues first`);
  }
  assert.deepEqual(cl.isIssue.flatMap((f, i) => (f ? [i] : [])), [...planted].sort((a, b) => a - b), 'confident learning flags exactly the planted issues');
});

test('ranking metrics: precision, recall, AUROC with ties', () => {
  const score = [0.9, 0.8, 0.7, 0.6, 0.5];
  const truth = [true, false, true, false, false];
  near(precisionAt(score, truth, 2), 0.5, 'P@2');
  near(recallAt(score, truth, 3), 1, 'R@3');
  // Positives at ranks 5 and 3 (ascending) of 5: U = (5 + 3) - 3 = 5 of 2 * 3 pairs.
  near(auroc(score, truth), 5 / 6, 'AUROC');
  near(auroc([1, 1, 1, 1], [true, false, true, false]), 0.5, 'all ties: 0.5');
  near(auroc([1, 0], [true, false]), 1, 'perfect');
  assert.ok(Number.isNaN(auroc([1, 2], [false, false])), 'no positives: NaN');
});

test('FER+ verdicts: agree, disagree (contempt included), unknown, not-a-face, no majority', () => {
  // columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
  assert.deepEqual(verdictOf('happiness', [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]), { verdict: 'agree', majority: 'happiness' });
  assert.deepEqual(verdictOf('anger', [7, 1, 0, 0, 2, 0, 0, 0, 0, 0]), { verdict: 'disagree', majority: 'neutral' });
  assert.deepEqual(verdictOf('anger', [0, 0, 0, 0, 2, 0, 0, 8, 0, 0]), { verdict: 'disagree', majority: 'contempt' });
  assert.deepEqual(verdictOf('fear', [1, 0, 0, 0, 0, 0, 3, 0, 6, 0]), { verdict: 'unknown', majority: 'unknown' });
  assert.deepEqual(verdictOf('fear', [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]), { verdict: 'not-a-face', majority: 'NF' });
  // 4 vs 4 vs 2: no class above half.
  assert.deepEqual(verdictOf('sadness', [4, 0, 0, 4, 0, 0, 2, 0, 0, 0]), { verdict: 'no-majority' });
  // Single votes are noise: 5 sadness of 5 counted (the five 1-votes are dropped) is a majority.
  assert.deepEqual(verdictOf('sadness', [1, 1, 1, 5, 1, 1, 0, 0, 0, 0]), { verdict: 'agree', majority: 'sadness' });
});
