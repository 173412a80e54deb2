// Schema v8: the FER+ votes of every split (the records import used to register validation samples
// without them), the vote sorts and the "annotators disagree" filter, the gap normalised per class
// (robust z against the class's median / MAD), the per-class statistics, and the lasso's selection page.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { classList } from '../../src/engine/classes.js';
import { annotatorsDisagree, voteEntropy, voteShare } from '../../src/engine/data/ferplusVotes.js';
import type { Dataset } from '../../src/engine/data/types.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { classStats, percentileOf, robustZ, SMALL_CLASS, unusuallyLow } from '../../src/engine/issues/classReference.js';
import {
  countMistakes, importRecords, mistakesPage, openStore, registerRun, runKey, schemaVersion, SCHEMA_VERSION, selectionPage, storedDataset, upsertDataset,
} from '../../src/engine/store/index.js';
import { readClassStats, REFERENCE_SCHEMA_VERSION } from '../../src/engine/store/reference.js';
import { fakeRecords, prng, tempDirsRemovedAfter } from './store-helpers.js';

const dir = tempDirsRemovedAfter();
const classes = classList(8);

/** Votes of sample i: its label gets 10 - k, the next class k (k = i % 5), so every fifth has a unanimous vote. */
function votesOf(label: number, i: number): number[] {
  const v = new Array<number>(10).fill(0);
  const k = i % 5;
  v[label] = 10 - k;
  v[(label + 1) % 8] += k;
  return v;
}

/** A FERPlus-shaped dataset: train and valid samples, every one with votes. */
function ferplusLike(n: number, root: string): Dataset {
  const samples = Array.from({ length: n }, (_, i) => {
    const label = i % 8;
    const split = i % 3 === 0 ? 'valid' : 'train';
    return { id: `${split}/s${i}`, path: `${split}/s${i}.png`, label, split, votes: votesOf(label, i) };
  });
  return { format: 'ferplus', root, classes, samples };
}

const withVotes = (ds: Dataset, recs: SampleRecord[]): SampleRecord[] => recs.map((r, i) => ({ ...r, votes: ds.samples[i].votes }));

test('vote helpers: share, entropy in bits, disagreement', () => {
  assert.equal(voteShare([6, 3, 1], 1), 0.3);
  assert.equal(voteShare([0, 0], 1), null);
  assert.equal(voteEntropy([5, 5, 0]), 1);
  assert.equal(voteEntropy([10, 0]), 0);
  assert.equal(voteEntropy([]), null);
  assert.equal(annotatorsDisagree([8, 2, 0, 0, 0, 0, 0, 0, 0, 0], 0), false, '2 of 10 for another class is not a second opinion');
  assert.equal(annotatorsDisagree([7, 3, 0, 0, 0, 0, 0, 0, 0, 0], 0), true, '3 of 10 (30%) is');
  assert.equal(annotatorsDisagree([6, 0, 0, 0, 0, 0, 0, 0, 4, 0], 0), false, 'unknown is not another emotion');
  assert.equal(annotatorsDisagree([3, 6, 0, 0, 0, 0, 0, 0, 1, 0], 0), true, 'the label is outvoted');
});

test('class statistics: robust z against median / MAD, percentiles, the small-class rule', () => {
  const values = Array.from({ length: 101 }, (_, i) => i); // 0..100: median 50, MAD 25
  const s = classStats(values)!;
  assert.equal(s.n, 101);
  assert.equal(s.median, 50);
  assert.equal(s.mad, 25);
  assert.ok(Math.abs(robustZ(0, s) - -50 / (1.4826 * 25)) < 1e-6);
  assert.equal(percentileOf(50, s), 0.5);
  assert.equal(percentileOf(-1, s), 0);
  assert.equal(percentileOf(100, s), 1);
  assert.ok(Math.abs(percentileOf(10, s) - 0.1) < 1e-9);
  assert.equal(s.hist.counts.reduce((a, b) => a + b, 0), 101);
  // an outlier far below a tight class is unusual; the same z in a class of 16 is not called so
  assert.equal(unusuallyLow(-3, 100), true);
  assert.equal(unusuallyLow(-3, SMALL_CLASS - 1), false);
  assert.equal(unusuallyLow(-2, 100), false);
  assert.equal(classStats([]), null);
  // more than half equal (MAD 0): the scale falls back to the standard deviation, never 0
  assert.ok(classStats([1, 1, 1, 1, 5])!.scale > 0.5);
});

test('records bring their votes: validation samples the run registered from its records have them (kefer train --store registers the training split only)', () => {
  const store = openStore(join(dir(), 'kefer.db'));
  const ds = ferplusLike(60, '/data/ferplus');
  const train: Dataset = { ...ds, samples: ds.samples.filter((s) => s.split === 'train') };
  const row = upsertDataset(store, train);
  registerRun(store, { id: 'r', dataset: row.id });
  const valid: Dataset = { ...ds, samples: ds.samples.filter((s) => s.split === 'valid') };
  const r = importRecords(store, 'r', withVotes(valid, fakeRecords(valid, 1)));
  assert.equal(r.newSamples, valid.samples.length);
  const stored = storedDataset(store, row.id).samples;
  assert.equal(stored.filter((s) => s.split === 'valid').length, 20);
  for (const s of stored) assert.deepEqual(s.votes, ds.samples.find((x) => x.id === s.id)!.votes, s.id);
  store.close();
});

test('the vote sorts and the disagree filter agree with the votes, computed here by hand', () => {
  const store = openStore(join(dir(), 'kefer.db'));
  const ds = ferplusLike(200, '/data/ferplus');
  const row = upsertDataset(store, ds);
  registerRun(store, { id: 'r', dataset: row.id });
  const recs = fakeRecords(ds, 2, 0.2);
  importRecords(store, 'r', recs);
  const mistakes = recs.map((r, i) => ({ r, v: ds.samples[i].votes! })).filter((x) => x.r.pred !== x.r.label);
  const want = mistakes.filter((x) => annotatorsDisagree(x.v, x.r.label)).length;
  assert.ok(want > 0 && want < mistakes.length);
  assert.equal(countMistakes(store, 'r', { disagree: true }), want);
  const page = mistakesPage(store, 'r', { disagree: true }, { sort: 'issue', limit: 500 }).rows;
  assert.equal(page.length, want);
  assert.ok(page.every((r) => r.disagree && annotatorsDisagree(r.votes!, r.label)));
  // with a label filter too
  assert.equal(countMistakes(store, 'r', { disagree: true, trueClass: 2 }), mistakes.filter((x) => x.r.label === 2 && annotatorsDisagree(x.v, 2)).length);
  // votes for the prediction: most first, the stored share is votes[pred] / total
  const byVotes = mistakesPage(store, 'r', {}, { sort: 'votes', limit: 500 }).rows;
  assert.equal(byVotes.length, mistakes.length);
  for (const r of byVotes) assert.equal(r.votesPred, voteShare(r.votes!, r.pred));
  for (let i = 1; i < byVotes.length; i++) assert.ok(byVotes[i - 1].votesPred! >= byVotes[i].votesPred!);
  assert.ok(byVotes[0].votesPred! > 0, 'a mistake whose prediction got votes comes first');
  const byEntropy = mistakesPage(store, 'r', {}, { sort: 'entropy', limit: 500 }).rows;
  for (const r of byEntropy) assert.equal(r.voteEntropy, voteEntropy(r.votes!));
  for (let i = 1; i < byEntropy.length; i++) assert.ok(byEntropy[i - 1].voteEntropy! >= byEntropy[i].voteEntropy!);
  store.close();
});

test('the gap sort normalised per class lists the sample unusual for its own class, not the class with the smallest gaps; neutral labels last', () => {
  const store = openStore(join(dir(), 'kefer.db'));
  const rand = prng(5);
  const n = 400;
  const samples = Array.from({ length: n }, (_, i) => ({ id: `s${i}`, path: `s${i}.png`, label: [3, 4, 6][i % 3], split: 'valid' }));
  const ds: Dataset = { format: 'folder', root: '/data/x', classes: classList(7), samples };
  const row = upsertDataset(store, ds);
  registerRun(store, { id: 'r', dataset: row.id });
  // happiness gaps ~1.0 (one odd one at 0.6), sadness ~0.05, neutral ~0.03; every sample a mistake
  const recs: SampleRecord[] = samples.map((s, i) => {
    const base = s.label === 3 ? 1 : s.label === 4 ? 0.05 : 0.03;
    const gap = i === 0 ? 0.6 : base + (rand() - 0.5) * 0.04;
    const probs = new Array<number>(7).fill(0.02);
    probs[0] = 0.88;
    return { id: s.id, path: s.path, split: s.split, label: s.label, pred: 0, probs, simText: gap, simNeutral: 0, gap, align: s.label === 6 ? null : 0.5 };
  });
  importRecords(store, 'r', recs);
  const raw = mistakesPage(store, 'r', {}, { sort: 'gap', limit: 20 }).rows;
  assert.ok(raw.every((r) => r.label !== 3), 'raw gap: the smallest gaps are all sadness / neutral');
  const z = mistakesPage(store, 'r', {}, { sort: 'gapz', limit: n }).rows;
  assert.equal(z[0].id, 's0', 'per class: the happiness sample with a gap of 0.6 comes first');
  assert.ok(z[0].gapSusp! > 10);
  const firstNeutral = z.findIndex((r) => r.label === 6);
  assert.ok(z.slice(firstNeutral).every((r) => r.label === 6 && r.gapSusp === null), 'neutral labels (no gap is trained there) sort last');
  // the stored statistics of happiness: median near 1, its percentiles read back
  const st = readClassStats(store.db, runKey(store, 'r'), 'valid', 3);
  assert.ok(st.gap && Math.abs(st.gap.median - 1) < 0.02 && st.gap.n === Math.ceil(n / 3));
  assert.ok(percentileOf(0.6, st.gap) < 0.01);
  assert.equal(readClassStats(store.db, runKey(store, 'r'), 'valid', 6).align, null, 'neutral has no alignment statistics');
  store.close();
});

test('a v6 store migrates: votes the import left out are filled from the run\'s records.jsonl, the v8 columns from the records', () => {
  const d = dir();
  const path = join(d, 'kefer.db');
  const ds = ferplusLike(90, '/data/ferplus');
  const train: Dataset = { ...ds, samples: ds.samples.filter((s) => s.split === 'train') };
  const valid: Dataset = { ...ds, samples: ds.samples.filter((s) => s.split === 'valid') };
  const recs = withVotes(valid, fakeRecords(valid, 4, 0.3));
  const runDir = join(d, 'runs', 'r');
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'records.jsonl'), recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const old = openStore(path, { targetVersion: 6 });
  const row = upsertDataset(old, train);
  registerRun(old, { id: 'r', dataset: row.id, metrics: { runDir } });
  // what a v6 import wrote: the validation samples without their votes
  importRecords(old, 'r', recs.map(({ votes: _v, ...r }) => r));
  assert.equal(storedDataset(old, row.id).samples.filter((s) => s.votes).length, train.samples.length);
  old.close();
  const store = openStore(path);
  assert.equal(schemaVersion(store.db), SCHEMA_VERSION, 'migrated to the newest schema');
  assert.ok(SCHEMA_VERSION >= REFERENCE_SCHEMA_VERSION);
  assert.equal(storedDataset(store, row.id).samples.filter((s) => s.votes).length, ds.samples.length, 'every sample has its votes');
  const rows = mistakesPage(store, 'r', {}, { sort: 'votes', limit: 100 }).rows;
  assert.ok(rows.length > 0);
  for (const r of rows) {
    assert.equal(r.votesPred, voteShare(r.votes!, r.pred));
    assert.equal(r.disagree, annotatorsDisagree(r.votes!, r.label));
    assert.equal(r.gapSusp === null, r.label === classes.indexOf('neutral'));
  }
  store.close();
});

test('a selection (a scatter lasso) lists exactly its samples, right and wrong, sorted and filtered; unknown ids are left out', () => {
  const store = openStore(join(dir(), 'kefer.db'));
  const ds = ferplusLike(120, '/data/ferplus');
  const row = upsertDataset(store, ds);
  registerRun(store, { id: 'r', dataset: row.id });
  const recs = fakeRecords(ds, 3, 1);
  importRecords(store, 'r', recs);
  const ids = recs.filter((_, i) => i % 4 === 0).map((r) => r.id);
  const p = selectionPage(store, 'r', [...ids, 'nope', ids[0]], {}, { sort: 'confidence', limit: 1000 });
  assert.equal(p.total, ids.length);
  assert.deepEqual(p.rows.map((r) => r.id).sort(), [...ids].sort());
  assert.ok(p.rows.some((r) => r.pred === r.label) && p.rows.some((r) => r.pred !== r.label), 'right and wrong predictions both listed');
  for (let i = 1; i < p.rows.length; i++) assert.ok(p.rows[i - 1].confidence <= p.rows[i].confidence);
  const second = selectionPage(store, 'r', ids, {}, { sort: 'confidence', limit: 5, offset: 5 });
  assert.deepEqual(second.rows.map((r) => r.id), p.rows.slice(5, 10).map((r) => r.id));
  const f = selectionPage(store, 'r', ids, { trueClass: 2 }, { sort: 'issue', limit: 1000 });
  assert.equal(f.total, recs.filter((r, i) => i % 4 === 0 && r.label === 2).length);
  store.close();
});
