// The annotators' votes (Sample.votes, FERPlus) kept per sample in the store (schema v4) and in the
// per-sample diagnostic records, beside the label.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { cellPage, importRecords, mistakesPage, openStore, registerRun, sampleHistory, schemaVersion, upsertDataset } from '../../src/engine/store/index.js';
import { storedDataset } from '../../src/engine/store/datasets.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { RecordBuilder } from '../../src/engine/eval/records.js';
import { fakeRecords, tempDirsRemovedAfter } from './store-helpers.js';

const dir = tempDirsRemovedAfter();

const classes: Dataset['classes'] = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
const votes = [0, 0, 0, 6, 0, 0, 3, 0, 1, 0];
const ds: Dataset = { format: 'ferplus', root: '/data/ferplus', classes, samples: [
  { id: 'FER2013Train/fer0000001.png', path: 'data/FER2013Train/fer0000001.png', label: 3, split: 'train', votes },
  { id: 'FER2013Train/fer0000002.png', path: 'data/FER2013Train/fer0000002.png', label: 6, split: 'train' },
] };

test('votes are stored per sample, read back with the dataset and shown in the sample history; a v3 store migrates', () => {
  const d = dir();
  const path = join(d, 'kefer.db');
  const old = openStore(path, { targetVersion: 3 });
  // what a v3 build wrote: the same samples, no votes column
  old.db.prepare(`INSERT INTO datasets (id, format, root, classes, created) VALUES (1, 'ferplus', '/data/ferplus', ?, 'then')`).run(JSON.stringify(classes));
  const ins = old.db.prepare('INSERT INTO samples (dataset, sid, path, split, orig_label, label) VALUES (1, ?, ?, ?, ?, ?)');
  for (const s of ds.samples) ins.run(s.id, s.path, s.split, s.label, s.label);
  old.close();
  const v3 = { id: 1 };
  const store = openStore(path);
  assert.ok(schemaVersion(store.db) >= 4);
  assert.equal(storedDataset(store, v3.id).samples[0].votes, undefined, 'migrated rows have no votes until re-imported');
  const row = upsertDataset(store, ds);
  assert.equal(row.id, v3.id);
  const back = storedDataset(store, row.id);
  assert.deepEqual(back.samples[0].votes, votes);
  assert.equal(back.samples[1].votes, undefined);
  const h = sampleHistory(store, { dataset: row.id, id: ds.samples[0].id });
  assert.equal(h.sample.label, 3);
  assert.deepEqual(h.sample.votes, votes);
  store.close();
});

test('diagnostic records carry the votes beside the label', () => {
  const b = new RecordBuilder({ classes, neutralIndex: 6, textEmbeddings: new Float32Array(7 * 2).map((_, i) => (i % 3) / 2), featureDim: 2, total: 2 });
  b.add(ds.samples, [3, 6], [0, 1], new Float32Array(14), new Float32Array([1, 0, 0, 1]), new Float32Array([0, 1, 1, 0]));
  const { records } = b.finish();
  assert.deepEqual(records[0].votes, votes);
  assert.equal(records[1].votes, undefined);
});

test('grid pages (mistakes and confusion cells) carry each row\'s votes; a sample without votes has none', () => {
  const d = dir();
  const store = openStore(join(d, 'kefer.db'));
  const row = upsertDataset(store, ds);
  registerRun(store, { id: 'r', dataset: row.id });
  // both samples predicted as sadness: both are mistakes
  importRecords(store, 'r', fakeRecords(ds, 1).map((r) => ({ ...r, pred: 4 })));
  const rows = mistakesPage(store, 'r', {}, { limit: 10 }).rows;
  assert.deepEqual(rows.map((r) => [r.id, r.votes]).sort(), [[ds.samples[0].id, votes], [ds.samples[1].id, undefined]]);
  assert.equal('votes' in rows.find((r) => r.id === ds.samples[1].id)!, false);
  assert.deepEqual(cellPage(store, 'r', 3, 4).rows.map((r) => r.votes), [votes]);
  store.close();
});
