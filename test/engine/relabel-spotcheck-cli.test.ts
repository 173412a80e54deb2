// `kefer relabel --confirm` and `--spot-check`: headless spot-check decisions land in the store as the
// panel's do, and count as reviews (store/spotCheck.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../src/engine/cli/relabel.js';
import { importRecords, labelLog, openStore, registerRun, spotCheckReviews, upsertDataset } from '../../src/engine/store/index.js';
import { fakeRecords, tempDirsRemovedAfter, tinyDataset } from './store-helpers.js';

const dir = tempDirsRemovedAfter('kefer-relabel-spot-');

/** Runs `kefer relabel ARGS` in this process; its exit code and what it printed. */
async function relabelCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    let code: number;
    try {
      code = await run(args);
    } catch (e) {
      err.push((e as Error).message);
      code = 1;
    }
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('kefer relabel --confirm / --spot-check record spot-check decisions that count as reviews', async () => {
  const d = dir();
  const storePath = join(d, 'kefer.db');
  const dataset = tinyDataset(12, join(d, 'ds'), 4, 7);
  const store = openStore(storePath);
  const ds = upsertDataset(store, dataset);
  registerRun(store, { id: 'r', dataset: ds.id });
  importRecords(store, 'r', fakeRecords(dataset, 2));
  store.close();
  const [a, b, c, e] = dataset.samples;
  const other = (s: typeof a) => String((s.label + 1) % 7);

  const confirmed = await relabelCli('--confirm', a.id, '--spot-check', '--store', storePath);
  assert.equal(confirmed.code, 0, confirmed.err);
  assert.match(confirmed.out, new RegExp(`^#\\d+ ${a.id}: confirm off -> on \\(spot-check\\)$`));
  assert.equal((await relabelCli(b.id, other(b), '--spot-check', '--store', storePath)).code, 0);
  assert.equal((await relabelCli('--exclude', c.id, '--spot-check', '--store', storePath)).code, 0);
  // without --spot-check: a confirmation, not a review
  const plain = await relabelCli('--confirm', e.id, '--store', storePath);
  assert.match(plain.out, new RegExp(`${e.id}: confirm off -> on$`));
  // a repeated confirmation is recorded again; --off clears it
  assert.match((await relabelCli('--confirm', a.id, '--spot-check', '--store', storePath)).out, /confirm on -> on \(spot-check\)/);
  assert.match((await relabelCli('--confirm', e.id, '--off', '--store', storePath)).out, /confirm on -> off$/);
  // refused: two modes, --spot-check on undo
  assert.notEqual((await relabelCli('--confirm', a.id, '--exclude', '--store', storePath)).code, 0);
  const undoSpot = await relabelCli('--undo', '--spot-check', '--store', storePath);
  assert.notEqual(undoSpot.code, 0);
  assert.match(undoSpot.err, /--spot-check marks a decision/);

  const s = openStore(storePath);
  try {
    const reviews = Object.fromEntries(spotCheckReviews(s, 'r').map((x) => [x.id, x.issue]));
    assert.deepEqual(reviews, { [a.id]: false, [b.id]: true, [c.id]: true });
    assert.deepEqual(labelLog(s).map((x) => [x.sampleId, x.kind, x.spotCheck]).reverse(), [
      [a.id, 'confirm', true], [b.id, 'label', true], [c.id, 'exclude', true], [e.id, 'confirm', false], [a.id, 'confirm', true], [e.id, 'confirm', false],
    ]);
  } finally {
    s.close();
  }
});
