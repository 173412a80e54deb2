// bench:accuracy's statistics: spread over seeds, the paired ablation verdict, 7-class figures of an
// 8-class model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedVerdict, sevenOfEight, spread } from '../../bench/accuracy/seeds.js';

test('spread: mean and sample standard deviation', () => {
  const s = spread([0.8, 0.82, 0.84]);
  assert.ok(Math.abs(s.mean - 0.82) < 1e-12);
  assert.ok(Math.abs(s.sd - 0.02) < 1e-12);
  assert.equal(spread([0.5]).sd, 0);
});

test('paired verdict: consistent gains help, consistent losses do not, mixed ones are noise', () => {
  assert.equal(pairedVerdict([0.81, 0.82, 0.83], [0.80, 0.80, 0.81]).verdict, 'helps');
  assert.equal(pairedVerdict([0.79, 0.79, 0.80], [0.80, 0.80, 0.81]).verdict, 'does not help');
  assert.equal(pairedVerdict([0.81, 0.79, 0.80], [0.80, 0.80, 0.80]).verdict, 'within noise');
  assert.equal(pairedVerdict([0.9], [0.1]).verdict, 'within noise', 'one pair shows nothing');
  // two seeds, both -5 and -7 points: t(1) = 12.7 standard errors is far off
  assert.equal(pairedVerdict([0.75, 0.73], [0.80, 0.80]).verdict, 'within noise');
  assert.throws(() => pairedVerdict([1, 2], [1]), /2 vs 1/);
});

test('7 of 8 classes: contempt samples dropped, contempt never predicted', () => {
  const labels = [0, 7, 3, 6];
  const probs = [
    [0.6, 0, 0, 0, 0, 0, 0, 0.4],
    [0, 0, 0, 0, 0, 0, 0.3, 0.7],
    [0, 0, 0, 0.2, 0, 0, 0.1, 0.7], // contempt on top: the best of 7 is happiness
    [0, 0, 0, 0.5, 0, 0, 0.4, 0.1],
  ];
  const m = sevenOfEight(labels, probs);
  assert.equal(m.n, 3);
  assert.equal(m.accuracy, 2 / 3);
  assert.equal(m.confusion[6][3], 1);
});
