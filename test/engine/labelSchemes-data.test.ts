// The FER+ label schemes on the real FERPlus votes (skips visibly without ../shared/data; KEFER_SHARED_DATA
// overrides): the reader keeps every sample's votes, every majority-kept image has a valid distribution
// under the soft schemes whose top class is its label, and ?keep= gives the paper's larger training sets.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../src/engine/data/index.js';
import { argmax, voteDistribution } from '../../src/engine/data/ferplusVotes.js';
import { TrainTargets } from '../../src/engine/train/labelSchemes.js';

const repo = path.resolve(__dirname, '../..');
const shared = process.env.KEFER_SHARED_DATA ?? path.resolve(repo, '../shared/data');
const ferplus = path.join(shared, 'ferplus');
const skip = existsSync(path.join(ferplus, 'data', 'FER2013Train', 'label.csv')) ? false : `FERPlus not found at ${ferplus} (set KEFER_SHARED_DATA)`;

test('ferplus reader keeps the votes; under every scheme a majority image trains on a distribution topped by its label', { skip }, async (t) => {
  const ds = await loadDataset(`ferplus:${ferplus}#train?classes=7`);
  assert.equal(ds.samples.length, 24925);
  // label.csv: fer0000001.png,"(0, 0, 48, 48)",6,0,1,1,0,0,0,0,2,0 (neutral 6, surprise 1, sadness 1, unknown 2)
  const s = ds.samples.find((x) => x.id === 'FER2013Train/fer0000001.png')!;
  assert.deepEqual(s.votes, [1, 0, 0, 0, 1, 0, 6, 0, 2, 0]);
  assert.equal(ds.classes[s.label], 'neutral');
  let mixed = 0;
  for (const x of ds.samples) {
    for (const scheme of ['crossentropy', 'multitarget'] as const) {
      const d = voteDistribution(x.votes!, scheme, 7);
      assert.ok(d && argmax(d) === x.label, `${x.id} ${scheme}`);
      if (scheme === 'crossentropy' && d.filter((p) => p > 0).length > 1) mixed++;
    }
  }
  const targets = new TrainTargets(ds, 'crossentropy', 1);
  assert.equal(targets.withVotes, ds.samples.length);
  assert.equal(targets.relabeled, 0);
  t.diagnostic(`${mixed} of ${ds.samples.length} train images have more than one class in their crossentropy target`);
  assert.ok(mixed > 5000 && mixed < ds.samples.length);
});

test('?keep=crossentropy|multitarget keeps the paper schemes\' larger training sets; bad values are named', { skip }, async () => {
  const ce = await loadDataset(`ferplus:${ferplus}#train?keep=crossentropy`);
  const mt = await loadDataset(`ferplus:${ferplus}#train?keep=multitarget`);
  assert.equal(ce.samples.length, 27947);
  assert.equal(mt.samples.length, 27667);
  const byId = new Map(ce.samples.map((x) => [x.id, x]));
  const maj = await loadDataset(`ferplus:${ferplus}#train`);
  for (const x of maj.samples) assert.equal(byId.get(x.id)?.label, x.label, x.id);
  await assert.rejects(loadDataset(`ferplus:${ferplus}#train?keep=plurality`), /keep=plurality: expected one of majority, crossentropy, multitarget/);
});
