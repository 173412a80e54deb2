import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import type { EngineEvent } from '../../src/engine/events.js';
import { EventLineSplitter, parseEventLine } from '../../src/extension/engine/eventStream.js';
import { DEFAULT_SETTINGS, readSettings, runFolderName, trainArgs } from '../../src/extension/settings.js';
import { compareRuns, confusion, page, selectSorted } from '../../src/extension/curation/queries.js';
import { JsonOverlay } from '../../src/extension/curation/overlay.js';
import { correctionsCsv } from '../../src/extension/exportLabels.js';
import { detectDataset, specRoot } from '../../src/extension/datasets.js';
import { pagesFor } from '../../src/webviews/diagnostics/grid.js';

const rec = (id: string, label: number, pred: number, p: number, gap = 0, split = 'test'): SampleRecord => {
  const probs = new Array(7).fill((1 - p) / 6);
  probs[pred] = p;
  return { id, path: `${id}.png`, split, label, pred, probs, simText: 0.5, simNeutral: 0.5 - gap, gap, align: 0 };
};
const ANY = { trueClass: null, predClass: null, split: null, relabeled: null, mistakesOnly: false };

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
  assert.equal(flag('--max-steps'), '40');
  assert.equal(flag('--store'), '/s.db');
  assert.equal(flag('--events'), 'json');
  assert.ok(!trainArgs({ data: 'x', outDir: 'o', settings: DEFAULT_SETTINGS }).includes('--text'), 'auto leaves the engine to choose');
});

test('readSettings falls back to method defaults on bad values', () => {
  const vals: Record<string, unknown> = { backend: 'cuda', epochs: -3, batchSize: 32, contrast: 'per-sample' };
  const s = readSettings(<T>(k: string) => vals[k] as T | undefined);
  assert.equal(s.backend, 'auto');
  assert.equal(s.epochs, 50);
  assert.equal(s.batchSize, 32);
  assert.equal(s.contrast, 'per-sample');
  assert.equal(s.learningRate, 0.002);
  assert.match(runFolderName('my data!', new Date('2025-01-02T03:04:05Z'), true), /^20250102-030405-my_data_-retrain$/);
});

test('queries filter mistakes, sort by issue/confidence/gap and page', () => {
  const rs = [rec('a', 0, 1, 0.9, 0.3), rec('b', 2, 2, 0.8), rec('c', 3, 4, 0.6, 0.1), rec('d', 5, 0, 0.4, -0.2, 'train')];
  const none = (): undefined => undefined;
  const mistakes = selectSorted(rs, none, { ...ANY, mistakesOnly: true }, 'issue').map((s) => s.r.id);
  assert.deepEqual(mistakes, ['a', 'c', 'd']);
  assert.deepEqual(selectSorted(rs, none, { ...ANY, mistakesOnly: true }, 'gap').map((s) => s.r.id), ['d', 'c', 'a']);
  assert.deepEqual(selectSorted(rs, none, { ...ANY, split: 'train' }, 'confidence').map((s) => s.r.id), ['d']);
  assert.deepEqual(page(mistakes, { offset: 1, limit: 1 }), ['c']);
  // relabel a -> 1 (its prediction): no longer a mistake, counted as relabeled
  const ov = (id: string): { label: number } | undefined => (id === 'a' ? { label: 1 } : undefined);
  assert.deepEqual(selectSorted(rs, ov, { ...ANY, relabeled: true }, 'issue').map((s) => s.r.id), ['a']);
  assert.ok(!selectSorted(rs, ov, { ...ANY, mistakesOnly: true }, 'issue').some((s) => s.r.id === 'a'));
  const m = confusion(rs, ov, 7);
  assert.equal(m[1][1], 1);
  assert.equal(m[0][1], 0);
});

test('compareRuns reports accuracy before/after and changed predictions', () => {
  const before = [rec('a', 0, 1, 0.9), rec('b', 2, 2, 0.8), rec('c', 3, 3, 0.6)];
  const after = [rec('a', 0, 0, 0.9), rec('b', 2, 2, 0.8), rec('c', 3, 4, 0.6)];
  const c = compareRuns(before, after, null);
  assert.equal(c.accBefore, 2 / 3);
  assert.equal(c.accAfter, 2 / 3);
  assert.deepEqual(c.changedIds.map((x) => x.id), ['a', 'c']);
  assert.equal(c.fixed, 1);
  assert.equal(c.broken, 1);
});

test('JsonOverlay relabels, undoes in order, keeps an audit log and persists', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-ov-'));
  const file = path.join(dir, 'o.json');
  const o = new JsonOverlay(file);
  o.apply('a', 'relabel', 3);
  o.apply('a', 'relabel', 4);
  o.apply('b', 'exclude', null);
  assert.equal(o.get('a')?.label, 4);
  assert.equal(o.undo(), 'b');
  assert.equal(o.get('b')?.excluded, undefined);
  assert.equal(o.undo(), 'a');
  assert.equal(o.get('a')?.label, 3);
  const reloaded = new JsonOverlay(file);
  assert.equal(reloaded.get('a')?.label, 3);
  assert.deepEqual(reloaded.history('a').map((h) => h.action), ['relabel', 'relabel', 'undo']);
  assert.equal(reloaded.undo(), 'a');
  assert.equal(reloaded.get('a'), undefined);
  assert.equal(reloaded.undo(), undefined);
  fs.rmSync(dir, { recursive: true });
});

test('corrections CSV quotes fields and names classes', () => {
  const csv = correctionsCsv({ root: '/d', classes: ['surprise', 'fear'], rows: [{ id: 'x,1', path: 'p.png', label: 0, newLabel: 1, excluded: false, unsure: true }] });
  assert.equal(csv.split('\n')[1], '"x,1",p.png,0,surprise,1,fear,0,1');
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
