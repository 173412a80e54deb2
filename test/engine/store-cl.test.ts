// The store's confident-learning ranking (schema v5: records.cl / cl_class / cl_threshold): the panel's
// 'cl' sort orders a hand-built run as confident learning says (flagged samples first, each group by
// self-confidence), the flags match confidentLearning(), and a v4 store migrates keeping its data.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { classList } from '../../src/engine/classes.js';
import type { Dataset } from '../../src/engine/data/types.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { confidentLearning, orderByScore, rankerScores } from '../../src/engine/issues/index.js';
import {
  cellPage, confusion, effectiveLabels, importRecords, labelLog, listRuns, mistakesPage, openStore, relabel, sampleHistory,
  SCHEMA_VERSION, schemaVersion, setMark, undo,
} from '../../src/engine/store/index.js';
import { fakeRecords, tempDirsRemovedAfter, tinyDataset, withRun } from './store-helpers.js';

const dir = tempDirsRemovedAfter('kefer-store-cl-');

// The hand-worked example of issues-rankers.test.ts (3 classes, s0..s9) plus s10, given 2, which is
// confidently nowhere: p0 .4 < t0 .45, p1 .45 < t1 .5, p2 .15 < t2 = (.8 + .6 + .4 + .15) / 4 = .4875.
// The confident joint stays [[2, 1, 0], [1, 2, 0], [0, 0, 2]]; row 2 calibrates to [0, 0, 4], n = 11;
// prune counts (0,1) = round(4/3) = 1 and (1,0) = round(1) = 1: s2 (as class 1, t1 = .5) and s6 (as
// class 0, t0 = .45) are flagged, as in the 10-sample example.
// Misclassified: s2 (p(label) .1), s3 (.3), s6 (.2), s10 (.15). By confidence: s2 s10 s6 s3; by
// confident learning: the flagged s2 s6 first, then s10 s3.
const P = [
  [0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.3, 0.45, 0.25],
  [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.7, 0.2, 0.1],
  [0.1, 0.1, 0.8], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4], [0.4, 0.45, 0.15],
];
const Y = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2];

function handRun(root: string): { dataset: Dataset; records: SampleRecord[] } {
  const ids = P.map((_, i) => `s${i}`);
  const dataset: Dataset = { format: 'synthetic', root, classes: classList(7), samples: ids.map((id, i) => ({ id, path: `img/${id}.png`, label: Y[i], split: 'train' })), synthetic: true };
  const records = P.map((p3, i): SampleRecord => {
    const probs = [...p3, 0, 0, 0, 0];
    return { id: ids[i], path: `img/${ids[i]}.png`, split: 'train', label: Y[i], pred: probs.indexOf(Math.max(...probs)), probs, simText: 0.3, simNeutral: 0.2, gap: 0.1, align: 0.5 };
  });
  return { dataset, records };
}

describe('confident-learning sort', () => {
  test('a hand-built run: the flagged samples first (by self-confidence), then the rest; flags and evidence as worked by hand', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const { dataset, records } = handRun(join(d, 'ds'));
    const dsId = withRun(store, dataset, records, 'hand');

    const cl = confidentLearning(P, Y);
    assert.deepEqual(cl.isIssue.flatMap((f, i) => (f ? [i] : [])), [2, 6], 'the worked example: s2 and s6 are flagged');
    assert.deepEqual(cl.flaggedAs, [-1, -1, 1, -1, -1, -1, 0, -1, -1, -1, -1]);

    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    assert.deepEqual(ids(mistakesPage(store, 'hand', {}, { sort: 'cl' }).rows), ['s2', 's6', 's10', 's3']);
    // the order the confidence sort gives is another one: the test tells the two apart
    assert.deepEqual(ids(mistakesPage(store, 'hand', {}, { sort: 'confidence' }).rows), ['s2', 's10', 's6', 's3']);
    // the same order as the CLI's `kefer issues --ranker confidentLearning` on these records
    const scores = rankerScores(records).scores.confidentLearning;
    assert.deepEqual(ids(mistakesPage(store, 'hand', {}, { sort: 'cl' }).rows), orderByScore(scores).map((i) => records[i]).filter((r) => r.pred !== r.label).map((r) => r.id));
    // keyset paging walks the same order
    const first = mistakesPage(store, 'hand', {}, { sort: 'cl', limit: 2 });
    assert.deepEqual(ids(first.rows), ['s2', 's6']);
    assert.deepEqual(ids(mistakesPage(store, 'hand', {}, { sort: 'cl', limit: 2, after: first.next ?? undefined }).rows), ['s10', 's3']);
    // a confusion cell (the diagonal of class 1: nothing flagged) sorts by self-confidence, lowest p(label) first
    assert.deepEqual(ids(cellPage(store, 'hand', 1, 1, { sort: 'cl' }).rows), ['s5', 's4']);
    assert.deepEqual(ids(cellPage(store, 'hand', 1, 0, { sort: 'cl' }).rows), ['s6']);

    // the rows carry the score and, for flagged samples, the likely class and its threshold
    const rows = new Map(mistakesPage(store, 'hand', {}, { sort: 'cl' }).rows.map((r) => [r.id, r]));
    assert.ok(Math.abs(rows.get('s2')!.cl - 1.9) < 1e-6 && Math.abs(rows.get('s10')!.cl - 0.85) < 1e-6);
    assert.deepEqual(rows.get('s2')!.clFlag?.cls, 1);
    assert.ok(Math.abs(rows.get('s2')!.clFlag!.threshold - 0.5) < 1e-6);
    assert.deepEqual(rows.get('s6')!.clFlag?.cls, 0);
    assert.ok(Math.abs(rows.get('s6')!.clFlag!.threshold - 0.45) < 1e-6);
    assert.equal(rows.get('s10')!.clFlag, null);
    assert.equal(sampleHistory(store, { dataset: dsId, id: 's6' }).records[0].clFlag?.cls, 0);

    // re-importing the run with one record changed recomputes the whole run's ranking
    const fixed = records.map((r) => (r.id === 's6' ? { ...r, probs: [0.1, 0.8, 0.1, 0, 0, 0, 0], pred: 1 } : r));
    importRecords(store, 'hand', fixed);
    assert.equal(mistakesPage(store, 'hand', {}, { sort: 'cl' }).rows.find((r) => r.id === 's6'), undefined);
    store.close();
  });

  test('a larger run: cl order is confidentLearning() per split, flagged first by self-confidence', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(300, join(d, 'ds'), 5, 7);
    const records = fakeRecords(dataset, 9, 0.8);
    withRun(store, dataset, records, 'big');
    for (const split of ['train', 'test']) {
      const recs = records.filter((r) => r.split === split);
      // what the store holds is float32: rank on what it ranks
      const probs = recs.map((r) => Float32Array.from(r.probs));
      const cl = confidentLearning(probs, recs.map((r) => r.label));
      assert.ok(cl.isIssue.some(Boolean) && !cl.isIssue.every(Boolean), `${split}: some flagged, some not`);
      const expected = recs
        .map((r, i) => ({ id: r.id, flagged: cl.isIssue[i], conf: r.probs[r.label], wrong: r.pred !== r.label }))
        .filter((x) => x.wrong)
        .sort((a, b) => Number(b.flagged) - Number(a.flagged) || a.conf - b.conf);
      const got = mistakesPage(store, 'big', { split }, { sort: 'cl', limit: 1000 }).rows;
      assert.deepEqual(got.map((r) => r.id), expected.map((x) => x.id), split);
      assert.deepEqual(got.map((r) => r.clFlag !== null), expected.map((x) => x.flagged), `${split}: flags`);
      assert.notDeepEqual(got.map((r) => r.id), mistakesPage(store, 'big', { split }, { sort: 'confidence', limit: 1000 }).rows.map((r) => r.id), `${split}: cl is not the confidence order`);
    }
    store.close();
  });
});

describe('migration to v5', () => {
  test('a v4 store, written through the API, migrates keeping records, labels, marks and history, and gains the cl ranking', () => {
    const d = dir();
    const path = join(d, 'kefer.db');
    const dataset = tinyDataset(60, join(d, 'ds'), 3, 7);
    const records = fakeRecords(dataset, 4, 0.8);
    const old = openStore(path, { targetVersion: 4 });
    assert.equal(schemaVersion(old.db), 4);
    const dsId = withRun(old, dataset, records, 'r4');
    for (let i = 0; i < 6; i++) relabel(old, { dataset: dsId, id: dataset.samples[i].id }, (dataset.samples[i].label + 1) % 7, { author: 'v4' });
    setMark(old, { dataset: dsId, id: dataset.samples[10].id }, 'unsure', true, { author: 'v4' });
    undo(old, dsId, { author: 'v4' });
    const recordsBefore = old.db.prepare('SELECT run, sample, split, label, pred, probs, sim_text, sim_neutral, gap, align, confidence, margin, issue, eff FROM records ORDER BY run, sample').all();
    const labelsBefore = effectiveLabels(old, dsId);
    const logBefore = labelLog(old);
    const confusionBefore = confusion(old, 'r4', 'effective').matrix;
    // (the v4 schema has no cl columns, which today's row queries read: raw SQL here)
    const issueOrderBefore = old.db.prepare('SELECT s.sid FROM records r JOIN samples s ON s.sk = r.sample WHERE r.pred <> r.label ORDER BY r.issue DESC, r.sample DESC').pluck().all();
    old.close();

    const store = openStore(path);
    assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
    assert.deepEqual(store.db.prepare('SELECT run, sample, split, label, pred, probs, sim_text, sim_neutral, gap, align, confidence, margin, issue, eff FROM records ORDER BY run, sample').all(), recordsBefore);
    assert.deepEqual(effectiveLabels(store, dsId), labelsBefore);
    assert.deepEqual(labelLog(store), logBefore);
    assert.deepEqual(confusion(store, 'r4', 'effective').matrix, confusionBefore);
    assert.deepEqual(mistakesPage(store, 'r4', {}, { sort: 'issue', limit: 1000 }).rows.map((r) => r.id), issueOrderBefore);
    assert.equal(listRuns(store)[0].records, records.length);
    // the migration filled the cl columns exactly as a fresh import does
    const migrated = store.db.prepare('SELECT sample, cl, cl_class, cl_threshold FROM records ORDER BY sample').all();
    assert.ok((migrated as { cl_class: number | null }[]).some((r) => r.cl_class !== null), 'some records flagged');
    importRecords(store, 'r4', records);
    assert.deepEqual(store.db.prepare('SELECT sample, cl, cl_class, cl_threshold FROM records ORDER BY sample').all(), migrated);
    assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
    store.close();
  });
});
