// The spot-check workflow of the diagnostics panel, host side: the protocol's confirm message and
// spot-check flag, the curation service's spot-check pages (every record, random order, filters off),
// and the diagnostics handler recording decisions as spot-check ones and answering each with the
// calibration (what is still needed, then the per-class estimated issue rates) on a real store.
import { after, before, test } from 'node:test';
import { storeRoots } from './roots-helper.js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { calibratedScores, fitReviewCalibratedModel, MIN_REVIEWS, spotCheckOrder } from '../../src/engine/issues/index.js';
import { importRecords, labelLog, openStore, registerRun, runSampleRecords, spotCheckReviews, storedCalibration, upsertDataset } from '../../src/engine/store/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { DiagnosticsHandler, type CurationCall } from '../../src/extension/panels/diagnosticsHandler.js';
import { writeMeta } from '../../src/extension/runlist/runFiles.js';
import { keyToAction, parseWebviewMessage, SORT_KEYS, SORT_LABELS, type CalibrationState, type GridFilter, type HostMessage, type RunSummary } from '../../src/webviews/protocol.js';
import { fakeRecords, prng, tempDir, tinyDataset } from '../engine/store-helpers.js';

const ALL: GridFilter = { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null };
let dir: string;
let storePath: string;
let svc: CurationService;
let dataset: Dataset;
/** Planted wrong labels: class 2's 70% of the time, the others' 4%. */
const wrong = new Set<string>();

before(() => {
  dir = tempDir('kefer-spotcheck-panel-');
  storePath = path.join(dir, '.kefer', 'kefer.db');
  dataset = tinyDataset(280, path.join(dir, 'data'), 5, 7);
  dataset.samples = dataset.samples.map((s, i) => ({ ...s, label: i % 7 }));
  const rand = prng(21);
  for (const s of dataset.samples) if (rand() < (s.label === 2 ? 0.7 : 0.04)) wrong.add(s.id);
  const store = openStore(storePath, { synchronous: 'NORMAL' });
  const d = upsertDataset(store, dataset, { spec: `synthetic:${dataset.root}` });
  registerRun(store, { id: 'run', dataset: d.id });
  importRecords(store, 'run', fakeRecords(dataset, 3, 0.8));
  store.close();
  svc = new CurationService(storePath);
});

after(() => {
  svc.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const runDir = (): string => path.join(dir, '.kefer', 'runs', 'run');

test('protocol: the confirm message and the spot-check flag are validated; C confirms; the new orders are named', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'confirm', runDir: '/r', id: 'a' }), { type: 'confirm', runDir: '/r', id: 'a' });
  assert.deepEqual(parseWebviewMessage({ type: 'confirm', runDir: '/r', id: 'a', spotCheck: true }), { type: 'confirm', runDir: '/r', id: 'a', spotCheck: true });
  assert.deepEqual(parseWebviewMessage({ type: 'setLabel', runDir: '/r', id: 'a', label: 2, spotCheck: true }), { type: 'setLabel', runDir: '/r', id: 'a', label: 2, spotCheck: true });
  assert.deepEqual(parseWebviewMessage({ type: 'exclude', runDir: '/r', id: 'a', spotCheck: false }), { type: 'exclude', runDir: '/r', id: 'a' });
  assert.equal(parseWebviewMessage({ type: 'unsure', runDir: '/r', id: 'a', spotCheck: 'yes' }), undefined);
  assert.equal(parseWebviewMessage({ type: 'confirm', runDir: '/r' }), undefined);
  for (const sort of ['calibrated', 'spotcheck']) {
    const q = { runDir: '/r', filter: ALL, sort, offset: 0, limit: 10 };
    assert.deepEqual(parseWebviewMessage({ type: 'requestPage', query: q }), { type: 'requestPage', query: q });
  }
  assert.deepEqual(keyToAction('c', 7), { kind: 'confirm' });
  assert.deepEqual(keyToAction('C', 7), { kind: 'confirm' });
  assert.equal(SORT_LABELS.spotcheck, 'spot-check (random order)');
  assert.equal(SORT_LABELS.calibrated, 'issue, calibrated on your spot-check');
  assert.ok(SORT_KEYS.includes('calibrated') && SORT_KEYS.includes('spotcheck'));
});

test('spot-check pages list every record of the run in the seeded order, whatever the filter', () => {
  const want = spotCheckOrder(dataset.samples.map((s) => s.id), 0);
  const p0 = svc.page(runDir(), ALL, 'spotcheck', 0, 100);
  const p1 = svc.page(runDir(), { ...ALL, trueClass: 3, split: 'test', relabeled: true }, 'spotcheck', 100, 200);
  assert.equal(p0.total, dataset.samples.length);
  assert.equal(p1.total, dataset.samples.length, 'filters do not apply');
  assert.deepEqual([...p0.rows, ...p1.rows].map((r) => r.id), want);
  assert.ok(p0.rows.some((r) => r.pred === r.label) && p0.rows.some((r) => r.pred !== r.label), 'right and wrong predictions alike');
  assert.deepEqual(svc.page(runDir(), ALL, 'spotcheck', 280, 10).rows, []);
  assert.throws(() => svc.page(runDir(), ALL, 'calibrated', 0, 10), /not calibrated yet/);
});

test('the panel host: spot-check decisions are recorded as such, each answered with the calibration; the calibrated order follows', async () => {
  const posted: HostMessage[] = [];
  const summaries: RunSummary[] = [{ runDir: runDir(), name: 'run', dataset: 'x', date: '', backbone: 'resnet18', accuracy: 0, status: 'done', classes: [] }];
  writeMeta(runDir(), { dataSpec: `synthetic:${dataset.root}`, datasetRoot: dataset.root, datasetName: 'x', startedAt: '', backbone: 'resnet18', status: 'done', accuracy: null, classes: dataset.classes });
  const call = ((method: string, ...params: unknown[]) =>
    Promise.resolve().then(() => (svc as unknown as Record<string, (...a: unknown[]) => unknown>)[method](...params))) as CurationCall;
  const none = async () => undefined;
  const logs: string[] = [];
  const h = new DiagnosticsHandler('diagnostics', {
    call, roots: storeRoots(svc, path.join(dir, 'thumbs')), runs: () => summaries, toUri: (f) => `uri:${f}`, post: (m) => void posted.push(m), broadcast: (m) => void posted.push(m),
    retrain: none, exportLabels: none, openFull: () => undefined, cancelTraining: () => undefined, log: (l) => void logs.push(l), onCspViolation: () => undefined,
  }, runDir());
  const last = (type: HostMessage['type']): HostMessage | undefined => [...posted].reverse().find((m) => m.type === type);
  const lastCalibration = (): CalibrationState => {
    const m = last('calibration');
    assert.ok(m?.type === 'calibration', JSON.stringify(posted.slice(-3)).slice(0, 400));
    return m.calibration;
  };

  await h.handle({ type: 'ready', view: 'diagnostics' });
  assert.ok(posted.some((m) => m.type === 'init' && m.run !== null), JSON.stringify(posted).slice(0, 300));
  const first = lastCalibration();
  assert.ok(!first.calibrated && first.needed === MIN_REVIEWS && first.message === `needs ${MIN_REVIEWS} more spot-check reviews (have 0: 0 issues, 0 confirmed)`, JSON.stringify(first));

  await h.handle({ type: 'requestPage', query: { runDir: runDir(), filter: ALL, sort: 'spotcheck', offset: 0, limit: 200 } });
  const page = last('page');
  assert.ok(page?.type === 'page');
  const order = page.page.rows;
  assert.equal(page.page.total, dataset.samples.length);
  // a decision outside the spot-check (say, from the issue order) is a relabel, not a review
  const outside = order[150];
  await h.handle({ type: 'confirm', runDir: runDir(), id: outside.id });
  assert.equal(lastCalibration().reviews.n, 0);

  // walk the spot-check order deciding each sample, as the keys do (C confirms, a digit relabels, X excludes)
  const decided = order.slice(0, 60);
  let issues = 0;
  for (const [i, r] of decided.entries()) {
    if (wrong.has(r.id)) {
      issues++;
      if (i % 5 === 0) await h.handle({ type: 'exclude', runDir: runDir(), id: r.id, spotCheck: true });
      else await h.handle({ type: 'setLabel', runDir: runDir(), id: r.id, label: (r.label + 3) % 7, spotCheck: true });
    } else await h.handle({ type: 'confirm', runDir: runDir(), id: r.id, spotCheck: true });
    const c = lastCalibration();
    assert.equal(c.reviews.n, i + 1);
    assert.equal(c.spotCheckNext, i + 1, 'the spot-check resumes after the last decided sample');
    assert.equal(c.reviews.issues, issues);
    if (i + 1 < MIN_REVIEWS) assert.ok(!c.calibrated && c.needed === MIN_REVIEWS - i - 1, JSON.stringify(c));
  }
  assert.ok(issues > 3 && issues < 40, `planted issues among the first 60: ${issues}`);
  const cal = lastCalibration();
  assert.ok(cal.calibrated, JSON.stringify(cal));
  assert.deepEqual(cal.reviews, { n: 60, issues, confirmed: 60 - issues });
  assert.equal(cal.classes.length, 7);
  assert.deepEqual(cal.classes.map((c) => c.n), new Array(7).fill(40));
  assert.equal(cal.classes.reduce((a, c) => a + c.reviewed, 0), 60);
  assert.ok(cal.classes.every((c) => c.rate !== null && c.rate > 0 && c.rate < 1));
  const store = openStore(storePath);
  const log = labelLog(store);
  store.close();
  assert.equal(log.filter((c) => c.spotCheck).length, 60);
  assert.equal(log.find((c) => c.sampleId === outside.id)?.spotCheck, false);
  assert.equal(log.find((c) => c.sampleId === outside.id)?.kind, 'confirm');

  // the calibrated order: misclassified samples by descending calibrated score (once the worker wrote the
  // scores, in chunks after the decision was answered); the inspector has the score
  await svc.scoresWritten();
  await h.handle({ type: 'requestPage', query: { runDir: runDir(), filter: ALL, sort: 'calibrated', offset: 0, limit: 200 } });
  const calPage = last('page');
  assert.ok(calPage?.type === 'page' && calPage.page.query.sort === 'calibrated' && calPage.page.rows.length > 20);
  const scores = calPage.page.rows.slice(0, 20).map((r) => svc.sample(runDir(), r.id)!.cal!);
  for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1] >= scores[i], 'descending calibrated score');
  const s0 = svc.sample(runDir(), decided[0].id)!;
  assert.equal(s0.history.at(-1)?.spotCheck, true);
  assert.equal(s0.confirmed, !wrong.has(decided[0].id));

  // undo takes the last review back, and the calibration follows
  await h.handle({ type: 'undo', runDir: runDir() });
  const undone = lastCalibration();
  assert.ok(undone.calibrated && undone.reviews.n === 59);
  assert.ok(posted.some((m) => m.type === 'labelChanged' && m.ids[0] === decided[59].id));

  // decisions faster than a refit: one refit covers those made while another was in flight
  const before = posted.filter((m) => m.type === 'calibration').length;
  await Promise.all(order.slice(60, 66).map((r) => h.handle({ type: 'confirm', runDir: runDir(), id: r.id, spotCheck: true })));
  const sent = posted.filter((m) => m.type === 'calibration').length - before;
  assert.ok(sent >= 1 && sent < 6, `${sent} calibration messages for 6 decisions`);
  assert.equal(lastCalibration().reviews.n, 59 + 6, 'the last one counts every decision');
  assert.equal(h.refused, 0);
  assert.deepEqual(logs, []);
});

test('records re-imported by another process (the CLI): the next calibration reads them again, not the worker\'s copy', async () => {
  assert.ok(svc.calibration(runDir()).calibrated, 'calibrated by the test before');
  await svc.scoresWritten();
  const other = openStore(storePath);
  try {
    importRecords(other, 'run', fakeRecords(dataset, 77, 1.2));
  } finally {
    other.close();
  }
  const c = svc.calibration(runDir());
  assert.ok(c.calibrated);
  // answered before its scores are in: the stored calibration is still cleared by the re-import ...
  const mid = openStore(storePath);
  try {
    assert.equal(storedCalibration(mid, 'run'), null, 'stored only with its last chunk of scores');
  } finally {
    mid.close();
  }
  await svc.scoresWritten();
  const s = openStore(storePath);
  try {
    const { records, samples } = runSampleRecords(s, 'run');
    const want = calibratedScores(records, fitReviewCalibratedModel(records, spotCheckReviews(s, 'run'), { neutralIndex: 6 }));
    const got = new Map(s.db.prepare('SELECT sample, cal FROM records WHERE run = (SELECT rk FROM runs WHERE id = ?)').raw().all('run') as [number, number][]);
    samples.forEach((sk, i) => assert.ok(Math.abs(got.get(sk)! - want[i]) < 1e-12, `sample ${sk}: ${got.get(sk)} vs ${want[i]}`));
    assert.ok(storedCalibration(s, 'run')?.calibrated, 'and stored with them');
  } finally {
    s.close();
  }
});
