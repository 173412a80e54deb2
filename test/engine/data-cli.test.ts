// `kefer data check` as programs and people use it (grouped report, --json, exit codes), and training's
// pre-flight: a dataset with problems is refused before the first step with the same report, or
// --skip-bad trains without the bad samples and records them in run.json and events.jsonl.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { before, test } from 'node:test';
import { run as runDataCli } from '../../src/engine/cli/data.js';
import { generateSyntheticDataset } from '../../src/engine/data/index.js';
import { tempDir, writeGrey, writeText, writeTruncated } from './data-fixtures.js';

const BIN = path.resolve(__dirname, '../../bin/kefer.js'); // test files run as CommonJS through tsx

async function dataCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  // --json streams its report through the writer given; the text goes through console.log
  let streamed = '';
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await runDataCli(args, (s) => void (streamed += s));
    return { code, out: streamed ? `${streamed}${out.join('\n')}` : out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

function kefer(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let listRoot = '';
before(async () => {
  // A list-file dataset with one problem of each of three kinds (two missing files).
  listRoot = await tempDir();
  await writeGrey(path.join(listRoot, 'imgs', 'a.png'));
  await writeGrey(path.join(listRoot, 'imgs', 'b.png'));
  await writeTruncated(path.join(listRoot, 'imgs', 'cut.png'));
  await writeText(path.join(listRoot, 'train.txt'), ['imgs/a.png 3', 'imgs/gone.png 1', 'imgs/b.png 11', 'imgs/cut.png 2', 'imgs/gone2.png 4', 'imgs/b.png 6'].join('\n'));
});

test('data check: every problem in one pass, grouped by kind with counts, file:line [field]; exit 1', async () => {
  const r = await dataCli(['check', `list:${path.join(listRoot, 'train.txt')}`]);
  assert.equal(r.code, 1);
  assert.match(r.out, /layout: list — 6 lines/);
  assert.match(r.out, /4 problems \(2 missing-file, 1 unknown-code, 1 bad-image\):/);
  const lines = r.out.split('\n');
  const group = lines.indexOf('  missing-file (2)');
  assert.ok(group > 0, r.out);
  assert.match(lines[group + 1], /train\.txt:2 \[path\]: image imgs\/gone\.png not found/);
  assert.match(lines[group + 2], /train\.txt:5 \[path\]: image imgs\/gone2\.png not found/);
  assert.match(r.out, /unknown-code \(1\)\n\s+\S*train\.txt:3 \[label\]: label '11' is not a canonical code/);
  assert.match(r.out, /bad-image \(1\)\n\s+\S*cut\.png: truncated or corrupt png/);
  assert.match(r.out, /2 usable samples/, 'the truncated image is not counted as usable');
});

test('data check --json: machine-readable problems and counts; exit codes 0 / 1 / 2 / 3', async () => {
  const r = await dataCli(['check', `list:${path.join(listRoot, 'train.txt')}`, '--json']);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.out) as {
    readable: boolean; exitCode: number; layout: { name: string }; byKind: Record<string, number>; problemCount: number;
    problems: { kind: string; file: string; line: number | null; field: string | null; sample: string | null }[]; dataset: { samples: number };
  };
  assert.equal(j.readable, true);
  assert.equal(j.exitCode, 1);
  assert.equal(j.layout.name, 'list');
  assert.deepEqual(j.byKind, { 'missing-file': 2, 'unknown-code': 1, 'bad-image': 1 });
  assert.equal(j.problemCount, 4);
  assert.deepEqual(
    j.problems.map((p) => [p.kind, path.basename(p.file), p.line, p.field, p.sample]),
    [
      ['missing-file', 'train.txt', 2, 'path', null],
      ['unknown-code', 'train.txt', 3, 'label', null],
      ['missing-file', 'train.txt', 5, 'path', null],
      ['bad-image', 'cut.png', null, null, 'imgs/cut.png'],
    ],
  );
  assert.equal(j.dataset.samples, 2);

  const clean = await tempDir();
  await writeGrey(path.join(clean, 'happy', 'a.png'));
  assert.equal((await dataCli(['check', `folder:${clean}`])).code, 0);
  const unreadable = await dataCli(['check', `rafdb:${clean}`, '--json']);
  assert.equal(unreadable.code, 3, 'no label file: the dataset cannot be read at all');
  const u = JSON.parse(unreadable.out) as { readable: boolean; problems: { kind: string }[] };
  assert.equal(u.readable, false);
  assert.deepEqual(u.problems.map((p) => p.kind), ['bad-layout']);
  assert.equal((await dataCli(['check', `nosuchformat:${clean}`])).code, 3);
  assert.equal((await dataCli(['check'])).code, 2, 'usage error');
  assert.equal((await dataCli(['check', 'a', 'b'])).code, 2);
  assert.match((await dataCli(['check', '--help'])).out, /exit status: 0 no problems, 1 problems found.*\n.*2 usage error, 3 the dataset could not be read/);
});

test('train refuses a dataset with problems before the first step, with the same report; --skip-bad trains without them and records them', async () => {
  const work = await tempDir('kefer-preflight-');
  const data = path.join(work, 'faces');
  await generateSyntheticDataset(data, { perClass: 4, classes: 7, seed: 5, size: 16 });
  await writeTruncated(path.join(data, 'train', 'happiness', 'cut.png'));
  await writeText(path.join(data, 'train', 'sadness', 'page.png'), '<html>not found</html>');
  const refused = kefer(work, 'train', '--data', `synthetic:${data}#train`, '--out', 'r0', '--backbone', 'compact', '--input-size', '16', '--epochs', '1', '--batch', '8', '--backend', 'wasm', '--text', 'standin');
  assert.equal(refused.code, 1);
  assert.match(refused.err, /2 problems \(1 not-image, 1 bad-image\); training was not started/);
  assert.match(refused.err, /not-image \(1\)\n\s+\S*page\.png: not an image/);
  assert.match(refused.err, /bad-image \(1\)\n\s+\S*cut\.png: truncated or corrupt png/);
  assert.match(refused.err, /--skip-bad/);
  await assert.rejects(stat(path.join(work, 'r0', 'run.json')), 'nothing was written: training never started');

  const copy = path.join(work, 'faces2');
  await cp(data, copy, { recursive: true });
  const r = kefer(work, 'train', '--data', `synthetic:${copy}#train`, '--out', 'r1', '--skip-bad', '--backbone', 'compact', '--input-size', '16', '--epochs', '1', '--batch', '8', '--backend', 'wasm', '--text', 'standin', '--diagnose', 'none', '--val', 'none');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out + r.err, /--skip-bad: training without 2 problem/);
  assert.match(r.out + r.err, /train\/happiness\/cut\.png .*bad-image/);
  const run = JSON.parse(await readFile(path.join(work, 'r1', 'run.json'), 'utf8')) as { dataset: { n: number }; dataCheck: { skipBad: boolean; problems: number; byKind: Record<string, number>; dropped: { kind: string; sample: string }[] } };
  assert.equal(run.dataCheck.skipBad, true);
  assert.deepEqual(run.dataCheck.byKind, { 'not-image': 1, 'bad-image': 1 });
  assert.deepEqual(run.dataCheck.dropped.map((d) => [d.kind, d.sample]).sort(), [['bad-image', 'train/happiness/cut.png'], ['not-image', 'train/sadness/page.png']]);
  assert.equal(run.dataset.n, 28, 'the 28 good training images, without the two bad ones');
  const events = (await readFile(path.join(work, 'r1', 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; level?: string; message?: string });
  assert.ok(events.some((e) => e.type === 'log' && e.level === 'warn' && /--skip-bad: trained without 2 problem/.test(e.message ?? '')), 'the run records the drop in its events');
});

test('train checks the validation split too: refused with its report under --val, recorded under dataCheck.val with --skip-bad; an unreadable dataset exits 3', async () => {
  const work = await tempDir('kefer-preflight-val-');
  const data = path.join(work, 'faces');
  await generateSyntheticDataset(data, { perClass: 4, classes: 7, seed: 6, size: 16 });
  await writeTruncated(path.join(data, 'valid', 'anger', 'cut.png'));
  const args = ['--backbone', 'compact', '--input-size', '16', '--epochs', '1', '--batch', '8', '--backend', 'wasm', '--text', 'standin', '--diagnose', 'none'];
  const refused = kefer(work, 'train', '--data', `synthetic:${data}#train`, '--out', 'r0', ...args);
  assert.equal(refused.code, 1, refused.err);
  assert.match(refused.err, /--val \S*#valid: 1 problem \(1 bad-image\); training was not started/, 'the own validation split is checked, not swapped for a hold-out');
  assert.match(refused.err, /valid\/anger\/cut\.png: truncated or corrupt png/);
  await assert.rejects(stat(path.join(work, 'r0', 'run.json')), 'nothing was written');

  const r = kefer(work, 'train', '--data', `synthetic:${data}#train`, '--out', 'r1', '--skip-bad', ...args);
  assert.equal(r.code, 0, r.err);
  const run = JSON.parse(await readFile(path.join(work, 'r1', 'run.json'), 'utf8')) as { dataCheck: { problems: number; val?: { spec: string; dropped: { kind: string; sample: string }[] } } };
  assert.equal(run.dataCheck.problems, 0, 'the training split itself is clean');
  assert.match(run.dataCheck.val?.spec ?? '', /#valid$/);
  assert.deepEqual(run.dataCheck.val?.dropped.map((d) => [d.kind, d.sample]), [['bad-image', 'valid/anger/cut.png']]);
  const events = (await readFile(path.join(work, 'r1', 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; level?: string; message?: string });
  assert.ok(events.some((e) => e.level === 'warn' && /validated without 1 problem .*dataCheck\.val\.dropped/.test(e.message ?? '')));

  const unreadable = kefer(work, 'train', '--data', `list:${path.join(work, 'no-such-list.txt')}`, '--out', 'r2', ...args);
  assert.equal(unreadable.code, 3, unreadable.err);
  assert.match(unreadable.err, /could not be read/);
});
