// The kefer CLI as a user runs it: one clear error line and a non-zero exit for bad input,
// and a train -> relabel -> retrain round trip through the workspace store.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSyntheticDataset } from '../../src/engine/data/index.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';

const BIN = path.resolve(__dirname, '../../bin/kefer.js');
let work: string;
let data: string;

function kefer(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'kefer-cli-'));
  data = path.join(work, 'faces');
  await generateSyntheticDataset(data, { perClass: 4, classes: 7, seed: 9, size: 16 });
});

test('missing --data is one clear line and exit code 1', () => {
  const r = kefer('train', '--out', 'x');
  assert.equal(r.code, 1);
  assert.match(r.err, /^kefer: --data SPEC is required/);
  assert.equal(r.err.trim().split('\n').length, 1);
});

test('a missing FERPlus label file is named in the error', async () => {
  await mkdir(path.join(work, 'fp/data/FER2013Train'), { recursive: true });
  const r = kefer('train', '--data', `ferplus:${path.join(work, 'fp')}#train`, '--out', 'x', '--backend', 'wasm');
  assert.equal(r.code, 1);
  assert.match(r.err, /FER2013Train[/\\]label\.csv/);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
});

test('model selection on the test split is refused', () => {
  const r = kefer('train', '--data', `synthetic:${data}#train`, '--val', `synthetic:${data}#test`, '--out', 'x', '--backend', 'wasm');
  assert.equal(r.code, 1);
  assert.match(r.err, /never uses the test split/);
});

test('eval of a directory that is not a checkpoint names config.json', () => {
  const r = kefer('eval', '--checkpoint', path.join(work, 'nothing'), '--data', `synthetic:${data}#test`, '--backend', 'wasm');
  assert.equal(r.code, 1);
  assert.match(r.err, /nothing[/\\]config\.json: not found/);
});

test('bad flag values are rejected with the flag named', () => {
  const r = kefer('train', '--data', `synthetic:${data}#train`, '--out', 'x', '--contrast', 'sideways');
  assert.equal(r.code, 1);
  assert.match(r.err, /--contrast: expected one of pairwise, per-sample, got 'sideways'/);
});

test('int8 flags: export-onnx --int8 needs --calibrate; eval --precision int8 refuses --runtime tfjs (onednn and onnx only)', () => {
  const a = kefer('export-onnx', '--checkpoint', 'ck', '--int8');
  assert.equal(a.code, 1);
  assert.match(a.err, /^kefer: --int8 needs --calibrate SPEC/);
  const b = kefer('eval', '--checkpoint', 'ck', '--data', `synthetic:${data}#test`, '--precision', 'int8', '--runtime', 'tfjs');
  assert.equal(b.code, 1);
  assert.match(b.err, /--precision int8 runs on onednn or onnx: drop --runtime tfjs/);
  const c = kefer('eval', '--checkpoint', 'ck', '--data', `synthetic:${data}#test`, '--precision', 'int4');
  assert.equal(c.code, 1);
  assert.match(c.err, /--precision: expected one of fp32, int8, got 'int4'/);
});

test('train -> relabel -> retrain: the overlay reaches training, runs and records land in the store', async () => {
  const store = path.join(work, '.kefer/kefer.db');
  const common = ['--data', `synthetic:${data}#train`, '--backbone', 'compact', '--input-size', '16', '--epochs', '1', '--batch', '8', '--backend', 'wasm', '--store', store, '--diagnose', 'all', '--text', 'standin'];
  const first = kefer('train', ...common, '--out', path.join(work, 'runs/r1'), '--events', 'json');
  assert.equal(first.code, 0, first.err);
  const events = first.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
  const start = events.find((e) => e.type === 'start')!;
  // --runtime auto on a CPU: the encoder trains on oneDNN when its addon is built, else on onnxruntime
  // (saying why not oneDNN); the head on tfjs wasm; both are reported.
  const backend = start.backend as { name: string; detail: string };
  if (loadOnednn().addon) {
    assert.equal(backend.name, 'onednn');
    assert.match(backend.detail, /^encoder on oneDNN \d+\.\d+\.\d+ \(convolutions auto: .*tfjs wasm/);
  } else {
    assert.equal(backend.name, 'onnxruntime');
    assert.match(backend.detail, /onnxruntime-node CPU.*tfjs wasm.*onednn not used: /);
  }
  assert.equal(start.textKind, 'standin');
  assert.equal(start.synthetic, true);
  assert.ok(events.some((e) => e.type === 'log' && /registered run r1 with \d+ per-sample records/.test(String(e.message))));
  const records = (await readFile(path.join(work, 'runs/r1/records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(records.length, 28 + 7, 'train + validation records');
  const r0 = records.find((r) => r.split === 'train');
  const target = r0.label === 0 ? 'fear' : 'surprise';
  const rel = kefer('relabel', r0.id, target, '--data', `synthetic:${data}#train`, '--store', store);
  assert.equal(rel.code, 0, rel.err);
  const second = kefer('train', ...common, '--out', path.join(work, 'runs/r2'), '--parent', 'r1');
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /label overlay from .*: 1 relabeled, 0 excluded/);
  assert.match(second.out, /\[STAND-IN, not CLIP\]/);
  assert.match(second.out, /\[SYNTHETIC faces\]/);
  const records2 = (await readFile(path.join(work, 'runs/r2/records.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const again = records2.find((r) => r.id === r0.id);
  assert.equal(again.label, target === 'fear' ? 1 : 0, 'the retrain scored the sample against its corrected label');
  await writeFile(path.join(work, 'done'), '');
});
