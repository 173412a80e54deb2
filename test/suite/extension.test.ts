// Integration tests in the real extension host: commands, sample dataset, a bounded training run
// through the engine child process, the curation worker's paging/relabel/undo, and cancellation.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Mocha from 'mocha';
import * as vscode from 'vscode';
import type { KeferApi } from '../../src/extension/extension.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { DEFAULT_SETTINGS } from '../../src/extension/settings.js';
import { readMeta } from '../../src/extension/runlist/runFiles.js';
import { findTorchPython } from '../../src/engine/torch/python.js';

const EXT_ID = 'kefer.kefer-studio';
const FILTER = { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null };
// Small enough for CI on 2 CPU cores with the real engine (compact backbone, 48 px).
const SETTINGS = { ...DEFAULT_SETTINGS, backbone: 'compact' as const, batchSize: 16, textEncoder: 'standin' };

async function api(): Promise<KeferApi> {
  const ext = vscode.extensions.getExtension<KeferApi>(EXT_ID);
  assert.ok(ext, 'extension is installed');
  return ext.activate();
}

export function suites(root: Mocha.Suite, M: typeof Mocha): void {
  const s = M.Suite.create(root, 'KE-FER extension');
  // real training runs on 2 shared CPU cores: those tests get minutes, not mocha's 60 s
  const add = (title: string, fn: () => Promise<void>, timeout?: number): void => {
    const t = new M.Test(title, fn);
    if (timeout) t.timeout(timeout);
    s.addTest(t);
  };
  const ws = (): string => vscode.workspace.workspaceFolders![0].uri.fsPath;
  let runDir = '';

  add('activates and registers every KE-FER command', async () => {
    await api();
    const cmds = await vscode.commands.getCommands(true);
    for (const c of ['kefer.train', 'kefer.retrain', 'kefer.evaluate', 'kefer.openDiagnostics', 'kefer.cancelTraining', 'kefer.exportLabels', 'kefer.findLabelIssues', 'kefer.configureTextEncoder', 'kefer.createSampleDataset']) {
      assert.ok(cmds.includes(c), `${c} registered`);
    }
  });

  add('Create Sample Dataset writes the synthetic dataset into the workspace', async () => {
    const out = (await vscode.commands.executeCommand<string>('kefer.createSampleDataset'))!;
    assert.equal(out, path.join(ws(), 'kefer-sample'));
    for (const split of ['train', 'valid', 'test']) assert.ok(fs.existsSync(path.join(out, split)), `${split} exists`);
    assert.ok(fs.readdirSync(path.join(out, 'train')).length >= 7);
  });

  add('a bounded training run streams events and leaves a finished run', async () => {
    const a = await api();
    const events: EngineEvent['type'][] = [];
    const sub = a.training.onEvent((e) => events.push(e.type));
    const root = path.join(ws(), 'kefer-sample');
    runDir = (await a.training.train({ dataset: { spec: `synthetic:${root}`, root, name: 'kefer-sample' }, settings: SETTINGS, runsDir: a.runsDir()!, storePath: a.storePath(), epochs: 1, maxSteps: 8 }))!;
    sub.dispose();
    // the engine may log (backend probe, overlay) before its start event
    assert.equal(events.find((t) => t !== 'log'), 'start');
    assert.ok(events.includes('step'));
    assert.equal(events.filter((t) => t !== 'log').at(-1), 'done');
    const meta = readMeta(runDir)!;
    assert.equal(meta.status, 'done');
    assert.ok(meta.accuracy !== null && meta.accuracy >= 0 && meta.accuracy <= 1);
    assert.ok(fs.existsSync(path.join(runDir, 'records.jsonl')));
    const info = await a.curation.call('info', runDir);
    assert.ok(info.inStore, 'the engine registered the run in the workspace store');
    assert.ok(info.records > 0);
  }, 240000);

  add('curation worker pages the run\'s mistakes from the store, relabels and undoes', async () => {
    const { curation } = await api();
    const p = await curation.call('page', runDir, FILTER, 'issue', 0, 10);
    assert.ok(p.total > 0, 'the run has mistakes');
    assert.ok(p.rows.every((r) => r.pred !== r.label));
    assert.ok(p.rows.some((r) => r.split === 'train'), '--diagnose all: training-set mistakes are listed');
    for (let i = 1; i < p.rows.length; i++) assert.ok(p.rows[i - 1].issue >= p.rows[i].issue, 'sorted by issue score');
    const target = p.rows[0];
    await curation.call('change', runDir, target.id, 'relabel', target.pred);
    const relabeled = await curation.call('page', runDir, { ...FILTER, relabeled: true }, 'issue', 0, 10);
    assert.deepEqual(relabeled.rows.map((r) => [r.id, r.currentLabel]), [[target.id, target.pred]]);
    assert.equal((await curation.call('sample', runDir, target.id))!.history.length, 1);
    await curation.call('undo', runDir);
    const after = await curation.call('page', runDir, { ...FILTER, relabeled: true }, 'issue', 0, 10);
    assert.equal(after.total, 0);
    // relabel again: the quick retrain below trains with it
    await curation.call('change', runDir, target.id, 'relabel', target.pred);
  });

  add('a quick (head) retrain trains on the corrected labels and compares with its parent', async () => {
    const a = await api();
    const root = path.join(ws(), 'kefer-sample');
    const dir = (await a.training.train({ dataset: { spec: `synthetic:${root}`, root, name: 'kefer-sample' }, settings: SETTINGS, runsDir: a.runsDir()!, storePath: a.storePath(), parent: runDir, mode: 'head' }))!;
    assert.equal(readMeta(dir)!.status, 'done');
    const c = await a.curation.call('compare', runDir, dir);
    assert.ok(c.common > 0, 'both runs scored the same samples');
    assert.ok(c.accAfter >= 0 && c.accAfter <= 1);
    assert.equal(c.changed.length, Math.min(c.changedCount, 60));
  }, 240000);

  // The PyTorch (torchrun) runtime through the same Train and retrain flow (kefer train --engine torch);
  // skipped (and reported so) without a Python that imports torch.
  add('the PyTorch (torchrun) runtime trains, streams progress, registers the run, and a full retrain of it uses the corrected labels', async function (this: Mocha.Context) {
    const found = await findTorchPython();
    if (!found.ok) this.skip();
    const a = await api();
    const root = path.join(ws(), 'kefer-sample');
    const ds = { spec: `synthetic:${root}`, root, name: 'kefer-sample' };
    const settings = { ...SETTINGS, trainRuntime: 'torch' as const };
    const events: EngineEvent[] = [];
    const sub = a.training.onEvent((e) => events.push(e));
    const dir = (await a.training.train({ dataset: ds, settings, runsDir: a.runsDir()!, storePath: a.storePath(), epochs: 1, maxSteps: 4 }))!;
    const start = events.find((e) => e.type === 'start');
    assert.ok(start && start.type === 'start' && start.backend.name === 'torch', `trained on PyTorch: ${JSON.stringify(start)}`);
    assert.ok(events.some((e) => e.type === 'step'), 'progress streamed');
    assert.equal(events.filter((e) => e.type !== 'log').at(-1)?.type, 'done');
    const meta = readMeta(dir)!;
    assert.equal(meta.status, 'done');
    assert.ok(fs.existsSync(path.join(dir, 'records.jsonl')));
    const info = await a.curation.call('info', dir);
    assert.ok(info.inStore && info.records > 0, 'the run and its records are in the store');
    // relabel -> full retrain through the torch runtime: the engine applies the store's overlay first
    const p = await a.curation.call('page', dir, FILTER, 'issue', 0, 1);
    if (p.rows.length) await a.curation.call('change', dir, p.rows[0].id, 'relabel', p.rows[0].pred);
    events.length = 0;
    const retrain = (await a.training.train({ dataset: ds, settings, runsDir: a.runsDir()!, storePath: a.storePath(), parent: dir, mode: 'full', epochs: 1, maxSteps: 2 }))!;
    sub.dispose();
    assert.equal(readMeta(retrain)!.status, 'done');
    const overlay = events.find((e) => e.type === 'log' && /label overlay from/.test(e.message));
    assert.ok(overlay && overlay.type === 'log' && !/: 0 relabeled/.test(overlay.message), `trained on corrected labels: ${overlay && overlay.type === 'log' ? overlay.message : 'no overlay line'}`);
    assert.ok((await a.curation.call('info', retrain)).inStore);
  }, 300000);

  add('Cancel Training stops the engine and marks the run cancelled', async () => {
    const a = await api();
    const root = path.join(ws(), 'kefer-sample');
    const sub = a.training.onEvent((e) => {
      if (e.type === 'step' && e.step === 2) void vscode.commands.executeCommand('kefer.cancelTraining');
    });
    const dir = (await a.training.train({ dataset: { spec: `synthetic:${root}`, root, name: 'kefer-sample' }, settings: SETTINGS, runsDir: a.runsDir()!, storePath: a.storePath(), epochs: 50, maxSteps: 5000 }))!;
    sub.dispose();
    assert.equal(readMeta(dir)!.status, 'cancelled');
  }, 240000);

  add('Find Label Issues: a 2-fold cross-validation registers its run; the panel sorts it by confident learning', async () => {
    const a = await api();
    const root = path.join(ws(), 'kefer-sample');
    const ds = { spec: `synthetic:${root}`, root, name: 'kefer-sample' };
    const outDir = path.join(a.runsDir()!, 'kefer-sample-cv2');
    const dir = await a.labelIssues.crossValidate({ data: ds.spec, outDir, k: 2, mode: { kind: 'hog' }, storePath: a.storePath(), settings: SETTINGS, epochs: 2 }, ds);
    assert.equal(dir, outDir);
    const meta = readMeta(outDir)!;
    assert.equal(meta.status, 'done');
    assert.ok(meta.accuracy !== null && meta.accuracy >= 0 && meta.accuracy <= 1, 'out-of-fold accuracy');
    const info = await a.curation.call('info', outDir);
    assert.ok(info.inStore && info.records > 0, 'the engine registered the run under its folder name');
    const p = await a.curation.call('page', outDir, FILTER, 'cl', 0, 200);
    assert.ok(p.total > 0, 'out-of-fold mistakes');
    // flagged samples first: once an unflagged one appears, no flagged one follows
    const flags = await Promise.all(p.rows.map(async (r) => !!(await a.curation.call('sample', outDir, r.id))?.clFlag));
    assert.ok(flags.some(Boolean), 'confident learning flagged some');
    assert.equal(flags.indexOf(true, flags.indexOf(false) < 0 ? flags.length : flags.indexOf(false)), -1, `flagged first: ${flags.join(' ')}`);
  }, 240000);
}
