// The review-calibrated ranking (calibrate.ts): class-dependent noise that the model's probabilities
// cannot show is learnt from a random spot-check; bad reviews are refused by name; the spot-check order
// is a stable, seeded shuffle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import {
  auroc, calibratedScores, estimatedIssueRates, fitReviewCalibratedModel, MIN_REVIEWS, prepareRecords, rankerScores, spotCheckOrder, type Review,
} from '../../src/engine/issues/index.js';
import { Rng } from '../../src/engine/util/rng.js';
import { K, plantedRun } from './issues-planted.js';

test('calibrated on 150 random reviews, the ranking learns the class-dependent noise that self-confidence and confident learning miss', () => {
  const { records, wrong } = plantedRun(3);
  const picked = new Rng(9).shuffle(records.map((_, i) => i)).slice(0, 150);
  const reviews: Review[] = picked.map((i) => ({ id: records[i].id, issue: wrong[i] }));
  const model = fitReviewCalibratedModel(records, reviews);

  assert.ok(model.signalWeights.every((w) => w >= 0), `signal weights are non-negative: ${model.signalWeights}`);
  const others = model.classOffsets.filter((_, k) => k !== 2);
  assert.ok(model.classOffsets[2] > Math.max(...others) + 1, `class 2's offset ${model.classOffsets[2]} stands above the others ${others}`);
  assert.equal(model.reviews.n, 150);
  assert.equal(model.reviews.issues, reviews.filter((r) => r.issue).length);
  assert.equal(model.reviews.perClass.reduce((s, c) => s + c.n, 0), 150);

  // Scored on the samples nobody reviewed.
  const reviewed = new Set(picked);
  const rest = records.map((_, i) => i).filter((i) => !reviewed.has(i));
  const cal = calibratedScores(records, model);
  const { scores } = rankerScores(records);
  const at = (s: number[]) => auroc(rest.map((i) => s[i]), rest.map((i) => wrong[i]));
  const aCal = at(cal);
  const aSc = at(scores.selfConfidence);
  const aCl = at(scores.confidentLearning);
  assert.ok(aCal > aSc + 0.05 && aCal > aCl + 0.05, `AUROC calibrated ${aCal.toFixed(3)} vs self-confidence ${aSc.toFixed(3)}, confident learning ${aCl.toFixed(3)}`);

  // The estimated issue rate per class follows the planted one.
  const est = estimatedIssueRates(records, reviews, model);
  assert.equal(est[2].n, 200);
  const truth = (k: number) => wrong.filter((w, i) => w && records[i].label === k).length / 200;
  assert.ok(Math.abs(est[2].rate - truth(2)) < 0.12, `class 2 estimate ${est[2].rate.toFixed(3)} vs planted ${truth(2).toFixed(3)}`);
  assert.ok(Math.abs(est[0].rate - truth(0)) < 0.08, `class 0 estimate ${est[0].rate.toFixed(3)} vs planted ${truth(0).toFixed(3)}`);
});

test('the same evidence ranks higher in a class the reviews found noisy', () => {
  const { records, wrong } = plantedRun(4);
  const reviews = new Rng(2).shuffle(records.map((_, i) => i)).slice(0, 100).map((i) => ({ id: records[i].id, issue: wrong[i] }));
  const model = fitReviewCalibratedModel(records, reviews);
  const probs = [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05];
  const twin = (label: number): SampleRecord => {
    const p = [...probs];
    p[label] = 0.4;
    p[(label + 1) % K] = 0.3;
    return { id: `t${label}`, path: 't.png', split: 'train', label, pred: label, probs: p, simText: 0.5, simNeutral: 0.1, gap: 0.4, align: 0.5 };
  };
  const [s2, s0] = calibratedScores([twin(2), twin(0)], model);
  assert.ok(s2 > s0, `same evidence, noisier class ranks higher: ${s2} vs ${s0}`);
});

test('bad reviews are refused by name: unknown sample, duplicate, too few, one kind only', () => {
  const { records } = plantedRun(5);
  const ok = records.slice(0, MIN_REVIEWS).map((r, i) => ({ id: r.id, issue: i % 3 === 0 }));
  assert.throws(() => fitReviewCalibratedModel(records, [...ok, { id: 'nope.png', issue: true }]), /review of 'nope\.png': no such sample/);
  assert.throws(() => fitReviewCalibratedModel(records, [...ok, ok[4]]), new RegExp(`review of '${ok[4].id}': given twice`));
  assert.throws(() => fitReviewCalibratedModel(records, ok.slice(1)), new RegExp(`at least ${MIN_REVIEWS} reviewed samples, have ${MIN_REVIEWS - 1}`));
  assert.throws(() => fitReviewCalibratedModel(records, ok.map((r) => ({ ...r, issue: false }))), /both kinds, have 0 issue\(s\) and 20 confirmed/);
  assert.doesNotThrow(() => fitReviewCalibratedModel(records, ok));
});

test('spot-check order: a permutation, the same for the same seed, another for another seed, not the id order', () => {
  const ids = Array.from({ length: 500 }, (_, i) => `FER2013Train/fer${String(i).padStart(7, '0')}.png`);
  const a = spotCheckOrder(ids, 1);
  assert.deepEqual([...a].sort(), [...ids].sort());
  assert.deepEqual(spotCheckOrder([...ids].reverse(), 1), a, 'input order does not matter');
  const b = spotCheckOrder(ids, 2);
  assert.notDeepEqual(a, b);
  // Not the id order: about half of the neighbours are out of order in a shuffle.
  const inversions = a.slice(1).filter((id, i) => id < a[i]).length;
  assert.ok(inversions > 200 && inversions < 300, `${inversions} of 499 neighbours descend`);
  // Ids from one class folder are spread over the order, not bunched: the first 100 hold ids from all of 0..499.
  const firstIdx = a.slice(0, 100).map((id) => ids.indexOf(id));
  assert.ok(Math.min(...firstIdx) < 50 && Math.max(...firstIdx) > 450);
});

test('fits at AffectNet scale: 300k records (the class count was a spread over all records, which overflows the call stack)', () => {
  const { records, wrong } = plantedRun(5);
  const big: SampleRecord[] = [];
  for (let i = 0; i < 300_000; i++) {
    const r = records[i % records.length];
    big.push({ ...r, id: `big/${i}.png` });
  }
  const reviews: Review[] = Array.from({ length: 60 }, (_, j) => ({ id: big[j * 97].id, issue: wrong[(j * 97) % records.length] }));
  const model = fitReviewCalibratedModel(big, reviews);
  assert.equal(model.classOffsets.length, K);
  assert.equal(calibratedScores(big, model).length, 300_000);
});

test('prepared records (the curation worker keeps them) give the same fit, scores and rates as the records themselves', () => {
  const { records, wrong } = plantedRun(8);
  const reviews: Review[] = records.filter((_, i) => i % 13 === 0).map((r) => ({ id: r.id, issue: wrong[records.indexOf(r)] }));
  const plain = fitReviewCalibratedModel(records, reviews);
  const prepared = prepareRecords(records);
  const fast = fitReviewCalibratedModel(prepared, reviews);
  assert.deepEqual({ ...fast, stats: null }, { ...plain, stats: null });
  const a = calibratedScores(records, plain);
  const b = calibratedScores(prepared, fast);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-12, `score ${i}`));
  const ra = estimatedIssueRates(records, reviews, plain, a);
  const rb = estimatedIssueRates(prepared, reviews, fast, b);
  ra.forEach((c, k) => {
    assert.deepEqual([rb[k].n, rb[k].reviewed, rb[k].reviewedIssues], [c.n, c.reviewed, c.reviewedIssues]);
    assert.ok(Math.abs(rb[k].rate - c.rate) < 1e-9, `rate of class ${k}`);
  });
});
