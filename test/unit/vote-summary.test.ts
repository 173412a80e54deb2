// The inspector's vote line: the annotators' counts in words beside the given label, and whether that
// label (after any relabel) disagrees with what most annotators chose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { voteColumnName, voteSummary } from '../../src/webviews/diagnostics/votes.js';

const classes = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
// Sample.votes order: the 8 canonical classes, then unknown, not-a-face
const HAPPY_6 = [0, 0, 0, 6, 0, 0, 3, 0, 1, 0];

test('counts in words, most votes first; a label the majority backs gives no note', () => {
  const v = voteSummary(HAPPY_6, 3, classes);
  assert.equal(v.text, 'happiness 6 · neutral 3 · unknown 1');
  assert.equal(v.total, 10);
  assert.deepEqual(v.top, [3]);
  assert.equal(v.labelVotes, 6);
  assert.equal(v.disagrees, false);
  assert.equal(v.note, '');
  assert.deepEqual(v.counts.map((c) => c.column), [3, 6, 8]);
});

test('a relabel away from the majority disagrees, naming both sides with their counts', () => {
  const v = voteSummary(HAPPY_6, 6, classes);
  assert.equal(v.disagrees, true);
  assert.equal(v.labelVotes, 3);
  assert.equal(v.note, "the label neutral (3 of 10) disagrees with the annotators' majority happiness (6 of 10)");
  // a label nobody voted for
  const none = voteSummary(HAPPY_6, 5, classes);
  assert.equal(none.disagrees, true);
  assert.match(none.note, /^the label anger \(0 of 10\) disagrees/);
});

test('top votes for not-a-face, or a plurality without a majority, still disagree with another label', () => {
  const nf = voteSummary([0, 0, 0, 4, 0, 0, 0, 0, 0, 6], 3, classes);
  assert.equal(nf.disagrees, true);
  assert.match(nf.note, /majority not a face \(6 of 10\)/);
  const plural = voteSummary([3, 0, 0, 4, 0, 0, 3, 0, 0, 0], 0, classes);
  assert.equal(plural.disagrees, true);
  assert.match(plural.note, /most-voted class happiness \(4 of 10\)/);
});

test('ties: a label among the tied classes is not a disagreement but is noted; outside the tie it is', () => {
  const tie = [0, 0, 0, 5, 0, 0, 5, 0, 0, 0];
  const inTie = voteSummary(tie, 6, classes);
  assert.equal(inTie.disagrees, false);
  assert.deepEqual(inTie.top, [3, 6]);
  assert.equal(inTie.note, 'tied vote: happiness, neutral (5 of 10 each)');
  const outside = voteSummary(tie, 0, classes);
  assert.equal(outside.disagrees, true);
  assert.match(outside.note, /most-voted classes happiness, neutral \(5 of 10 each\)/);
  // top but no more than half
  assert.equal(voteSummary([4, 0, 0, 3, 0, 0, 3, 0, 0, 0], 0, classes).note, 'no majority: the label surprise has 4 of 10 votes');
});

test('column names: contempt in a 7-class dataset, unknown, not a face; no votes at all says so', () => {
  assert.equal(voteColumnName(7, classes), 'contempt');
  assert.equal(voteColumnName(8, classes), 'unknown');
  assert.equal(voteColumnName(9, classes), 'not a face');
  assert.equal(voteColumnName(3, ['a', 'b', 'c', 'joy']), 'joy', "the dataset's own class names first");
  const zero = voteSummary(new Array(10).fill(0), 2, classes);
  assert.deepEqual([zero.text, zero.disagrees, zero.note, zero.top], ['no votes', false, '', []]);
});
