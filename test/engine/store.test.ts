// Store: migrations, overlay with undo/redo across reopen, record import, the panel queries
// checked against brute-force JS computations on a small store, and damaged / foreign store files.
import assert from 'node:assert/strict';
import { DEFAULT_ISSUE_CONTEXT, issueScore } from '../../src/engine/issues/combine.js';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  applyOverlay,
  cellPage,
  changeEvents,
  classCounts,
  compareRuns,
  confusion,
  describeStoreError,
  effectiveLabels,
  importRecords,
  importRecordsJsonl,
  labelLog,
  listRuns,
  mistakesPage,
  openStore,
  redo,
  registerRun,
  relabel,
  sampleHistory,
  sampleKeyOf,
  SCHEMA_VERSION,
  schemaVersion,
  scoreRecord,
  setMark,
  StoreError,
  undo,
  upsertDataset,
  type PageOptions,
  type RecordRow,
} from '../../src/engine/store/index.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { formatError } from '../../src/engine/cli/errors.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { fakeRecords, tempDirsRemovedAfter, tinyDataset } from './store-helpers.js';

const dir = tempDirsRemovedAfter();

describe('migrations', () => {
  test('a fresh store is at the latest version with WAL and foreign keys on', () => {
    const store = openStore(join(dir(), 'nested', '.kefer', 'kefer.db'));
    assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1);
    store.close();
  });

  test('a version-1 database migrates forward with its data', () => {
    const path = join(dir(), 'kefer.db');
    const old = openStore(path, { targetVersion: 1 });
    assert.equal(schemaVersion(old.db), 1);
    const db = old.db;
    db.prepare(`INSERT INTO datasets (id, format, root, classes, created) VALUES (1, 'rafdb', '/data/raf', '["surprise","fear","disgust","happiness","sadness","anger","neutral"]', 'then')`).run();
    const ins = db.prepare('INSERT INTO samples (sk, dataset, sid, path, split, orig_label, label) VALUES (?, 1, ?, ?, ?, ?, ?)');
    ins.run(1, 'train_00001', 'Image/aligned/train_00001_aligned.jpg', 'train', 4, 3); // relabeled 4 -> 3 in v1
    ins.run(2, 'train_00002', 'Image/aligned/train_00002_aligned.jpg', 'train', 0, 0);
    db.prepare(`INSERT INTO runs (rk, id, dataset, created) VALUES (1, 'r1', 1, 'then')`).run();
    const rec = db.prepare('INSERT INTO records (run, sample, split, label, pred, probs, sim_text, sim_neutral, gap, align, confidence, margin) VALUES (1, ?, ?, ?, ?, ?, 0, 0, 0, NULL, ?, ?)');
    rec.run(1, 'train', 4, 3, Buffer.from(new Float32Array([0, 0, 0, 0.7, 0.2, 0, 0.1]).buffer), 0.2, -0.5);
    rec.run(2, 'train', 0, 0, Buffer.from(new Float32Array([0.9, 0, 0, 0.1, 0, 0, 0]).buffer), 0.9, 0.8);
    db.prepare(`INSERT INTO label_changes (dataset, sample, old_label, new_label, time, author) VALUES (1, 1, 4, 3, 'then', 'ann')`).run();
    old.close();

    const store = openStore(path);
    assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
    const eff = store.db.prepare('SELECT sample, eff, issue FROM records ORDER BY sample').all() as { sample: number; eff: number; issue: number }[];
    assert.deepEqual(eff.map((r) => r.eff), [3, 0]);
    assert.ok(Math.abs(eff[0].issue - 0.75) < 1e-9);
    assert.equal(listRuns(store)[0].records, 2);
    const c = confusion(store, 'r1', 'effective');
    assert.equal(c.matrix[3][3], 1);
    assert.equal(confusion(store, 'r1', 'run').matrix[4][3], 1);
    assert.deepEqual(classCounts(store, 1).original.slice(0, 5), [1, 0, 0, 0, 1]);
    assert.deepEqual(classCounts(store, 1).effective.slice(0, 5), [1, 0, 0, 1, 0]);
    // The v1 change is on the undo stack and has a 'do' audit event.
    const [ch] = labelLog(store);
    assert.equal(ch.kind, 'label');
    assert.deepEqual(changeEvents(store, ch.id).map((e) => e.action), ['do']);
    const u = undo(store, 1, { author: 't' });
    assert.equal(u?.id, ch.id);
    assert.equal(effectiveLabels(store, 1).get('train_00001')?.label, 4);
    store.close();
    // Reopening a migrated store is a no-op.
    const again = openStore(path);
    assert.equal(schemaVersion(again.db), SCHEMA_VERSION);
    again.close();
  });

  test('a version-2 store, written through the API, migrates forward with every change and mark kept', () => {
    const d = dir();
    const path = join(d, 'kefer.db');
    const dataset = tinyDataset(30, join(d, 'ds'), 4, 8);
    const old = openStore(path, { targetVersion: 2 });
    assert.equal(schemaVersion(old.db), 2);
    const ds = upsertDataset(old, dataset);
    registerRun(old, { id: 'r2', dataset: ds.id });
    importRecords(old, 'r2', fakeRecords(dataset, 8));
    for (let i = 0; i < 12; i++) relabel(old, { dataset: ds.id, id: dataset.samples[i].id }, (dataset.samples[i].label + 1 + (i % 3)) % 8, { author: 'v2' });
    setMark(old, { dataset: ds.id, id: dataset.samples[20].id }, 'exclude', true, { author: 'v2' });
    undo(old, ds.id, { author: 'v2' });
    undo(old, ds.id, { author: 'v2' });
    const labelsBefore = effectiveLabels(old, ds.id);
    const logBefore = labelLog(old);
    const confusionBefore = confusion(old, 'r2', 'effective').matrix;
    old.close();

    const store = openStore(path);
    assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
    assert.deepEqual(effectiveLabels(store, ds.id), labelsBefore);
    assert.deepEqual(labelLog(store), logBefore);
    assert.deepEqual(confusion(store, 'r2', 'effective').matrix, confusionBefore);
    // The undo/redo stack carries over: redo brings back the newest undone change.
    assert.equal(redo(store, ds.id)?.id, logBefore.find((c) => c.state === 'undone' && c.kind === 'label')?.id);
    assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
    store.close();
  });

  test('a store from a newer build is refused', () => {
    const path = join(dir(), 'kefer.db');
    const s = openStore(path);
    s.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    s.close();
    assert.throws(() => openStore(path), /newer than this build/);
  });
});

describe('overlay', () => {
  test('relabel, marks, undo/redo persist across reopen; applyOverlay applies them', () => {
    const d = dir();
    const path = join(d, 'kefer.db');
    const dataset = tinyDataset(20, join(d, 'ds'), 3, 7);
    let store = openStore(path);
    const ds = upsertDataset(store, dataset, { spec: 'synthetic:tiny' });
    assert.equal(ds.samples, 20);
    const s0 = dataset.samples[0];
    const s1 = dataset.samples[1];
    const newLabel = (s0.label + 1) % 7;
    const c1 = relabel(store, { dataset: ds.id, id: s0.id }, newLabel, { note: 'looks happy', runId: undefined, author: 'alice' });
    assert.equal(c1.oldValue, s0.label);
    assert.equal(c1.author, 'alice');
    const c2 = setMark(store, { dataset: ds.id, id: s1.id }, 'exclude', true, { author: 'alice' });
    setMark(store, { dataset: ds.id, id: s1.id }, 'unsure', true, { author: 'alice' });
    assert.throws(() => relabel(store, { dataset: ds.id, id: s0.id }, newLabel), /already labelled/);
    assert.throws(() => relabel(store, { dataset: ds.id, id: 'nope' }, 1), /no sample 'nope'/);
    assert.throws(() => relabel(store, { dataset: ds.id, id: s0.id }, 7), /not a class/);
    store.close();

    store = openStore(path);
    let over = applyOverlay(store, dataset);
    assert.equal(over.samples.length, 19);
    assert.equal(over.samples[0].label, newLabel);
    assert.ok(!over.samples.some((s) => s.id === s1.id));
    assert.equal(dataset.samples[0].label, s0.label, 'input dataset is not mutated');
    // Undo the unsure mark and the exclusion (newest first), in another "process".
    assert.equal(undo(store, ds.id)?.kind, 'unsure');
    store.close();
    store = openStore(path);
    assert.equal(undo(store, ds.id)?.id, c2.id);
    over = applyOverlay(store, dataset);
    assert.equal(over.samples.length, 20);
    store.close();
    store = openStore(path);
    assert.equal(redo(store, ds.id)?.id, c2.id);
    assert.equal(effectiveLabels(store, ds.id).get(s1.id)?.excluded, true);
    // A new change drops the redo stack (the undone 'unsure' change).
    relabel(store, { dataset: ds.id, id: s1.id }, (s1.label + 2) % 7, { author: 'bob' });
    assert.equal(redo(store, ds.id), null);
    const log = labelLog(store, { dataset: ds.id });
    assert.deepEqual(log.map((c) => c.state), ['applied', 'dropped', 'applied', 'applied']);
    assert.deepEqual(changeEvents(store, c2.id).map((e) => e.action), ['do', 'undo', 'redo']);
    assert.equal(labelLog(store, { dataset: ds.id, sample: s0.id }).length, 1);
    assert.equal(labelLog(store, { limit: 2 }).length, 2);
    // Undo everything: back to the original labels.
    while (undo(store, ds.id));
    const eff = effectiveLabels(store, ds.id);
    for (const s of dataset.samples) {
      assert.equal(eff.get(s.id)?.label, s.label);
      assert.equal(eff.get(s.id)?.excluded, false);
    }
    assert.equal(undo(store, ds.id), null);
    store.close();
  });

  test('re-importing a dataset keeps relabels; relabel to contempt drops it from a 7-class load', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(10, join(d, 'ds'), 5, 8);
    const ds = upsertDataset(store, dataset);
    relabel(store, { dataset: ds.id, id: 's0001' }, 7);
    relabel(store, { dataset: ds.id, id: 's0002' }, (dataset.samples[2].label + 1) % 7);
    // A newer label release changes s0002's and s0003's original labels.
    const newer = { ...dataset, samples: dataset.samples.map((s, i) => (i === 2 || i === 3 ? { ...s, label: (s.label + 3) % 7 } : s)) };
    upsertDataset(store, newer);
    const eff = effectiveLabels(store, ds.id);
    assert.equal(eff.get('s0002')?.label, (dataset.samples[2].label + 1) % 7, 'relabel survives');
    assert.equal(eff.get('s0003')?.label, newer.samples[3].label, 'untouched sample follows the new release');
    const seven = applyOverlay(store, { ...newer, classes: newer.classes.slice(0, 7) });
    assert.ok(!seven.samples.some((s) => s.id === 's0001'));
    store.close();
  });
});

describe('records', () => {
  test('JSONL import: errors name file:line and leave the run untouched', () => {
    const d = dir();
    const store = openStore(join(d, 'kefer.db'));
    const dataset = tinyDataset(6, join(d, 'ds'), 9);
    const ds = upsertDataset(store, dataset);
    registerRun(store, { id: 'r', dataset: ds.id, backbone: 'resnet18', config: { lr: 1 } });
    const recs = fakeRecords(dataset, 2);
    const file = join(d, 'records.jsonl');
    writeFileSync(file, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
    assert.equal(importRecordsJsonl(store, 'r', file).records, 6);
    const bad = recs.map((r) => JSON.stringify(r));
    bad[3] = JSON.stringify({ ...recs[3], pred: 9 });
    writeFileSync(file, bad.join('\n'));
    assert.throws(() => importRecordsJsonl(store, 'r', file), (e: Error) => e.message.startsWith(`${file}:4: pred 9`));
    bad[3] = '{"id": ';
    writeFileSync(file, bad.join('\n'));
    assert.throws(() => importRecordsJsonl(store, 'r', file), (e: Error) => e.message.startsWith(`${file}:4: invalid JSON`));
    assert.equal(listRuns(store)[0].records, 6, 'failed imports roll back');
    assert.throws(() => importRecordsJsonl(store, 'r', join(d, 'missing.jsonl')), /cannot open/);
    // Records for samples the dataset lacks register them.
    const extra: SampleRecord = { ...recs[0], id: 'new-one', path: 'img/new.png' };
    assert.equal(importRecords(store, 'r', [...recs, extra]).newSamples, 1);
    assert.throws(() => importRecords(store, 'r', [recs[0], recs[0]]), /appears twice/);
    assert.throws(() => registerRun(store, { id: 'r2', dataset: ds.id, parent: 'nope' }), /parent run 'nope'/);
    store.close();
  });
});

describe('queries against brute force', () => {
  const d = dir();
  const store = openStore(join(d, 'kefer.db'));
  const dataset = tinyDataset(400, join(d, 'ds'), 11);
  const ds = upsertDataset(store, dataset);
  registerRun(store, { id: 'a', dataset: ds.id });
  registerRun(store, { id: 'b', dataset: ds.id, parent: 'a' });
  const recA = fakeRecords(dataset, 21, 1.0);
  // Run b evaluates 300 of the samples only.
  const recB = fakeRecords(dataset, 22, 2.0).slice(50, 350);
  importRecords(store, 'a', recA);
  importRecords(store, 'b', recB);
  const sk = new Map(dataset.samples.map((s) => [s.id, sampleKeyOf(store, { dataset: ds.id, id: s.id })]));
  // Some relabels (one undone), marks.
  for (let i = 0; i < 40; i++) relabel(store, { dataset: ds.id, id: dataset.samples[i * 7].id }, (dataset.samples[i * 7].label + 1 + (i % 3)) % 8);
  undo(store, ds.id);
  setMark(store, { dataset: ds.id, id: dataset.samples[3].id }, 'exclude', true);
  const eff = effectiveLabels(store, ds.id);

  type Key = 'confidence' | 'gap' | 'issue' | 'margin';
  const value = (r: SampleRecord, key: Key) => (key === 'gap' ? r.gap : key === 'issue' ? issueScore(r, { ...DEFAULT_ISSUE_CONTEXT, neutralIndex: 6 }) : scoreRecord(r.probs, r.label)[key]);
  function brute(recs: SampleRecord[], pred: (r: SampleRecord) => boolean, key: Key, desc: boolean): string[] {
    return recs
      .filter(pred)
      .sort((x, y) => (desc ? -1 : 1) * (value(x, key) - value(y, key) || sk.get(x.id)! - sk.get(y.id)!))
      .map((r) => r.id);
  }
  function allPages(fetch: (o: PageOptions) => { rows: RecordRow[]; next: unknown }, opts: PageOptions): string[] {
    const ids: string[] = [];
    let after: PageOptions['after'];
    for (let guard = 0; guard < 100; guard++) {
      const p = fetch({ ...opts, limit: 17, after });
      ids.push(...p.rows.map((r) => r.id));
      if (!p.next) break;
      after = p.next as PageOptions['after'];
    }
    return ids;
  }

  test('mistake pages: every filter and sort, keyset and offset paging', () => {
    const relabeled = (id: string) => eff.get(id)!.label !== eff.get(id)!.original;
    const cases: [Parameters<typeof mistakesPage>[2], (r: SampleRecord) => boolean][] = [
      [{}, () => true],
      [{ trueClass: 2 }, (r) => r.label === 2],
      [{ predClass: 5 }, (r) => r.pred === 5],
      [{ trueClass: 1, predClass: 0, split: 'train' }, (r) => r.label === 1 && r.pred === 0 && r.split === 'train'],
      [{ split: 'test' }, (r) => r.split === 'test'],
      [{ relabeled: true }, (r) => relabeled(r.id)],
      [{ relabeled: false, split: 'train' }, (r) => !relabeled(r.id) && r.split === 'train'],
    ];
    for (const [filter, pred] of cases) {
      for (const [sort, desc] of [['confidence', false], ['gap', false], ['issue', true], ['margin', false], ['gap', true]] as [Key, boolean][]) {
        const opts: PageOptions = { sort, order: desc ? 'desc' : 'asc' };
        const want = brute(recA, (r) => r.pred !== r.label && pred(r), sort, desc);
        const got = allPages((o) => mistakesPage(store, 'a', filter, o), opts);
        assert.deepEqual(got, want, `filter ${JSON.stringify(filter)} sort ${sort} desc ${desc}`);
        const page2 = mistakesPage(store, 'a', filter, { ...opts, limit: 5, offset: 5 }).rows.map((r) => r.id);
        assert.deepEqual(page2, want.slice(5, 10));
      }
    }
    // Default order is most suspicious first: issue descending.
    assert.deepEqual(mistakesPage(store, 'a', {}, { sort: 'issue', limit: 9 }).rows.map((r) => r.id), brute(recA, (r) => r.pred !== r.label, 'issue', true).slice(0, 9));
    const row = mistakesPage(store, 'a', {}, { limit: 1 }).rows[0];
    const src = recA.find((r) => r.id === row.id)!;
    assert.equal(row.probs.length, 8);
    assert.ok(Math.abs(row.probs[3] - src.probs[3]) < 1e-6);
    assert.equal(row.effLabel, eff.get(row.id)!.label);
  });

  test('confusion matrices and cell drill-down on run and effective labels', () => {
    for (const basis of ['run', 'effective'] as const) {
      const c = confusion(store, 'a', basis);
      const want = Array.from({ length: 8 }, () => new Array<number>(8).fill(0));
      const label = (r: SampleRecord) => (basis === 'run' ? r.label : eff.get(r.id)!.label);
      for (const r of recA) want[label(r)][r.pred]++;
      assert.deepEqual(c.matrix, want, basis);
      assert.equal(c.n, 400);
      for (const [t, p] of [[2, 2], [3, 1], [0, 7], [5, 5]]) {
        for (const sort of ['confidence', 'gap', 'issue'] as Key[]) {
          const desc = sort === 'issue';
          const expect = brute(recA, (r) => label(r) === t && r.pred === p, sort, desc);
          assert.deepEqual(allPages((o) => cellPage(store, 'a', t, p, { ...o, basis }), { sort }), expect, `${basis} ${t},${p} ${sort}`);
          assert.deepEqual(cellPage(store, 'a', t, p, { sort, basis, limit: 3, offset: 2 }).rows.map((r) => r.id), expect.slice(2, 5));
        }
      }
    }
  });

  test('class counts, sample history, run comparison', () => {
    for (const split of [undefined, 'test']) {
      const c = classCounts(store, ds.id, { split });
      const orig = new Array<number>(8).fill(0);
      const ef = new Array<number>(8).fill(0);
      const ex = new Array<number>(8).fill(0);
      for (const s of dataset.samples) {
        if (split && s.split !== split) continue;
        const e = eff.get(s.id)!;
        orig[e.original]++;
        ef[e.label]++;
        if (e.excluded) ex[e.label]++;
      }
      assert.deepEqual([c.original, c.effective, c.excluded], [orig, ef, ex]);
    }
    const id = dataset.samples[56].id; // relabeled (56 = 8 * 7), evaluated by both runs
    const h = sampleHistory(store, { dataset: ds.id, id });
    assert.deepEqual(h.records.map((r) => r.run), ['a', 'b']);
    assert.equal(h.changes.length, 1);
    assert.equal(h.sample.label, eff.get(id)!.label);
    assert.equal(h.records[1].pred, recB.find((r) => r.id === id)!.pred);

    const cmp = compareRuns(store, 'a', 'b', { kind: 'changed', limit: 1000 });
    const byId = new Map(recA.map((r) => [r.id, r]));
    const common = recB.filter((r) => byId.has(r.id));
    const changed = common.filter((r) => byId.get(r.id)!.pred !== r.pred).map((r) => r.id);
    assert.equal(cmp.common, 300);
    assert.equal(cmp.changed, changed.length);
    assert.deepEqual(cmp.rows.map((r) => r.id), changed);
    assert.equal(cmp.fixed, common.filter((r) => byId.get(r.id)!.pred !== byId.get(r.id)!.label && r.pred === r.label).length);
    assert.equal(cmp.broken, common.filter((r) => byId.get(r.id)!.pred === byId.get(r.id)!.label && r.pred !== r.label).length);
    assert.equal(cmp.a.accuracy, recA.filter((r) => r.pred === r.label).length / 400);
    assert.equal(cmp.b.accuracy, recB.filter((r) => r.pred === r.label).length / 300);
    const fixedPage = compareRuns(store, 'a', 'b', { kind: 'fixed', limit: 5, offset: 5 });
    assert.ok(fixedPage.rows.every((r) => r.predA !== r.labelA && r.predB === r.labelB));
    assert.equal(fixedPage.rows.length, Math.min(5, cmp.fixed - 5));
  });

  after(() => store.close());
});

describe('damaged and foreign store files: a clear error naming the file, the file kept byte for byte', () => {
  const BIN = join(__dirname, '..', '..', 'bin', 'kefer.js');
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  const listing = (d: string) => readdirSync(d).sort();

  /** A real store (dataset, run records, relabels), closed, so the whole database is in the main file. */
  function realStore(d: string): Buffer {
    const path = join(d, 'real.db');
    const s = openStore(path);
    const dataset = tinyDataset(3000, join(d, 'ds'), 6, 8);
    const ds = upsertDataset(s, dataset);
    registerRun(s, { id: 'r', dataset: ds.id });
    importRecords(s, 'r', fakeRecords(dataset, 4));
    relabel(s, { dataset: ds.id, id: 's0001' }, (dataset.samples[1].label + 1) % 8);
    s.close();
    assert.ok(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0, 'closing the last connection checkpoints the WAL into the main file');
    return readFileSync(path);
  }

  function kefer(cwd: string, ...args: string[]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 120_000 });
    return { code: r.status, err: r.stderr };
  }

  const d = dir();
  const real = realStore(d);
  const page = real.readUInt16BE(16);
  const tail = Math.floor((real.length * 0.75) / page) * page;
  // copies: an SQLite store found damaged is copied aside (file and log) and the message says how to recover it
  const cases: { name: string; bytes: Buffer; message: RegExp; atOpen: boolean; copies: boolean }[] = [
    { name: 'random bytes', bytes: Buffer.from(Array.from({ length: 9000 }, (_, i) => (i * 7919 + 13) % 251)), message: /not a KE-FER store: the file is not an SQLite database/, atOpen: true, copies: false },
    { name: 'a text file', bytes: Buffer.from('id,label\ns1,happy\n'), message: /not an SQLite database/, atOpen: true, copies: false },
    { name: 'SQLite magic, garbage header', bytes: Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4000, 0xab)]), message: /the store file is damaged: header page size/, atOpen: true, copies: true },
    { name: 'cut short (half of a real store)', bytes: real.subarray(0, Math.floor(real.length / 2 / page) * page), message: /the store file is damaged: cut short \(\d+ bytes, its header says \d+\)/, atOpen: true, copies: true },
    { name: 'page 1 (the schema) overwritten', bytes: Buffer.concat([real.subarray(0, 100), Buffer.alloc(page - 100, 0x41), real.subarray(page)]), message: /the store file is damaged \(/, atOpen: true, copies: true },
    // Pages past the schema: opening succeeds, the first query that reads them fails (the curation
    // worker's quick_check finds them at open).
    { name: 'the last quarter of the pages overwritten', bytes: Buffer.concat([real.subarray(0, tail), Buffer.alloc(real.length - tail, 0x41)]), message: /the store file is damaged \(/, atOpen: false, copies: false },
  ];

  for (const c of cases) {
    test(`${c.name}: refused, never recreated, bytes unchanged (API, curation service${c.atOpen ? ', kefer relabel' : ''})`, () => {
      const ws = join(dir(), 'ws');
      mkdirSync(join(ws, '.kefer'), { recursive: true });
      const path = join(ws, '.kefer', 'kefer.db');
      writeFileSync(path, c.bytes);
      const before = sha(path);
      const files = listing(join(ws, '.kefer'));
      // A damage found after opening names every store the process opened: this test process opened many.
      const named = (msg: string) => (c.atOpen ? msg.startsWith(`${path}: `) : msg.includes(path)) && c.message.test(msg) && /left exactly as (it is|they are)/.test(msg);
      if (c.atOpen) {
        for (let attempt = 0; attempt < 2; attempt++) {
          assert.throws(() => openStore(path), (e: Error) => e instanceof StoreError && named(e.message), `attempt ${attempt + 1}`);
        }
      } else {
        const s = openStore(path);
        assert.throws(() => {
          for (const r of listRuns(s)) mistakesPage(s, r.id, {}, { limit: 5000 });
        }, (e: Error) => named(describeStoreError(e) ?? ''));
        s.close();
      }
      // The extension's curation service (in its worker) answers with the same error, not "no run".
      const svc = new CurationService(path);
      const grid = { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null };
      assert.throws(() => {
        svc.info(join(ws, 'runs', 'r'));
        svc.page(join(ws, 'runs', 'r'), grid, 'issue', 0, 5000);
      }, (e: Error) => named(e instanceof StoreError ? e.message : (describeStoreError(e) ?? '')));
      svc.close();
      // The CLI, as a user runs it. (Damage past the pages a command reads is found only by the
      // queries that read it: a relabel elsewhere still works, as SQLite writes around it.)
      if (c.atOpen) {
        const r = kefer(ws, 'relabel', 's0001', 'happy');
        assert.equal(r.code, 1, r.err);
        assert.ok(named(r.err.replace(/^kefer: /, '').trim()), r.err);
      }
      assert.equal(sha(path), before, 'the file is byte-for-byte what it was');
      const now = listing(join(ws, '.kefer'));
      if (c.copies) {
        const extra = now.filter((f) => !files.includes(f));
        assert.equal(extra.length, 1, `one folder of copies beside it: ${now}`);
        assert.match(extra[0], /^kefer\.db\.damaged-[0-9a-f]{10}$/);
        assert.equal(sha(join(ws, '.kefer', extra[0], 'kefer.db')), before, 'a byte-identical copy');
      } else if (c.atOpen) assert.deepEqual(now, files, 'nothing was created beside it');
      if (!c.atOpen) assert.ok(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0, 'nothing was written to its log');
    });
  }

  /**
   * A store a writer was killed in, so its log (-wal) holds commits that were never checkpointed; the
   * writer is a child process (better-sqlite3 closed its store; here nothing may).
   */
  async function killedWriter(d: string): Promise<{ path: string; walBytes: number }> {
    const path = join(d, '.kefer', 'kefer.db');
    const s = openStore(path);
    const dataset = tinyDataset(400, join(d, 'ds'), 6, 8);
    const ds = upsertDataset(s, dataset);
    registerRun(s, { id: 'r', dataset: ds.id });
    importRecords(s, 'r', fakeRecords(dataset, 4));
    s.close();
    // killed (-9) once it acknowledged 80 writes: they are in the log, never checkpointed
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'store-kill-child.ts'), 'overlay', path, String(ds.id), '400'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if ((out.match(/^ack /gm) ?? []).length >= 80) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    assert.ok((out.match(/^ack /gm) ?? []).length >= 80, out.slice(-500));
    return { path, walBytes: statSync(`${path}-wal`).size };
  }

  const walCases: { name: string; damage: (path: string) => void; message: RegExp }[] = [
    {
      name: 'the file cut to half while its log holds the last commits',
      damage: (p) => writeFileSync(p, readFileSync(p).subarray(0, Math.floor(statSync(p).size / 2 / 4096) * 4096)),
      message: /cut short \(\d+ bytes\): \d+ of the \d+ pages its log's last commit needs are neither in it nor in its log \(-wal\)/,
    },
    { name: 'an empty log beside the cut file', damage: (p) => (writeFileSync(`${p}-wal`, ''), writeFileSync(p, readFileSync(p).subarray(0, 8192))), message: /cut short \(8192 bytes, its header says \d+\)/ },
    { name: 'a garbage log beside an intact file', damage: (p) => writeFileSync(`${p}-wal`, Buffer.alloc(5000, 0x5a)), message: /its log \(-wal\) is not an SQLite log/ },
    { name: 'a log for another page size', damage: (p) => { const w = readFileSync(`${p}-wal`); w.writeUInt32BE(1024, 8); writeFileSync(`${p}-wal`, w); }, message: /its log \(-wal\) is for 1024-byte pages, the database has 4096-byte pages/ },
  ];
  for (const c of walCases) {
    test(`WAL damage, ${c.name}: refused before any write, file and log byte-identical, copies beside them`, async () => {
      const ws = dir();
      const { path } = await killedWriter(ws);
      c.damage(path);
      const hashes = () => ['', '-wal'].map((x) => (existsSync(path + x) ? sha(path + x) : 'absent'));
      const before = hashes();
      const sizes = ['', '-wal'].map((x) => statSync(path + x).size);
      for (const attempt of [1, 2]) {
        assert.throws(() => openStore(path), (e: Error) => e instanceof StoreError && e.message.startsWith(`${path}: `) && c.message.test(e.message) && /left exactly as they are/.test(e.message) && /\.recover/.test(e.message), `attempt ${attempt}`);
      }
      const r = kefer(ws, 'relabel', 's0001', 'happy');
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, c.message);
      assert.deepEqual(hashes(), before, 'the file and its log are byte-for-byte what they were');
      assert.deepEqual(['', '-wal'].map((x) => statSync(path + x).size), sizes);
      const copies = listing(join(ws, '.kefer')).filter((f) => f.includes('.damaged-'));
      assert.equal(copies.length, 1, 'the same damage opened again reuses its copies');
      assert.deepEqual(['', '-wal'].map((x) => sha(join(ws, '.kefer', copies[0], `kefer.db${x}`))), before);
    });
  }

  test('a store a writer was killed in (its log holding commits) opens, and nothing is lost', async () => {
    const ws = dir();
    const { path, walBytes } = await killedWriter(ws);
    assert.ok(walBytes > 0);
    const s = openStore(path);
    assert.ok(labelLog(s).length > 60);
    assert.equal(s.db.pragma('integrity_check', { simple: true }), 'ok');
    s.close();
    assert.ok(!listing(join(ws, '.kefer')).some((f) => f.includes('.damaged-')));
  });

  test('a connection that reads a damaged page never closes into it: the log stays, the file does not grow', async () => {
    const ws = dir();
    const { path } = await killedWriter(ws);
    // the last pages of the file (the records, not in the log) overwritten: found only by a query that reads them
    const bytes = readFileSync(path);
    const cut = Math.floor((bytes.length * 0.6) / 4096) * 4096;
    writeFileSync(path, Buffer.concat([bytes.subarray(0, cut), Buffer.alloc(bytes.length - cut, 0x41)]));
    const before = ['', '-wal'].map((x) => sha(path + x));
    const s = openStore(path);
    // every table and index read in full: one of them lives in the overwritten pages
    const readAll = () => {
      for (const { name, tbl, type } of s.db.prepare("SELECT name, tbl_name AS tbl, type FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL").all() as { name: string; tbl: string; type: string }[]) {
        s.db.prepare(type === 'table' ? `SELECT * FROM "${name}"` : `SELECT * FROM "${tbl}" INDEXED BY "${name}"`).all();
      }
    };
    assert.throws(readAll, (e: Error) => /SQLITE_CORRUPT/.test(String((e as { code?: string }).code)));
    s.close();
    assert.deepEqual(['', '-wal'].map((x) => sha(path + x)), before, 'no checkpoint copied the log into the damaged file');
  });

  test('the first query that reads a damaged page names the file in the CLI too', () => {
    assert.equal(formatError(Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' })).includes('the store file is damaged'), true);
    assert.equal(formatError(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })), 'database is locked');
  });

  test("another program's SQLite database is refused, not given the KE-FER tables", () => {
    const path = join(dir(), 'other.db');
    const other = new Database(path);
    other.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me');");
    other.close();
    const before = sha(path);
    assert.throws(() => openStore(path), (e: Error) => e instanceof StoreError && e.message.startsWith(`${path}: not a KE-FER store: an SQLite database of something else (tables notes)`));
    assert.equal(sha(path), before);
  });

  test('an empty file is an empty store (nothing in it to lose)', () => {
    const path = join(dir(), 'empty.db');
    writeFileSync(path, '');
    const s = openStore(path);
    assert.equal(schemaVersion(s.db), SCHEMA_VERSION);
    s.close();
  });
});

describe('store paths that are not stores: the message names the file, nothing is changed', () => {

  test('--store pointing at a folder', () => {
    const d = dir();
    assert.throws(() => openStore(d), (e: Error) => e instanceof StoreError && e.message === `${d}: is a folder, not a store file (pass --store with the path of a .db file)`);
    assert.deepEqual(readdirSync(d), []);
  });

  test('a store from a newer build (schema 99) is refused naming the file, its bytes unchanged', () => {
    const path = join(dir(), 'future.db');
    const s = openStore(path);
    s.db.pragma('user_version = 99');
    s.close();
    const before = createHash('sha256').update(readFileSync(path)).digest('hex');
    assert.throws(() => openStore(path), (e: Error) => e instanceof StoreError && e.message.startsWith(`${path}: store schema version 99 is newer than this build supports`));
    assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), before);
  });
});
