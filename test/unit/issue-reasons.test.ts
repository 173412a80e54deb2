// The inspector's "why it ranks here" lines: every signal the current order uses, with this sample's
// value (sortReasons), and the other evidence of a wrong label, each speaking only when it points at one
// (issueReasons). The class reference (robust z, percentile) replaces the old p10 cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueScore } from '../../src/engine/issues/combine.js';
import { SORT_KEYS, type SampleReference, type SignalReference } from '../../src/webviews/protocol.js';
import { issueReasons, sortReasons, type Evidence } from '../../src/webviews/diagnostics/why.js';

const classes = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
const sig = (value: number, z: number, n = 100): SignalReference => ({ value, n, median: 0.5, z, percentile: z < -2.5 ? 0.01 : 0.4, unusual: z < -2.5 && n >= 30, small: n < 30, hist: { lo: 0, hi: 1, counts: [1, 2, 3] } });
const ref = (cls: number, gap: SignalReference | null, align: SignalReference | null): SampleReference => ({ cls, split: 'valid', neutral: cls === 6, gap, align });
const usual = ref(0, sig(0.3, -0.5), sig(0.6, 0.4));

test('a confidently predicted, well-aligned label gives no evidence', () => {
  assert.deepEqual(issueReasons({ probs: [0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01], label: 0, pred: 0, gap: 0.3, align: 0.6, reference: usual, clFlag: null, cal: null }, classes), []);
});

test('another class preferred, a negative gap, signals unusually low for the class and the annotators\' votes each give their reason', () => {
  const why = issueReasons({ probs: [0.05, 0, 0, 0.9, 0, 0.05, 0], label: 5, pred: 3, gap: -0.12, align: 0.1, reference: ref(5, sig(-0.12, -3.1), sig(0.1, -2.8)), clFlag: null, cal: null, votes: [0, 0, 0, 4, 0, 6, 0, 0, 0, 0] }, classes);
  assert.match(why[0], /prefers happiness \(90%\) to the label anger \(5%\)/);
  assert.match(why[1], /negative gap \(-0\.120\)/);
  assert.match(why[2], /gap unusually low for anger: robust z −3\.1/);
  assert.match(why[3], /alignment unusually low for anger: 0\.100, robust z −2\.8/);
  assert.equal(why[4], '4 of 10 annotators chose the prediction happiness');
  // the same z in a small class is not called unusual
  const small = issueReasons({ probs: [0.05, 0, 0, 0.9, 0, 0.05, 0], label: 5, pred: 3, gap: 0.12, align: 0.1, reference: ref(5, sig(0.12, -3.1, 16), null), clFlag: null, cal: null }, classes);
  assert.ok(!small.some((w) => /unusually/.test(w)), small.join('\n'));
});

test('neutral labels have no gap / alignment reason; a low but top probability says low confidence', () => {
  assert.deepEqual(issueReasons({ probs: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4], label: 6, pred: 6, gap: -0.2, align: null, reference: ref(6, sig(-0.2, -4), null), clFlag: null, cal: null }, classes), ['low confidence in the label neutral: 40%']);
});

test('a confident-learning flag is named first, with the likely class against its threshold, or its margin when below', () => {
  const probs = [0.05, 0, 0, 0.81, 0, 0.14, 0];
  const base = { probs, label: 5, pred: 3, gap: 0.1, align: 0.6, reference: usual, cal: null };
  const why = issueReasons({ ...base, clFlag: { cls: 3, threshold: 0.62 } }, classes);
  assert.equal(why[0], 'confident learning: flagged as happiness (p(happiness) 0.81 ≥ class threshold 0.62)');
  assert.match(why[1], /prefers happiness/);
  const below = issueReasons({ ...base, clFlag: { cls: 3, threshold: 0.9 } }, classes);
  assert.equal(below[0], 'confident learning: flagged as happiness by its margin over the label (p(happiness) 0.81, below the class threshold 0.90)');
  assert.ok(!issueReasons({ ...base, clFlag: null }, classes).some((w) => w.startsWith('confident learning')));
});

test('in the calibrated order the class\'s estimated issue rate from the spot-check is named first, with the sample\'s calibrated score', () => {
  const d: Evidence = { probs: [0.05, 0.5, 0, 0.4, 0, 0.05, 0], label: 1, pred: 1, gap: 0.1, align: 0.6, reference: usual, clFlag: null, cal: 0.734 };
  const rates = [0.05, 0.42, 0.1, 0.03, 0.2, 0.1, 0.15];
  const why = issueReasons(d, classes, rates);
  assert.equal(why[0], 'calibrated on your spot-check: an estimated 42% of fear labels are wrong; this one 73%');
  assert.equal(why.length, 1 + issueReasons(d, classes).length);
  assert.ok(!issueReasons({ ...d, cal: null }, classes, rates).some((w) => w.startsWith('calibrated')));
  assert.match(sortReasons('calibrated', d, classes, rates)[0], /^calibrated on your spot-check: an estimated 42% of fear labels are wrong; this one 73%/);
});

test('every order explains itself: each sort key names the signal it reads, with this sample\'s value', () => {
  const d: Evidence = { id: 'x', split: 'valid', probs: [0.05, 0.1, 0, 0.7, 0, 0.15, 0], label: 5, pred: 3, gap: 0.02, align: 0.3, simText: 0.3, simNeutral: 0.28, reference: ref(5, sig(0.02, -3.2), sig(0.3, -1)), clFlag: null, cal: null, votes: [0, 0, 0, 3, 0, 7, 0, 0, 0, 0] };
  for (const k of SORT_KEYS) assert.ok(sortReasons(k, d, classes).length > 0, k);
  assert.match(sortReasons('confidence', d, classes)[0], /^p\(label anger\) = 15%/);
  assert.match(sortReasons('margin', d, classes)[0], /p\(anger\) − p\(happiness\) = 15% − 70% = −0\.550/);
  assert.match(sortReasons('gapz', d, classes)[0], /^gap 0\.020: p1 of anger \(valid, 100 samples, median 0\.500\), robust z −3\.2 — unusually low for its class/);
  assert.match(sortReasons('gap', d, classes)[0], /^raw gap 0\.020 \(smallest first\); against its class: p1, robust z −3\.2/);
  assert.match(sortReasons('votes', d, classes)[0], /^3 of 10 annotators chose the prediction happiness \(the label anger: 7\)/);
  assert.match(sortReasons('entropy', d, classes)[0], /^vote entropy 0\.88 bits/);
  assert.match(sortReasons('cl', d, classes)[0], /^not flagged by confident learning/);
  assert.match(sortReasons('spotcheck', d, classes)[0], /random on purpose/);
  // the issue score taken apart reproduces the stored score (the import's formula)
  const stored = issueScore({ id: 'x', path: '', split: 'valid', label: 5, pred: 3, probs: d.probs, simText: 0.3, simNeutral: 0.28, gap: 0.02, align: 0.3 });
  const issue = sortReasons('issue', d, classes);
  assert.match(issue[0], new RegExp(`^issue score ${stored.toFixed(2)} = sigmoid\\(`));
  assert.match(issue[0], /margin .* × 0\.88/);
  assert.match(issue[0], /alignment .* × 0\.27/);
  assert.match(issue[1], /weight 0 .*self-confidence, gap/);
});

test('a neutral label: the gap orders say why it sorts where it does, not that it is suspicious', () => {
  const d: Evidence = { probs: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4], label: 6, pred: 6, gap: 0.03, align: null, reference: ref(6, sig(0.03, 0.1), null), clFlag: null, cal: null };
  assert.match(sortReasons('gapz', d, classes)[0], /neutral label: no gap is trained for neutral .* last/);
  assert.match(sortReasons('gap', d, classes)[0], /raw gap 0\.030: a neutral label, for which the method trains no gap/);
  assert.match(sortReasons('issue', d, classes).join('\n'), /not defined for a neutral label/);
});
