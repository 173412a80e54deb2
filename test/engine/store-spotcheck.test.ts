// Spot-check reviews in the store (schema v6): the confirm mark with undo/redo and its audit trail,
// which decisions count as reviews (only those made in the spot-check order, latest applied one per
// sample, judged against the run's label), the calibrated ranking written to records.cal, the
// spot-check order, and a v5 store migrating to v6 keeping its data.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Dataset } from '../../src/engine/data/types.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { calibratedScores, fitReviewCalibratedModel, MIN_REVIEWS, spotCheckOrder } from '../../src/engine/issues/index.js';
import {
  cellPage, changeEvents, confirmLabel, effectiveLabels, importRecords, labelLog, mistakesPage, openStore, recalibrate, redo, registerRun, relabel,
  runSampleRecords, sampleHistory, SCHEMA_VERSION, schemaVersion, setMark, spotCheckNext, spotCheckPage, spotCheckReviews, storedCalibration, undo, upsertDataset,
} from '../../src/engine/store/index.js';
import { fakeRecords, prng, tempDirsRemovedAfter, tinyDataset, withRun } from './store-helpers.js';

const dir = tempDirsRemovedAfter('kefer-store-spot-');

const byId = (reviews: { id: string; issue: boolean }[]) => Object.fromEntries(reviews.map((r) => [r.id, r.issue]));

describe('the confirm mark', () => {
  test('confirm sets the mark, is undone and redone like the others, repeats as a new decision, and is in the audit log', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(20, join(d, 'ds'), 2, 7);
    const dsId = withRun(store, dataset, fakeRecords(dataset, 3), 'r');
    const key = { dataset: dsId, id: dataset.samples[4].id };
    const c1 = confirmLabel(store, key, { author: 'ann', runId: 'r' });
    assert.equal(c1.kind, 'confirm');
    assert.deepEqual([c1.oldValue, c1.newValue, c1.spotCheck, c1.state], [0, 1, false, 'applied']);
    assert.equal(sampleHistory(store, key).sample.confirmed, true);
    // confirming again is a decision of its own (a spot-check after an earlier look)
    const c2 = confirmLabel(store, key, { author: 'bob', spotCheck: true });
    assert.deepEqual([c2.oldValue, c2.newValue, c2.spotCheck], [1, 1, true]);
    // undoing it leaves the earlier confirmation in place
    assert.equal(undo(store, dsId, { author: 'bob' })?.id, c2.id);
    assert.equal(sampleHistory(store, key).sample.confirmed, true);
    assert.equal(undo(store, dsId, { author: 'bob' })?.id, c1.id);
    assert.equal(sampleHistory(store, key).sample.confirmed, false);
    assert.equal(redo(store, dsId, { author: 'cy' })?.id, c1.id);
    assert.equal(sampleHistory(store, key).sample.confirmed, true);
    // cleared with setMark, which (like the other marks) refuses a no-op
    setMark(store, key, 'confirm', false, { author: 'cy' });
    assert.equal(sampleHistory(store, key).sample.confirmed, false);
    assert.throws(() => setMark(store, key, 'confirm', false), /already not marked confirm/);
    assert.deepEqual(changeEvents(store, c1.id).map((e) => [e.action, e.author]), [['do', 'ann'], ['undo', 'bob'], ['redo', 'cy']]);
    const log = labelLog(store, { dataset: dsId, sample: key.id });
    assert.deepEqual(log.map((c) => [c.kind, c.newValue, c.state, c.spotCheck]), [['confirm', 0, 'applied', false], ['confirm', 1, 'dropped', true], ['confirm', 1, 'applied', false]]);
    // a confirmation is not a relabel: labels and exclusions are what they were
    assert.deepEqual(effectiveLabels(store, dsId).get(key.id), { label: dataset.samples[4].label, original: dataset.samples[4].label, excluded: false, unsure: false });
    store.close();
  });
});

describe('spot-check reviews', () => {
  test('the latest applied spot-check decision per sample, judged against the run label; other decisions are not reviews', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(30, join(d, 'ds'), 4, 7);
    const dsId = withRun(store, dataset, fakeRecords(dataset, 5), 'r');
    const s = dataset.samples;
    const key = (i: number) => ({ dataset: dsId, id: s[i].id });
    const other = (i: number) => (s[i].label + 1) % 7;
    const spot = { spotCheck: true };
    relabel(store, key(0), other(0), spot); // issue
    setMark(store, key(1), 'exclude', true, spot); // issue
    confirmLabel(store, key(2), spot); // clean
    relabel(store, key(3), other(3)); // outside a spot-check: not a review
    confirmLabel(store, key(4)); // outside: not a review
    setMark(store, key(5), 'unsure', true, spot); // unsure: not a review
    relabel(store, key(6), other(6), spot);
    setMark(store, key(6), 'unsure', true, spot); // the latest decision is unsure: not a review
    relabel(store, key(7), other(7), spot);
    relabel(store, key(7), s[7].label, spot); // set back to the run's label: says it is right
    relabel(store, key(8), other(8)); // corrected earlier, then the corrected label confirmed in a spot-check:
    confirmLabel(store, key(8), spot); // the run's label was wrong
    setMark(store, key(9), 'exclude', true, spot);
    setMark(store, key(9), 'exclude', false, spot); // exclusion withdrawn: not a review
    confirmLabel(store, key(10), spot);
    relabel(store, key(10), other(10)); // a later decision outside the spot-check does not replace the review
    assert.deepEqual(byId(spotCheckReviews(store, 'r')), {
      [s[0].id]: true, [s[1].id]: true, [s[2].id]: false, [s[7].id]: false, [s[8].id]: true, [s[10].id]: false,
    });
    // undone decisions do not count; the one before them does again
    confirmLabel(store, key(11), spot);
    relabel(store, key(11), other(11), spot);
    assert.equal(byId(spotCheckReviews(store, 'r'))[s[11].id], true);
    undo(store, dsId);
    assert.equal(byId(spotCheckReviews(store, 'r'))[s[11].id], false);
    undo(store, dsId);
    assert.equal(s[11].id in byId(spotCheckReviews(store, 'r')), false);
    store.close();
  });

  test('reviews belong to the dataset: a second run of it sees them, judged against its own labels', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(10, join(d, 'ds'), 6, 7);
    const dsId = withRun(store, dataset, fakeRecords(dataset, 1), 'a');
    const s0 = dataset.samples[0];
    relabel(store, { dataset: dsId, id: s0.id }, (s0.label + 2) % 7, { spotCheck: true });
    // run b trained on the corrected label (its record carries it)
    registerRun(store, { id: 'b', dataset: dsId });
    importRecords(store, 'b', fakeRecords(dataset, 2).map((r) => (r.id === s0.id ? { ...r, label: (s0.label + 2) % 7 } : r)));
    assert.deepEqual(spotCheckReviews(store, 'a'), [{ id: s0.id, issue: true }]);
    assert.deepEqual(spotCheckReviews(store, 'b'), [{ id: s0.id, issue: false }]);
    store.close();
  });
});

/** 420 records, 60 per class; class 2's labels are planted wrong 70% of the time, the others' 4%. */
function noisyRun(root: string): { dataset: Dataset; records: SampleRecord[]; wrong: Set<string> } {
  const dataset = tinyDataset(420, root, 7, 7);
  dataset.samples = dataset.samples.map((smp, i) => ({ ...smp, label: i % 7 }));
  const rand = prng(13);
  const wrong = new Set<string>();
  for (const smp of dataset.samples) if (rand() < (smp.label === 2 ? 0.7 : 0.04)) wrong.add(smp.id);
  return { dataset, records: fakeRecords(dataset, 8, 0.8), wrong };
}

describe('recalibrate', () => {
  test('refuses with a count until there are enough reviews of both kinds, then writes the calibrated score of every record', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const { dataset, records, wrong } = noisyRun(join(d, 'ds'));
    const dsId = withRun(store, dataset, records, 'r');
    const labelOf = new Map(dataset.samples.map((smp) => [smp.id, smp.label]));
    const decide = (id: string) => {
      const key = { dataset: dsId, id };
      if (wrong.has(id)) relabel(store, key, (labelOf.get(id)! + 3) % 7, { spotCheck: true });
      else confirmLabel(store, key, { spotCheck: true });
    };
    // walk the spot-check order, as the panel does
    const order = spotCheckPage(store, 'r', { limit: 1000 }).rows.map((r) => r.id);

    const none = recalibrate(store, 'r');
    assert.equal(none.calibrated, false);
    assert.match(none.calibrated ? '' : none.message, new RegExp(`needs ${MIN_REVIEWS} more spot-check reviews \\(have 0: 0 issues, 0 confirmed\\)`));
    assert.throws(() => mistakesPage(store, 'r', {}, { sort: 'calibrated' }), /not calibrated yet/);
    const clean = order.filter((id) => !wrong.has(id)).slice(0, MIN_REVIEWS);
    for (const id of clean) decide(id);
    const oneKind = recalibrate(store, 'r');
    assert.ok(!oneKind.calibrated && oneKind.needed === 0 && /needs at least one issue/.test(oneKind.message), JSON.stringify(oneKind));

    const reviewed = order.filter((id) => !clean.includes(id)).slice(0, 130);
    for (const id of reviewed) decide(id);
    const t0 = Date.now();
    const cal = recalibrate(store, 'r');
    assert.ok(cal.calibrated, JSON.stringify(cal));
    const ids = [...clean, ...reviewed];
    const issues = ids.filter((id) => wrong.has(id)).length;
    assert.deepEqual(cal.reviews, { n: ids.length, issues, confirmed: ids.length - issues });
    // the column holds what calibrate.ts computes on the run's (float32) records and the same reviews
    const reviews = spotCheckReviews(store, 'r');
    assert.deepEqual(byId(reviews), Object.fromEntries(ids.map((id) => [id, wrong.has(id)])));
    const { records: stored } = runSampleRecords(store, 'r');
    const expected = calibratedScores(stored, fitReviewCalibratedModel(stored, reviews, { neutralIndex: 6 }));
    const got = new Map(spotCheckPage(store, 'r', { limit: 1000 }).rows.map((r) => [r.id, r.cal]));
    stored.forEach((r, i) => assert.ok(Math.abs((got.get(r.id) ?? NaN) - expected[i]) < 1e-12, r.id));
    // the calibrated order: mistakes by descending score, and class 2 (planted noisy) estimated noisiest
    const page = mistakesPage(store, 'r', {}, { sort: 'calibrated', limit: 1000 }).rows;
    assert.ok(page.length > 50);
    for (let i = 1; i < page.length; i++) assert.ok(page[i - 1].cal! >= page[i].cal!, 'descending');
    const rates = cal.classes.map((c) => c.rate!);
    assert.equal(cal.classes[2].n, 60);
    assert.ok(rates[2] > 2 * Math.max(...rates.filter((_, k) => k !== 2)), `class 2 estimated noisiest: ${rates.map((r) => r.toFixed(2))}`);
    assert.ok(cal.classes.every((c) => c.reviewed <= c.n) && cal.classes.reduce((a, c) => a + c.reviewed, 0) === ids.length);
    assert.ok(Date.now() - t0 < 60_000);

    // unchanged reviews: the stored calibration, not a refit
    const again = recalibrate(store, 'r');
    assert.ok(again.calibrated && again.time === cal.time);
    assert.deepEqual(storedCalibration(store, 'r'), cal);
    // one more review: refitted
    decide(order.filter((id) => !ids.includes(id))[0]);
    const more = recalibrate(store, 'r');
    assert.ok(more.calibrated && more.reviews.n === ids.length + 1 && more.fingerprint !== cal.fingerprint);

    // reviews undone below the minimum: the calibration is cleared, not left stale
    for (let i = 0; i < reviewed.length + 1; i++) undo(store, dsId);
    const undone = recalibrate(store, 'r');
    assert.equal(undone.calibrated, false);
    assert.equal(storedCalibration(store, 'r'), null);
    assert.ok(spotCheckPage(store, 'r', { limit: 1000 }).rows.every((r) => r.cal === null));
    assert.throws(() => cellPage(store, 'r', 2, 2, { sort: 'calibrated' }), /not calibrated yet/);
    for (let i = 0; i < reviewed.length + 1; i++) redo(store, dsId);
    assert.ok(recalibrate(store, 'r').calibrated);
    assert.ok(cellPage(store, 'r', 2, 2, { sort: 'calibrated' }).rows.every((r) => r.cal !== null));
    // re-imported records: their scores are gone with the old records until calibrated again
    importRecords(store, 'r', records);
    assert.equal(storedCalibration(store, 'r'), null);
    assert.throws(() => mistakesPage(store, 'r', {}, { sort: 'calibrated' }), /not calibrated yet/);
    store.close();
  });
});

describe('spot-check order', () => {
  test('every record of the run in the seeded order of its sample ids, the same for every run of the dataset, with keyset paging', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(150, join(d, 'ds'), 9, 7);
    const dsId = withRun(store, dataset, fakeRecords(dataset, 1), 'a');
    registerRun(store, { id: 'b', dataset: dsId });
    importRecords(store, 'b', fakeRecords(dataset, 2).slice(0, 100));
    const want = spotCheckOrder(dataset.samples.map((s) => s.id), 0);
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    assert.deepEqual(ids(spotCheckPage(store, 'a', { limit: 1000 }).rows), want);
    assert.notDeepEqual(want, dataset.samples.map((s) => s.id), 'a shuffle, not the id order');
    const inB = new Set(dataset.samples.slice(0, 100).map((s) => s.id));
    assert.deepEqual(ids(spotCheckPage(store, 'b', { limit: 1000 }).rows), want.filter((id) => inB.has(id)));
    const first = spotCheckPage(store, 'a', { limit: 60 });
    const second = spotCheckPage(store, 'a', { limit: 60, after: first.next! });
    assert.deepEqual(ids([...first.rows, ...second.rows]), want.slice(0, 120));
    assert.deepEqual(ids(spotCheckPage(store, 'a', { limit: 10, offset: 30 }).rows), want.slice(30, 40));
    assert.throws(() => mistakesPage(store, 'a', {}, { sort: 'spotcheck' }), /every record/);
    // a run whose import registered the samples (no dataset registered first) is ranked over them too
    const loose = openStore(join(d, 'loose.db'));
    upsertDataset(loose, { ...dataset, samples: [] });
    registerRun(loose, { id: 'c', dataset: 1 });
    importRecords(loose, 'c', fakeRecords(dataset, 1));
    assert.deepEqual(ids(spotCheckPage(loose, 'c', { limit: 1000 }).rows), want);
    loose.close();
    store.close();
  });
});

describe('spot-check progress', () => {
  test('spotCheckNext: the position of the first sample of the order nobody decided in a spot-check; null when all are', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(12, join(d, 'ds'), 3, 7);
    const dsId = withRun(store, dataset, fakeRecords(dataset, 1), 'r');
    const order = spotCheckPage(store, 'r', { limit: 100 }).rows.map((r) => r.id);
    const key = (i: number) => ({ dataset: dsId, id: order[i] });
    assert.equal(spotCheckNext(store, 'r'), 0);
    confirmLabel(store, key(0), { spotCheck: true });
    setMark(store, key(1), 'unsure', true, { spotCheck: true }); // seen, even if not a review
    relabel(store, key(3), 0, { spotCheck: true });
    confirmLabel(store, key(2)); // outside the spot-check: not part of it
    assert.equal(spotCheckNext(store, 'r'), 2);
    undo(store, dsId);
    confirmLabel(store, key(2), { spotCheck: true });
    assert.equal(spotCheckNext(store, 'r'), 4);
    for (let i = 4; i < order.length; i++) confirmLabel(store, key(i), { spotCheck: true });
    assert.equal(spotCheckNext(store, 'r'), null);
    undo(store, dsId);
    assert.equal(spotCheckNext(store, 'r'), order.length - 1);
    store.close();
  });
});

describe('migration to v6', () => {
  test('a v5 store migrates keeping records, labels, marks and history, and gains the spot-check ranks a fresh import writes', () => {
    const d = dir();
    const path = join(d, 'kefer.db');
    const dataset = tinyDataset(60, join(d, 'ds'), 3, 7);
    const records = fakeRecords(dataset, 4, 0.8);
    const old = openStore(path, { targetVersion: 5 });
    assert.equal(schemaVersion(old.db), 5);
    const dsId = withRun(old, dataset, records, 'r5');
    for (let i = 0; i < 4; i++) relabel(old, { dataset: dsId, id: dataset.samples[i].id }, (dataset.samples[i].label + 1) % 7, { author: 'v5' });
    setMark(old, { dataset: dsId, id: dataset.samples[10].id }, 'exclude', true, { author: 'v5' });
    undo(old, dsId, { author: 'v5' });
    assert.throws(() => confirmLabel(old, { dataset: dsId, id: dataset.samples[5].id }), /schema 5.*need schema 6/);
    const cols = 'run, sample, split, label, pred, probs, sim_text, sim_neutral, gap, align, confidence, margin, issue, eff, cl, cl_class, cl_threshold';
    const recordsBefore = old.db.prepare(`SELECT ${cols} FROM records ORDER BY run, sample`).all();
    const labelsBefore = effectiveLabels(old, dsId);
    const logBefore = labelLog(old);
    old.close();

    const store = openStore(path);
    assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
    assert.deepEqual(store.db.prepare(`SELECT ${cols} FROM records ORDER BY run, sample`).all(), recordsBefore);
    assert.deepEqual(effectiveLabels(store, dsId), labelsBefore);
    assert.deepEqual(labelLog(store), logBefore);
    assert.ok(logBefore.every((c) => c.spotCheck === false));
    const migrated = store.db.prepare('SELECT sample, spot, cal FROM records ORDER BY sample').all();
    assert.deepEqual(spotCheckPage(store, 'r5', { limit: 1000 }).rows.map((r) => r.id), spotCheckOrder(dataset.samples.map((s) => s.id), 0));
    importRecords(store, 'r5', records);
    assert.deepEqual(store.db.prepare('SELECT sample, spot, cal FROM records ORDER BY sample').all(), migrated);
    // the new marks and decisions work on the migrated store
    assert.equal(confirmLabel(store, { dataset: dsId, id: dataset.samples[5].id }, { spotCheck: true }).spotCheck, true);
    assert.deepEqual(spotCheckReviews(store, 'r5'), [{ id: dataset.samples[5].id, issue: false }]);
    assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
    store.close();
  });
});
