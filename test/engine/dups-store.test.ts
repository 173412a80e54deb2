// Duplicate scans and fixes in the store: the v6 -> v7 migration on a real v6 store, the paged cluster
// query, and each fix as ONE overlay action (one undo reverts all of it, every change in the audit log).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { classList } from '../../src/engine/classes.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { clustersOf, storedClusters, summariseTier, type TierResult } from '../../src/engine/dups/index.js';
import {
  applyGroup, changeEvents, DUP_SCORES_SCHEMA_VERSION, DUPS_SCHEMA_VERSION, dupCluster, dupClusterCount, dupClusterPage, effectiveLabels, excludeLeakedCopies, excludeLeakedInCluster,
  exportLabels, keepOneInCluster, keepOnePerCluster, labelLog, latestDupScan, openStore, redo, relabel, relabelDupCluster, saveDupScan, schemaVersion, SCHEMA_VERSION, setMark, undo,
  upsertDataset, type Store,
} from '../../src/engine/store/index.js';
import { tempDirsRemovedAfter } from './store-helpers.js';

const temp = tempDirsRemovedAfter('kefer-dups-store-');
const FIXTURE = path.resolve(__dirname, '../fixtures/legacy-store');

test('a real v6 store opens, migrates (v7: change groups and duplicate scans), keeps its log and undoes its old changes one at a time', () => {
  const dir = temp();
  copyFileSync(path.join(FIXTURE, 'store-v6-legacy.db'), path.join(dir, 's.db'));
  copyFileSync(path.join(FIXTURE, 'store-v6-legacy.db-wal'), path.join(dir, 's.db-wal'));
  const expected = JSON.parse(readFileSync(path.join(FIXTURE, 'store-v6-legacy.expected.json'), 'utf8')) as { log: Record<string, unknown>[] };
  const store = openStore(path.join(dir, 's.db'));
  try {
    assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
    assert.ok(SCHEMA_VERSION >= DUPS_SCHEMA_VERSION);
    const log = labelLog(store, { dataset: 1 }).map((c) => ({ ...c, time: undefined }));
    assert.deepEqual(JSON.parse(JSON.stringify(log)), expected.log, 'the migrated log reads as v6 wrote it (no group on old changes)');
    const u = undo(store, 1)!;
    assert.equal(u.id, 6);
    assert.equal(labelLog(store, { dataset: 1 }).find((c) => c.id === 5)!.state, 'applied', 'an old change is undone on its own');
    assert.equal(latestDupScan(store, 1), undefined);
  } finally {
    store.close();
  }
});

/** 12 samples: A = s00 train + s01, s02 test; B = s03 train + s04 valid; C = s05 valid + s06 test; D = s07, s08, s09 train. */
function dataset(root: string): Dataset {
  const split = ['train', 'test', 'test', 'train', 'valid', 'valid', 'test', 'train', 'train', 'train', 'train', 'test'];
  const label = [3, 3, 3, 0, 0, 6, 6, 3, 4, 4, 1, 2];
  return {
    format: 'synthetic', root, classes: classList(7), synthetic: true,
    samples: split.map((s, i) => ({ id: `s${String(i).padStart(2, '0')}`, path: `img/s${i}.png`, split: s, label: label[i] })),
  };
}

function scanned(store: Store, ds: Dataset): { id: number; scan: number } {
  const row = upsertDataset(store, ds);
  const pairs = [[0, 1], [0, 2], [3, 4], [5, 6], [7, 8], [8, 9]].map(([a, b]) => ({ a, b, score: 0.9 }));
  const tier: TierResult = { tier: 'near', threshold: { value: 0.84, measure: '', how: '' }, pairs, clusters: clustersOf(ds.samples.length, pairs, 'near'), seconds: 0 };
  const sum = summariseTier(ds, tier, ds.samples.map((s) => s.label));
  return { id: row.id, scan: saveDupScan(store, row.id, storedClusters(ds, sum), { test: true }) };
}

test('cluster pages: largest first, filtered by leak kind and conflict, keyset paging walks every cluster once', () => {
  const dir = temp();
  const store = openStore(path.join(dir, 's.db'));
  try {
    const ds = dataset(dir);
    const { scan } = scanned(store, ds);
    const all = dupClusterPage(store, { scan, tier: 'near', limit: 10 });
    assert.deepEqual(all.rows.map((r) => r.size), [3, 3, 2, 2]);
    assert.equal(all.next, undefined);
    assert.deepEqual(all.rows[0].members.map((m) => [m.id, m.split]), [['s00', 'train'], ['s01', 'test'], ['s02', 'test']]);
    // leak bits: train-test 1, train-val 2, val-test 4
    assert.deepEqual(dupClusterPage(store, { scan, tier: 'near', leaks: 1 }).rows.map((r) => r.members[0].id), ['s00']);
    assert.deepEqual(dupClusterPage(store, { scan, tier: 'near', leaks: 7 }).rows.map((r) => r.members[0].id), ['s00', 's03', 's05']);
    assert.deepEqual(dupClusterPage(store, { scan, tier: 'near', conflicting: true }).rows.map((r) => r.members[0].id), ['s07']);
    assert.equal(dupClusterCount(store, { scan, tier: 'near', leaks: 7 }), 3);
    const seen: number[] = [];
    let after;
    do {
      const p = dupClusterPage(store, { scan, tier: 'near', after, limit: 1 });
      seen.push(...p.rows.map((r) => r.cid));
      after = p.next;
    } while (after);
    assert.deepEqual(seen, all.rows.map((r) => r.cid));
    assert.equal(dupClusterPage(store, { scan, tier: 'exact' }).rows.length, 0);
  } finally {
    store.close();
  }
});

test('exclude the leaked copies: one action, one undo reverts it, one redo re-applies it, each change audited', () => {
  const dir = temp();
  const store = openStore(path.join(dir, 's.db'));
  try {
    const ds = dataset(dir);
    const { id } = scanned(store, ds);
    relabel(store, { dataset: id, id: 's10' }, 2); // an earlier single change stays below the action on the stack
    const res = excludeLeakedCopies(store, id, 'near', { author: 't' });
    assert.deepEqual(res.changes.map((c) => c.sampleId).sort(), ['s01', 's02', 's04', 's06']);
    const group = res.changes[0].group;
    assert.ok(group && res.changes.every((c) => c.group === group && c.kind === 'exclude'));
    const excluded = () => [...effectiveLabels(store, id)].filter(([, e]) => e.excluded).map(([k]) => k).sort();
    assert.deepEqual(excluded(), ['s01', 's02', 's04', 's06']);
    const u = undo(store, id, { author: 't' })!;
    assert.equal(u.group, group);
    assert.deepEqual(excluded(), [], 'one undo reverts the whole action');
    assert.equal(effectiveLabels(store, id).get('s10')!.label, 2, 'the change before it stays');
    redo(store, id, { author: 't' });
    assert.deepEqual(excluded(), ['s01', 's02', 's04', 's06']);
    for (const c of res.changes) assert.deepEqual(changeEvents(store, c.id).map((e) => e.action), ['do', 'undo', 'redo']);
    assert.equal(excludeLeakedCopies(store, id, 'near').changes.length, 0, 'nothing left to exclude: no empty action recorded');
    // the export leaves the excluded copies out (the deduplicated dataset)
    const out = path.join(temp(), 'export');
    const ex = exportLabels(store, id, { format: 'list', out });
    assert.equal(ex.excluded, 4);
    assert.equal(ex.samples, 12 - 4);
    const listed = readdirSync(out).flatMap((f) => readFileSync(path.join(out, f), 'utf8').trim().split('\n'));
    assert.ok(!listed.some((l) => /img\/s(1|2|4|6)\.png/.test(l)), 'excluded copies are not exported');
  } finally {
    store.close();
  }
});

test('relabel a conflicting cluster in one action; keep one per cluster; clear errors', () => {
  const dir = temp();
  const store = openStore(path.join(dir, 's.db'));
  try {
    const ds = dataset(dir);
    const { id, scan } = scanned(store, ds);
    const d = dupClusterPage(store, { scan, tier: 'near', conflicting: true }).rows[0];
    const res = relabelDupCluster(store, id, 'near', d.cid, 4);
    assert.deepEqual(res.changes.map((c) => [c.sampleId, c.oldValue, c.newValue]), [['s07', 3, 4]], 'only the member with another label changes');
    assert.deepEqual(dupClusterPage(store, { scan, tier: 'near', conflicting: true }).rows[0].members.map((m) => m.label), [4, 4, 4], 'pages show the labels as they are now');
    undo(store, id);
    assert.equal(effectiveLabels(store, id).get('s07')!.label, 3);
    const keep = keepOnePerCluster(store, id, 'near');
    assert.equal(keep.clusters, 4);
    assert.deepEqual(keep.changes.map((c) => c.sampleId).sort(), ['s01', 's02', 's04', 's06', 's08', 's09'], 'the earliest split\'s first member of each cluster is kept');
    assert.throws(() => relabelDupCluster(store, id, 'near', 99, 1), /no near cluster 99 in the stored scan/);
    assert.throws(() => relabelDupCluster(store, id, 'near', d.cid, 9), /label 9 is not a class of this dataset/);
    assert.throws(() => applyGroup(store, id, [{ id: 'nope', kind: 'exclude', value: 1 }]), /no sample 'nope'/);
    assert.equal(labelLog(store, { dataset: id, sample: 'nope' }).length, 0);
  } finally {
    store.close();
  }
});

test('a store held at v6 refuses grouped changes and scans with the schema named', () => {
  const dir = temp();
  const store = openStore(path.join(dir, 's.db'), { targetVersion: 6 });
  try {
    const row = upsertDataset(store, dataset(dir));
    assert.throws(() => applyGroup(store, row.id, [{ id: 's01', kind: 'exclude', value: 1 }]), /schema 6: changes made as one action need schema 7/);
    assert.throws(() => saveDupScan(store, row.id, [], {}), /schema 6: duplicate scans need schema 7/);
  } finally {
    store.close();
  }
});

/** The cluster of sample `id` in the scan's near tier. */
const cidOf = (store: Store, scan: number, id: string): number => dupClusterPage(store, { scan, tier: 'near' }).rows.find((r) => r.members.some((m) => m.id === id))!.cid;

test('one cluster\'s fixes (the duplicates view\'s X and K): one action each, only that cluster, one undo each', () => {
  const dir = temp();
  const store = openStore(path.join(dir, 's.db'));
  try {
    const ds = dataset(dir);
    const { id, scan } = scanned(store, ds);
    const excluded = () => [...effectiveLabels(store, id)].filter(([, e]) => e.excluded).map(([k]) => k).sort();
    // X on cluster A (s00 train, s01 + s02 test): its two test copies, nothing of cluster B or C
    const a = cidOf(store, scan, 's00');
    const x = excludeLeakedInCluster(store, id, 'near', a);
    assert.deepEqual(x.changes.map((c) => c.sampleId).sort(), ['s01', 's02']);
    assert.ok(x.changes.every((c) => c.group === x.changes[0].group));
    assert.deepEqual(excluded(), ['s01', 's02']);
    assert.equal(excludeLeakedInCluster(store, id, 'near', a).changes.length, 0, 'nothing left to exclude: no empty action');
    undo(store, id);
    assert.deepEqual(excluded(), []);
    // K on cluster D (s07, s08, s09, all train): the first kept, the others excluded
    const d = cidOf(store, scan, 's07');
    const k = keepOneInCluster(store, id, 'near', d);
    assert.equal(k.kept, 's07');
    assert.deepEqual(excluded(), ['s08', 's09']);
    undo(store, id);
    // K with a chosen member keeps it, and includes it again when it was excluded
    setMark(store, { dataset: id, id: 's09' }, 'exclude', true);
    const k2 = keepOneInCluster(store, id, 'near', d, { keep: 's09' });
    assert.equal(k2.kept, 's09');
    assert.deepEqual(excluded(), ['s07', 's08']);
    assert.deepEqual(k2.changes.map((c) => [c.sampleId, c.newValue]).sort(), [['s07', 1], ['s08', 1], ['s09', 0]]);
    undo(store, id);
    assert.deepEqual(excluded(), ['s09'], 'one undo reverts the keep, not the single exclusion before it');
    // without a choice, K keeps the earliest split's member among those not excluded
    setMark(store, { dataset: id, id: 's07' }, 'exclude', true);
    assert.equal(keepOneInCluster(store, id, 'near', d).kept, 's08');
    assert.throws(() => keepOneInCluster(store, id, 'near', d, { keep: 's01' }), /'s01' is not a member of near cluster/);
    assert.throws(() => excludeLeakedInCluster(store, id, 'near', 99), /no near cluster 99/);
    assert.equal(dupCluster(store, scan, 'near', 99), undefined);
    assert.deepEqual(dupCluster(store, scan, 'near', a)!.members.map((m) => m.id), ['s00', 's01', 's02']);
  } finally {
    store.close();
  }
});

test('each member\'s similarity is kept (schema v9); a scan stored before it pages with none', () => {
  const dir = temp();
  const file = path.join(dir, 's.db');
  const old = openStore(file, { targetVersion: DUP_SCORES_SCHEMA_VERSION - 1 });
  const ds = dataset(dir);
  let oldScan: number;
  try {
    const row = upsertDataset(old, ds);
    oldScan = saveDupScan(old, row.id, [{ tier: 'near', cid: 1, members: ['s00', 's01'], leaks: 1, conflict: false, score: 0.9, scores: [0.9, 0.9] }], {});
  } finally {
    old.close();
  }
  const store = openStore(file);
  try {
    assert.equal(schemaVersion(store.db), SCHEMA_VERSION);
    assert.deepEqual(dupClusterPage(store, { scan: oldScan, tier: 'near' }).rows[0].members.map((m) => m.score), [null, null], 'not known for the old scan');
    const row = upsertDataset(store, ds);
    const scan = saveDupScan(store, row.id, [{ tier: 'near', cid: 1, members: ['s00', 's01', 's02'], leaks: 1, conflict: false, score: 0.88, scores: [0.95, 0.95, 0.88] }], {});
    assert.deepEqual(dupClusterPage(store, { scan, tier: 'near' }).rows[0].members.map((m) => [m.id, m.score]), [['s00', 0.95], ['s01', 0.95], ['s02', 0.88]]);
  } finally {
    store.close();
  }
});
