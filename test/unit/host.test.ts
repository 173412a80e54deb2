import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineEvent } from '../../src/engine/events.js';
import { EventLineSplitter, parseEventLine } from '../../src/extension/engine/eventStream.js';
import { DEFAULT_SETTINGS, evalArgs, readEvalPrecision, readSettings, runFolderName, SAMPLE_RUN_FLAGS, trainArgs, trainEnv } from '../../src/extension/settings.js';
import { headlineAccuracy } from '../../src/extension/runlist/runFiles.js';
import { detectDataset, specRoot } from '../../src/extension/datasets.js';
import { pagesFor } from '../../src/webviews/diagnostics/grid.js';

test('event splitter joins chunks split mid-line and passes non-JSON text through', () => {
  const events: EngineEvent[] = [];
  const text: string[] = [];
  const s = new EventLineSplitter((e) => events.push(e), (t) => text.push(t));
  s.push('{"type":"log","level":"info","mes');
  s.push('sage":"hi"}\nwarning: slow\n{"type":"error","message":"x"}');
  s.end();
  assert.deepEqual(events.map((e) => e.type), ['log', 'error']);
  assert.deepEqual(text, ['warning: slow']);
  assert.equal(parseEventLine('{"type":"other"}'), undefined);
});

test('trainArgs maps settings to kefer train flags', () => {
  const a = trainArgs({ data: 'synthetic:/d', outDir: '/o', settings: { ...DEFAULT_SETTINGS, textEncoder: 'standin' }, maxSteps: 40, epochsOverride: 2, storePath: '/s.db' });
  const flag = (f: string): string | undefined => a[a.indexOf(f) + 1];
  assert.equal(a[0], 'train');
  assert.equal(flag('--data'), 'synthetic:/d');
  assert.equal(flag('--epochs'), '2');
  assert.equal(flag('--batch'), '64');
  assert.equal(flag('--lr'), '0.002');
  assert.equal(flag('--lambda-c'), '1');
  assert.equal(flag('--text'), 'standin');
  assert.equal(flag('--runtime'), 'auto', 'the engine picks oneDNN or onnxruntime on a CPU');
  assert.equal(readSettings((k) => (k === 'trainRuntime' ? 'tfjs' : undefined) as never).trainRuntime, 'tfjs');
  assert.equal(readSettings((k) => (k === 'trainRuntime' ? 'cuda' : undefined) as never).trainRuntime, 'cuda');
  assert.equal(readSettings((k) => (k === 'trainRuntime' ? 'tpu' : undefined) as never).trainRuntime, 'auto', 'unknown values fall back');
  assert.equal(flag('--max-steps'), '40');
  assert.equal(flag('--store'), '/s.db');
  assert.equal(flag('--diagnose'), 'all', 'training-set mistakes reach the panel');
  assert.equal(flag('--events'), 'json');
  assert.ok(!trainArgs({ data: 'x', outDir: 'o', settings: DEFAULT_SETTINGS }).includes('--text'), 'auto leaves the engine to choose');
  assert.ok(!a.includes('--ferplus-labels') && !a.includes('--balance'), 'defaults add nothing');
});

test('trainArgs: the PyTorch (torchrun) runtime trains with --engine torch, its processes with --sync-bn, its Python as KEFER_PYTHON', () => {
  const get = (m: Record<string, unknown>) => (k: string) => m[k] as never;
  const one = readSettings(get({ trainRuntime: 'torch', backbone: 'swin_t' }));
  assert.equal(one.trainRuntime, 'torch');
  assert.equal(one.backbone, 'swin_t');
  const a = trainArgs({ data: 'ferplus:/d#train', outDir: '/o', settings: one, storePath: '/s.db' });
  assert.equal(a[a.indexOf('--engine') + 1], 'torch');
  assert.equal(a[a.indexOf('--backbone') + 1], 'swin_t');
  assert.ok(!a.includes('--runtime') && !a.includes('--backend') && !a.includes('--nproc'), a.join(' '));
  assert.equal(a[a.indexOf('--store') + 1], '/s.db', 'the relabel overlay and the store work as on the engine');
  assert.equal(trainEnv(one), undefined, 'no KEFER_PYTHON: the engine searches python3, then /usr/bin/python3');
  const four = readSettings(get({ trainRuntime: 'torch', 'torch.processes': 4, 'torch.python': ' /opt/venv/bin/python ' }));
  const b = trainArgs({ data: 'x', outDir: 'o', settings: four });
  assert.equal(b[b.indexOf('--nproc') + 1], '4');
  assert.ok(b.includes('--sync-bn'), 'several processes step as one');
  assert.deepEqual(trainEnv(four), { KEFER_PYTHON: '/opt/venv/bin/python' });
  assert.equal(trainEnv({ ...four, trainRuntime: 'auto' }), undefined);
});

test('trainArgs: kefer.ferplusLabels applies to FERPlus data only; kefer.balance to any', () => {
  const settings = readSettings((k) => ({ ferplusLabels: 'crossentropy', balance: 'sampler' } as Record<string, string>)[k] as never);
  const fer = trainArgs({ data: 'ferplus:/d#train', outDir: '/o', settings });
  assert.equal(fer[fer.indexOf('--ferplus-labels') + 1], 'crossentropy');
  assert.equal(fer[fer.indexOf('--balance') + 1], 'sampler');
  const raf = trainArgs({ data: 'rafdb:/r#train', outDir: '/o', settings });
  assert.ok(!raf.includes('--ferplus-labels'), 'RAF-DB has no votes');
  assert.equal(raf[raf.indexOf('--balance') + 1], 'sampler');
  assert.equal(readSettings((k) => (k === 'ferplusLabels' ? 'soft' : undefined) as never).ferplusLabels, 'majority', 'unknown values fall back');
});

test('evalArgs: kefer.evalPrecision int8 adds --precision int8; fp32 and unknown values leave the exact default', () => {
  const fp = evalArgs('/r/ck', 'synthetic:/d#test', '/r/records.jsonl', 'fp32');
  assert.deepEqual(fp, ['eval', '--checkpoint', '/r/ck', '--data', 'synthetic:/d#test', '--json', '--per-sample', '/r/records.jsonl']);
  const q = evalArgs('/r/ck', 'synthetic:/d#test', '/r/records.jsonl', 'int8');
  assert.equal(q[q.indexOf('--precision') + 1], 'int8');
  assert.equal(readEvalPrecision((k) => (k === 'evalPrecision' ? 'int8' : undefined) as never), 'int8');
  assert.equal(readEvalPrecision((k) => (k === 'evalPrecision' ? 'int4' : undefined) as never), 'fp32');
  assert.equal(readEvalPrecision(() => undefined), 'fp32');
});

test('trainArgs: the sample run adds its short-run flags after the method settings', () => {
  const a = trainArgs({ data: 'synthetic:/d', outDir: '/o', settings: DEFAULT_SETTINGS, extra: SAMPLE_RUN_FLAGS });
  // node's parseArgs keeps the last value of a repeated flag, so the sample's lr wins.
  assert.ok(a.lastIndexOf('--lr') > a.indexOf('--lr'));
  assert.equal(a[a.lastIndexOf('--lr') + 1], '0.02');
  assert.equal(a[a.indexOf('--augment') + 1], 'light');
  assert.equal(a[a.indexOf('--warmup-epochs') + 1], '0');
});

test('trainArgs: full retrain names its parent; quick retrain trains the head on the parent checkpoint', () => {
  const full = trainArgs({ data: 'synthetic:/d', outDir: '/o', settings: DEFAULT_SETTINGS, storePath: '/s.db', parent: 'run1' });
  assert.equal(full[full.indexOf('--parent') + 1], 'run1');
  assert.ok(!full.includes('--mode'));
  const head = trainArgs({ data: 'synthetic:/d', outDir: '/o', settings: DEFAULT_SETTINGS, storePath: '/s.db', parent: 'run1', head: { checkpoint: '/r/checkpoints/best' }, maxSteps: 20 });
  assert.deepEqual(head, ['train', '--data', 'synthetic:/d', '--out', '/o', '--mode', 'head', '--checkpoint', '/r/checkpoints/best', '--store', '/s.db', '--parent', 'run1', '--events', 'json']);
});

test('readSettings falls back to method defaults on bad values', () => {
  const vals: Record<string, unknown> = { backend: 'cuda', epochs: -3, batchSize: 32, contrast: 'per-sample' };
  const s = readSettings(<T>(k: string) => vals[k] as T | undefined);
  assert.equal(s.backend, 'auto');
  assert.equal(s.epochs, 50);
  assert.equal(s.batchSize, 32);
  assert.equal(s.contrast, 'per-sample');
  assert.equal(s.learningRate, 0.002);
  assert.match(runFolderName('my data!', new Date('2025-01-02T03:04:05Z'), 'head'), /^20250102-030405-my_data_-retrain-head$/);
  assert.match(runFolderName('d', new Date('2025-01-02T03:04:05Z')), /^20250102-030405-d$/);
});

test('headlineAccuracy prefers the validation split, then test, then all', () => {
  const r = (split: string, ok: boolean) => ({ split, label: 1, pred: ok ? 1 : 0 });
  assert.equal(headlineAccuracy([r('train', true), r('valid', false), r('valid', true), r('test', false)]), 0.5);
  assert.equal(headlineAccuracy([r('train', true), r('test', false)]), 0);
  assert.equal(headlineAccuracy([r('train', true)]), 1);
  assert.equal(headlineAccuracy([]), null);
});

test('dataset detection and spec roots', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-ds-'));
  fs.mkdirSync(path.join(dir, 'train', 'happy'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'train', 'sad'), { recursive: true });
  assert.equal(detectDataset(dir)?.spec, `folder:${dir}`);
  fs.writeFileSync(path.join(dir, '.kefer-synthetic'), '');
  assert.equal(detectDataset(dir)?.spec, `synthetic:${dir}`);
  assert.equal(specRoot('ferplus:/data/x#train?classes=8'), '/data/x');
  fs.rmSync(dir, { recursive: true });
});

test('grid pages cover the visible range', () => {
  assert.deepEqual(pagesFor(0, 119), [0]);
  assert.deepEqual(pagesFor(100, 250), [0, 1, 2]);
  // 300,000 samples: a screen near the end touches only its own pages
  assert.deepEqual(pagesFor(299_880, 299_999), [2499]);
});
