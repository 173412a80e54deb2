// The inspector's "why it ranks high" lines: each signal speaks only when it points at a wrong label.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueReasons } from '../../src/webviews/diagnostics/why.js';

const classes = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
const classAlign = { mean: 0.5, std: 0.1, p10: 0.35, p90: 0.65, n: 100 };

test('a confidently predicted, well-aligned label gives no reason', () => {
  assert.deepEqual(issueReasons({ probs: [0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01], label: 0, pred: 0, gap: 0.3, align: 0.6, classAlign }, classes), []);
});

test('another class preferred, a negative gap and a low alignment each give their reason, strongest first', () => {
  const why = issueReasons({ probs: [0.05, 0, 0, 0.9, 0, 0.05, 0], label: 5, pred: 3, gap: -0.12, align: 0.1, classAlign }, classes);
  assert.equal(why.length, 3);
  assert.match(why[0], /prefers happiness \(90%\) to the label anger \(5%\)/);
  assert.match(why[1], /negative gap \(-0\.120\)/);
  assert.match(why[2], /alignment 0\.100 is below 90% of anger samples/);
});

test('neutral labels have no gap / alignment reason; a low but top probability says low confidence', () => {
  assert.deepEqual(issueReasons({ probs: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4], label: 6, pred: 6, gap: -0.2, align: null, classAlign: null }, classes), ['low confidence in the label neutral: 40%']);
});

test('a confident-learning flag is named first, with the likely class against its threshold, or its margin when below', () => {
  const probs = [0.05, 0, 0, 0.81, 0, 0.14, 0];
  const why = issueReasons({ probs, label: 5, pred: 3, gap: 0.1, align: 0.6, classAlign, clFlag: { cls: 3, threshold: 0.62 } }, classes);
  assert.equal(why[0], 'confident learning: flagged as happiness (p(happiness) 0.81 ≥ class threshold 0.62)');
  assert.match(why[1], /prefers happiness/);
  const below = issueReasons({ probs, label: 5, pred: 3, gap: 0.1, align: 0.6, classAlign, clFlag: { cls: 3, threshold: 0.9 } }, classes);
  assert.equal(below[0], 'confident learning: flagged as happiness by its margin over the label (p(happiness) 0.81, below the class threshold 0.90)');
  // not flagged (null, or a record from before the cl columns): no confident-learning line
  assert.ok(!issueReasons({ probs, label: 5, pred: 3, gap: 0.1, align: 0.6, classAlign, clFlag: null }, classes).some((w) => w.startsWith('confident learning')));
});

test('in the calibrated order the class\'s estimated issue rate from the spot-check is named first, with the sample\'s calibrated score', () => {
  const d = { probs: [0.05, 0.5, 0, 0.4, 0, 0.05, 0], label: 1, pred: 1, gap: 0.1, align: 0.6, classAlign, cal: 0.734 };
  const rates = [0.05, 0.42, 0.1, 0.03, 0.2, 0.1, 0.15];
  const why = issueReasons(d, classes, rates);
  assert.equal(why[0], 'calibrated on your spot-check: an estimated 42% of fear labels are wrong; this one 73%');
  assert.equal(why.length, 1 + issueReasons(d, classes).length);
  // not calibrated (no score, or a class without an estimate): no such line
  assert.ok(!issueReasons({ ...d, cal: null }, classes, rates).some((w) => w.startsWith('calibrated')));
  assert.ok(!issueReasons(d, classes, [0.05, null]).some((w) => w.startsWith('calibrated')));
});
