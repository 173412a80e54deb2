// `kefer issues --spot-check N` / `--reviews FILE`: the review sheet round trip through the real CLI, the
// calibrated ranking it gives, and the errors a badly filled sheet gets.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { plantedRun } from './issues-planted.js';

const BIN = path.resolve(__dirname, '../../bin/kefer.js');
let work: string;
let recordsFile: string;
const { records, wrong } = plantedRun(7);
const wrongById = new Map(records.map((r, i) => [r.id, wrong[i]]));

function kefer(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'issues', '--records', recordsFile, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'kefer-reviews-'));
  recordsFile = path.join(work, 'records.jsonl');
  await writeFile(recordsFile, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
});

test('a spot-check sheet, filled and handed back, ranks the noisy class first and leaves the reviewed samples out', async () => {
  const sheet = kefer('--spot-check', '150', '--seed', '3');
  assert.equal(sheet.code, 0, sheet.err);
  const lines = sheet.out.trim().split('\n');
  assert.equal(lines[0], 'id,path,label,verdict');
  assert.equal(lines.length, 151);
  const ids = lines.slice(1).map((l) => l.split(',')[0]);
  assert.equal(new Set(ids).size, 150);
  assert.equal(kefer('--spot-check', '150', '--seed', '3').out, sheet.out, 'the same seed gives the same sheet');
  assert.notEqual(kefer('--spot-check', '150', '--seed', '4').out, sheet.out);

  // Fill it as a reviewer would: the planted truth; a few rows left empty (not reviewed).
  const filled = [lines[0], ...lines.slice(1).map((l, i) => (i % 10 === 9 ? l : `${l}${wrongById.get(ids[i]) ? 'issue' : 'ok'}`))].join('\n');
  const sheetFile = path.join(work, 'reviewed.csv');
  await writeFile(sheetFile, filled);
  const reviewedIds = new Set(ids.filter((_, i) => i % 10 !== 9));

  const cal = kefer('--reviews', sheetFile, '--top', '0', '--json');
  assert.equal(cal.code, 0, cal.err);
  const calRows = JSON.parse(cal.out) as { id: string; ranker: string }[];
  assert.equal(calRows.length, records.length - reviewedIds.size, 'reviewed samples leave the ranking');
  assert.ok(calRows.every((r) => !reviewedIds.has(r.id) && r.ranker === 'calibrated'));
  const sc = JSON.parse(kefer('--reviews', sheetFile, '--ranker', 'selfConfidence', '--top', '0', '--json').out) as { id: string }[];
  const hits = (rows: { id: string }[]) => rows.slice(0, 100).filter((r) => wrongById.get(r.id)).length;
  assert.ok(hits(calRows) > hits(sc) + 10, `planted errors in the top 100: calibrated ${hits(calRows)}, self-confidence ${hits(sc)}`);

  const text = kefer('--reviews', sheetFile, '--top', '5');
  assert.match(text.out, /calibrated on 135 reviews from .*reviewed\.csv \(\d+ issues\)/);
  assert.match(text.out, /estimated issue rate per class .* disgust \d+% \(\d+\/\d+ reviewed; CL \d+%\)/);
  assert.match(text.out, /the 135 reviewed samples are left out/);
});

test('a badly filled sheet is refused with the file, line and field', async () => {
  const bad = path.join(work, 'bad.csv');
  await writeFile(bad, `id,verdict\n${records[0].id},issue\n${records[1].id},maybe\n`);
  let r = kefer('--reviews', bad);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad\.csv:3: verdict 'maybe' for s0-1: expected issue or ok/);

  await writeFile(bad, `name,verdict\n${records[0].id},issue\n`);
  r = kefer('--reviews', bad);
  assert.match(r.err, /bad\.csv:1: the header needs an 'id' and a 'verdict' column, has 'name', 'verdict'/);

  await writeFile(bad, `id,verdict\n${records[0].id},issue\n${records[0].id},ok\n`);
  r = kefer('--reviews', bad);
  assert.match(r.err, /bad\.csv:3: s0-0 was already reviewed on line 2/);

  await writeFile(bad, `id,verdict\n${records.slice(0, 5).map((x) => `${x.id},ok`).join('\n')}\n`);
  r = kefer('--reviews', bad);
  assert.match(r.err, /bad\.csv: calibration needs at least 20 reviewed samples, have 5/);

  await writeFile(bad, `id,verdict\nnot-in-run.png,ok\n`);
  r = kefer('--reviews', bad);
  assert.match(r.err, /review of 'not-in-run\.png': no such sample in this run/);

  r = kefer('--ranker', 'calibrated');
  assert.equal(r.code, 1);
  assert.match(r.err, /--ranker calibrated needs --reviews FILE\.csv/);
});
