// The curation service (what the diagnostics panel talks to) on a real workspace store in a temp dir:
// runs registered and records imported as `kefer train --store` does, then the panel's calls.
import { after, before, test } from 'node:test';
import { storeRoots } from './roots-helper.js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { importRecords, openStore, registerRun, upsertDataset } from '../../src/engine/store/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { CurationService, exportFormatFor } from '../../src/extension/curation/service.js';
import { DiagnosticsHandler, type CurationCall } from '../../src/extension/panels/diagnosticsHandler.js';
import type { GridFilter, HostMessage, RunSummary } from '../../src/webviews/protocol.js';
import { fakeRecords, tempDir, tinyDataset } from '../engine/store-helpers.js';

const MISTAKES: GridFilter = { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null };
let dir: string;
let runs: string;
let svc: CurationService;
let recsA: SampleRecord[];
let recsB: SampleRecord[];
/** A FERPlus-shaped dataset: 10 annotators' votes per sample (canonical classes, unknown, NF), one sample without. */
let ferplus: Dataset;
let recsF: SampleRecord[];

/** Votes backing the label (6 label, 3 next class, 1 unknown), or, every 4th sample, outvoting it (7 next class, 2 label, 1 NF). */
function votesFor(i: number, label: number): number[] {
  const v = new Array<number>(10).fill(0);
  const other = (label + 1) % 7;
  if (i % 4 === 0) [v[other], v[label], v[9]] = [7, 2, 1];
  else [v[label], v[other], v[8]] = [6, 3, 1];
  return v;
}

before(() => {
  dir = tempDir('kefer-curation-');
  runs = path.join(dir, '.kefer', 'runs');
  const storePath = path.join(dir, '.kefer', 'kefer.db');
  const ds = tinyDataset(200, path.join(dir, 'data'), 3, 7);
  const store = openStore(storePath, { synchronous: 'NORMAL' });
  const d = upsertDataset(store, ds, { spec: `synthetic:${ds.root}` });
  recsA = fakeRecords(ds, 5, 0.8);
  recsB = fakeRecords(ds, 6, 1.6);
  registerRun(store, { id: 'runA', dataset: d.id });
  importRecords(store, 'runA', recsA);
  registerRun(store, { id: 'runB', dataset: d.id, parent: 'runA' });
  importRecords(store, 'runB', recsB);
  const plain = tinyDataset(40, path.join(dir, 'ferplus'), 9, 7);
  ferplus = { ...plain, format: 'ferplus', synthetic: false, samples: plain.samples.map((s, i) => (i === 1 ? s : { ...s, votes: votesFor(i, s.label) })) };
  const f = upsertDataset(store, ferplus, { spec: `ferplus:${ferplus.root}` });
  // skill 0: about 6 in 7 samples are mistakes, so the grid's pages hold most of the dataset
  recsF = fakeRecords(ferplus, 11, 0);
  registerRun(store, { id: 'runF', dataset: f.id });
  importRecords(store, 'runF', recsF);
  store.close();
  fs.mkdirSync(path.join(runs, 'runA'), { recursive: true });
  fs.writeFileSync(path.join(runs, 'runA', 'scatter.json'), JSON.stringify(recsA.slice(0, 50).map((r, i) => ({ id: r.id, x: i, y: -i }))));
  fs.mkdirSync(path.join(runs, 'runB'), { recursive: true });
  svc = new CurationService(storePath);
});

after(() => {
  svc.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const runA = (): string => path.join(runs, 'runA');
const runB = (): string => path.join(runs, 'runB');
const runF = (): string => path.join(runs, 'runF');

test('info names the run and its dataset; unknown runs are reported, not thrown', () => {
  const i = svc.info(runA());
  assert.equal(i.inStore, true);
  assert.equal(i.records, 200);
  assert.equal(i.classes.length, 7);
  assert.equal(svc.info(path.join(runs, 'still-training')).inStore, false);
});

test('grid pages list the run\'s mistakes with the full total, sorted and filtered', () => {
  const wrong = recsA.filter((r) => r.pred !== r.label);
  const p0 = svc.page(runA(), MISTAKES, 'issue', 0, 30);
  assert.equal(p0.total, wrong.length);
  assert.equal(p0.rows.length, Math.min(30, wrong.length));
  assert.ok(p0.rows.every((r) => r.pred !== r.label && r.root === path.join(dir, 'data')));
  for (let i = 1; i < p0.rows.length; i++) assert.ok(p0.rows[i - 1].issue >= p0.rows[i].issue, 'issue descending');
  const p1 = svc.page(runA(), MISTAKES, 'issue', 30, 30);
  assert.equal(new Set([...p0.rows, ...p1.rows].map((r) => r.id)).size, p0.rows.length + p1.rows.length, 'pages do not overlap');
  const test3 = svc.page(runA(), { ...MISTAKES, split: 'test', trueClass: 3 }, 'confidence', 0, 500);
  assert.equal(test3.total, wrong.filter((r) => r.split === 'test' && r.label === 3).length);
  assert.ok(test3.rows.every((r) => r.split === 'test' && r.label === 3));
  assert.deepEqual(svc.page(runA(), MISTAKES, 'gap', 100000, 10).rows, [], 'past the end');
});

test('a confusion cell drill-down lists the cell (diagonal too) with the matrix count as total', () => {
  const c = svc.confusion(runA(), 'run');
  const p = svc.page(runA(), { ...MISTAKES, trueClass: 2, predClass: 2, cell: 'run' }, 'confidence', 0, 500);
  assert.equal(p.total, c.matrix[2][2]);
  assert.equal(p.rows.length, c.matrix[2][2]);
  assert.ok(p.rows.every((r) => r.label === 2 && r.pred === 2));
});

test('relabel, exclude, undo and redo go through the store and show in the grid, matrix and inspector', () => {
  const target = svc.page(runA(), MISTAKES, 'issue', 0, 1).rows[0];
  assert.deepEqual(svc.change(runA(), target.id, 'relabel', target.pred), [target.id]);
  const relabeled = svc.page(runA(), { ...MISTAKES, relabeled: true }, 'issue', 0, 10);
  assert.deepEqual(relabeled.rows.map((r) => [r.id, r.currentLabel, r.relabeled]), [[target.id, target.pred, true]]);
  assert.equal(relabeled.total, 1);
  // the run's own metrics keep its labels; the corrected basis moves the sample to the diagonal
  const eff = svc.confusion(runA(), 'effective').matrix;
  const run = svc.confusion(runA(), 'run').matrix;
  assert.equal(eff[target.pred][target.pred], run[target.pred][target.pred] + 1);
  const d = svc.sample(runA(), target.id)!;
  assert.equal(d.currentLabel, target.pred);
  assert.equal(d.origLabel, target.label);
  assert.equal(d.history.length, 1);
  assert.equal(d.history[0].kind, 'label');
  assert.equal(d.history[0].from, target.label);
  assert.equal(d.history[0].to, target.pred);
  assert.ok(d.history[0].author.length > 0, 'author from the store (git user / OS user)');
  assert.deepEqual(d.predictions.map((p) => p.run), ['runA', 'runB']);
  svc.change(runA(), target.id, 'exclude', null);
  assert.equal(svc.sample(runA(), target.id)!.excluded, true);
  assert.deepEqual(svc.undo(runA()), [target.id]);
  assert.equal(svc.sample(runA(), target.id)!.excluded, false);
  svc.undo(runA());
  assert.equal(svc.page(runA(), { ...MISTAKES, relabeled: true }, 'issue', 0, 10).total, 0);
  assert.deepEqual(svc.sample(runA(), target.id)!.history.map((h) => h.state), ['undone', 'undone']);
  assert.deepEqual(svc.redo(runA()), [target.id]);
  assert.equal(svc.sample(runA(), target.id)!.currentLabel, target.pred);
  svc.undo(runA());
  assert.throws(() => svc.change(runA(), target.id, 'relabel', 9), /not a class/);
});

test('the inspector\'s class reference: gap and alignment against the records of the same run label and split', () => {
  const target = svc.page(runA(), MISTAKES, 'issue', 0, 1).rows[0];
  const d = svc.sample(runA(), target.id)!;
  const ref = d.reference!;
  assert.equal(ref.cls, d.label);
  const same = recsA.filter((r) => r.label === d.label && r.split === d.split);
  assert.equal(ref.gap!.n, same.length);
  const below = same.filter((r) => r.gap <= d.gap).length / same.length;
  assert.ok(Math.abs(ref.gap!.percentile - below) <= 0.06, `percentile ${ref.gap!.percentile} vs ${below}`);
  assert.equal(ref.gap!.small, same.length < 30);
  const neutral = recsA.find((r) => r.label === 6)!;
  const n = svc.sample(runA(), neutral.id)!.reference!;
  assert.equal(n.neutral, true);
  assert.equal(n.align, null, 'neutral has no alignment');
});

test('scatter joins scatter.json with current labels; a head retrain falls back to its parent', async () => {
  const a = await svc.scatter(runA());
  assert.equal(a.points.length, 50);
  const byId = new Map(recsA.map((r) => [r.id, r]));
  for (const p of a.points) assert.equal(p.mistake, byId.get(p.id)!.pred !== byId.get(p.id)!.label);
  const b = await svc.scatter(runB());
  assert.equal(b.points.length, 50);
  assert.match(b.source, /parent run runA/);
});

test('run comparison: accuracy on common samples and the samples whose prediction changed', () => {
  const c = svc.compare(runA(), runB(), 5);
  const accA = recsA.filter((r) => r.pred === r.label).length / recsA.length;
  const accB = recsB.filter((r) => r.pred === r.label).length / recsB.length;
  assert.equal(c.common, 200);
  assert.equal(c.accBefore, accA);
  assert.equal(c.accAfter, accB);
  assert.equal(c.changedCount, recsA.filter((r, i) => r.pred !== recsB[i].pred).length);
  assert.equal(c.changed.length, 5);
  for (const x of c.changed) assert.notEqual(x.predBefore, x.predAfter);
});

test('export writes the dataset\'s own format outside the dataset root', () => {
  const target = svc.page(runA(), MISTAKES, 'issue', 0, 1).rows[0];
  svc.change(runA(), target.id, 'relabel', target.pred);
  const out = path.join(dir, '.kefer', 'exports', 'x');
  const r = svc.exportLabels(runA(), out);
  assert.equal(r.format, 'folder');
  assert.equal(r.relabeled, 1);
  assert.equal(r.samples, 200);
  assert.equal(exportFormatFor('rafdb'), 'rafdb');
  assert.equal(exportFormatFor('affectnet'), 'affectnet-csv');
  assert.equal(exportFormatFor('fer2013'), 'list');
  assert.throws(() => svc.exportLabels(runA(), path.join(dir, 'data', 'inside')), /inside the dataset root/);
});

test('a FERPlus-shaped dataset\'s votes come with grid rows and the sample detail; a dataset without votes has none', () => {
  const votesOf = new Map(ferplus.samples.map((s) => [s.id, s.votes]));
  const p = svc.page(runF(), MISTAKES, 'issue', 0, 500);
  assert.equal(p.total, recsF.filter((r) => r.pred !== r.label).length);
  assert.ok(p.rows.length >= 20, `${p.rows.length} mistakes`);
  for (const r of p.rows) assert.deepEqual(r.votes, votesOf.get(r.id), `votes of ${r.id}`);
  const cell = svc.page(runF(), { ...MISTAKES, trueClass: 3, predClass: 3, cell: 'run' }, 'confidence', 0, 500);
  for (const r of cell.rows) assert.deepEqual(r.votes, votesOf.get(r.id), `cell row ${r.id}`);
  const withVotes = ferplus.samples[4];
  const d = svc.sample(runF(), withVotes.id)!;
  assert.deepEqual(d.votes, votesFor(4, withVotes.label));
  assert.equal(d.votes![withVotes.label], 2, 'the 4th sample is outvoted');
  // the votes are the annotators': a relabel changes the label beside them, not them
  svc.change(runF(), withVotes.id, 'relabel', (withVotes.label + 1) % 7);
  const after = svc.sample(runF(), withVotes.id)!;
  assert.equal(after.currentLabel, (withVotes.label + 1) % 7);
  assert.deepEqual(after.votes, d.votes);
  svc.undo(runF());
  assert.equal('votes' in svc.sample(runF(), ferplus.samples[1].id)!, false, 'a sample without votes in a FERPlus dataset');
  // the synthetic dataset has no votes: nothing to show, not an empty array
  assert.ok(svc.page(runA(), MISTAKES, 'issue', 0, 50).rows.every((r) => !('votes' in r)));
  assert.equal('votes' in svc.sample(runA(), recsA[0].id)!, false);
});

test('the diagnostics host hands the votes to the webview in page and sample messages', async () => {
  const posted: HostMessage[] = [];
  const summaries: RunSummary[] = [runA(), runF()].map((runDir) => ({ runDir, name: path.basename(runDir), dataset: 'x', date: '', backbone: 'resnet18', accuracy: 0, status: 'done', classes: [] }));
  const call = ((method: string, ...params: unknown[]) =>
    Promise.resolve().then(() => (svc as unknown as Record<string, (...a: unknown[]) => unknown>)[method](...params))) as CurationCall;
  const none = async () => undefined;
  const h = new DiagnosticsHandler('diagnostics', {
    call, roots: storeRoots(svc, path.join(dir, 'thumbs')), runs: () => summaries, toUri: (f) => `uri:${f}`, post: (m) => void posted.push(m), broadcast: (m) => void posted.push(m),
    retrain: none, exportLabels: none, openFull: () => undefined, cancelTraining: () => undefined, log: () => undefined, onCspViolation: () => undefined,
  }, runF());
  const votesOf = new Map(ferplus.samples.map((s) => [s.id, s.votes]));
  for (const runDir of [runF(), runA()]) {
    await h.handle({ type: 'requestPage', query: { runDir, filter: MISTAKES, sort: 'issue', offset: 0, limit: 30 } });
    const page = posted.at(-1);
    assert.ok(page?.type === 'page', JSON.stringify(page).slice(0, 300));
    assert.ok(page.page.rows.length > 0);
    for (const r of page.page.rows) assert.deepEqual(r.votes, runDir === runF() ? votesOf.get(r.id) : undefined, `${runDir} ${r.id}`);
    const id = page.page.rows[0].id;
    await h.handle({ type: 'requestSample', runDir, id });
    const sample = posted.at(-1);
    assert.ok(sample?.type === 'sample', JSON.stringify(sample).slice(0, 300));
    assert.deepEqual(sample.sample.votes, runDir === runF() ? votesOf.get(id) : undefined);
  }
  assert.equal(h.refused, 0);
});
