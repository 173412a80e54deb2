// The runs list (src/extension/runlist/catalogue.ts): run folders with a run.json (a run trained from
// a shell), with a studio.json (the extension's), and runs only the workspace store knows (trained
// elsewhere with --store), all listed, newest first, with who made them and whether the panel can
// show them; refresh() reads the store through the curation service and reports changes once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { importRecords, openStore, registerRun, upsertDataset } from '../../src/engine/store/index.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { mergeRuns, RunCatalogue } from '../../src/extension/runlist/catalogue.js';
import { writeMeta } from '../../src/extension/runlist/runFiles.js';
import { fakeRecords, tempDir, tinyDataset } from '../engine/store-helpers.js';

test('every run is listed, whoever trained it: run.json folders, studio.json folders, store-only runs', async () => {
  const ws = tempDir('kefer-catalogue-');
  try {
    const runs = path.join(ws, '.kefer', 'runs');
    const storePath = path.join(ws, '.kefer', 'kefer.db');
    const ds = tinyDataset(40, path.join(ws, 'data'), 3, 7);
    fs.mkdirSync(ds.root, { recursive: true });
    const store = openStore(storePath);
    const d = upsertDataset(store, ds, { spec: `folder:${ds.root}` });
    // cli1: `kefer train --out .kefer/runs/cli1 --store ...` (run.json + the store, no studio.json)
    registerRun(store, { id: 'cli1', dataset: d.id, backbone: 'compact', created: '2026-03-02T00:00:00Z', metrics: { runDir: path.join(runs, 'cli1'), valAccuracy: 0.5 } });
    importRecords(store, 'cli1', fakeRecords(ds, 1));
    // remote1: trained on a GPU box with --store pointing here; its folder is not in this workspace
    registerRun(store, { id: 'remote1', dataset: d.id, backbone: 'swin_t', created: '2026-03-03T00:00:00Z', metrics: { runDir: '/scratch/gpu-box/remote1' } });
    importRecords(store, 'remote1', fakeRecords(ds, 2));
    store.close();
    fs.mkdirSync(path.join(runs, 'cli1'), { recursive: true });
    fs.writeFileSync(path.join(runs, 'cli1', 'run.json'), JSON.stringify({ status: 'done', started: '2026-03-02T00:00:00Z', config: { backbone: 'compact' }, dataset: { root: ds.root }, valAccuracy: 0.5 }));
    // cli2: a run.json without --store (nothing to browse yet)
    fs.mkdirSync(path.join(runs, 'cli2'), { recursive: true });
    fs.writeFileSync(path.join(runs, 'cli2', 'run.json'), JSON.stringify({ status: 'running', started: '2026-03-04T00:00:00Z', config: { backbone: 'resnet18' } }));
    // ext1: the extension's own run, still training
    writeMeta(path.join(runs, 'ext1'), { dataSpec: `folder:${ds.root}`, datasetRoot: ds.root, datasetName: 'data', startedAt: '2026-03-01T00:00:00Z', backbone: 'resnet18', status: 'running', accuracy: null, classes: [] });
    // not runs: a folder with neither file, a stray file
    fs.mkdirSync(path.join(runs, 'notes'));
    fs.writeFileSync(path.join(runs, 'README.txt'), 'x');

    const svc = new CurationService(storePath);
    const list = mergeRuns(runs, svc.catalogue());
    assert.deepEqual(list.map((r) => [r.name, r.trainedBy, r.inStore, r.status]), [
      ['cli2', 'cli', false, 'running'],
      ['remote1', 'store', true, 'done'],
      ['cli1', 'cli', true, 'done'],
      ['ext1', 'extension', false, 'running'],
    ]);
    const remote = list.find((r) => r.name === 'remote1')!;
    assert.equal(remote.runDir, '/scratch/gpu-box/remote1', 'the folder the engine recorded');
    assert.deepEqual(remote.classes, [...ds.classes]);
    assert.equal(list.find((r) => r.name === 'cli1')!.accuracy, 0.5);

    let changes = 0;
    const cat = new RunCatalogue(() => runs, async () => svc.catalogue(), () => void changes++);
    assert.equal(cat.runs().length, 3, 'before the store is read: the folders only');
    await cat.refresh();
    assert.equal(cat.runs().length, 4);
    assert.deepEqual(cat.datasetRoots(), [path.resolve(ds.root)]);
    assert.equal(changes, 1);
    await Promise.all([cat.refresh(), cat.refresh(), cat.refresh()]);
    assert.equal(changes, 1, 'nothing changed: no change reported');
    fs.mkdirSync(path.join(runs, 'cli3'));
    fs.writeFileSync(path.join(runs, 'cli3', 'run.json'), JSON.stringify({ status: 'done', started: '2026-03-05T00:00:00Z' }));
    cat.invalidate();
    assert.equal(cat.runs()[0].name, 'cli3', 'a new run folder appears once the watcher invalidates');
    svc.close();
  } finally {
    fs.rmSync(ws, { recursive: true, force: true });
  }
});

test('an absent store lists nothing and is not created by listing', () => {
  const ws = tempDir('kefer-catalogue-');
  try {
    const storePath = path.join(ws, '.kefer', 'kefer.db');
    const svc = new CurationService(storePath);
    assert.deepEqual(svc.catalogue(), { runs: [], datasetRoots: [] });
    assert.equal(fs.existsSync(storePath), false);
    svc.close();
  } finally {
    fs.rmSync(ws, { recursive: true, force: true });
  }
});
