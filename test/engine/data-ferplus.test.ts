// FERPlus counts on the real shared data: the FER+ majority rule must reproduce the documented numbers.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { countsByClass, loadDataset } from '../../src/engine/data/index.js';

const repo = path.resolve(__dirname, '../..'); // test files run as CommonJS through tsx
const shared = process.env.KEFER_SHARED_DATA ?? path.resolve(repo, '../shared/data');
const ferplus = path.join(shared, 'ferplus');
const present = existsSync(path.join(ferplus, 'data', 'FER2013Train', 'label.csv'));

// canonical order: surprise, fear, disgust, happiness, sadness, anger, neutral, contempt
const EXPECTED: Record<string, number[]> = {
  train: [3136, 536, 116, 7284, 3022, 2098, 8733, 120],
  valid: [411, 60, 25, 862, 348, 289, 1180, 16],
  test: [394, 86, 16, 892, 382, 269, 1083, 15],
};

test('ferplus on the real data: Train 25,045 / Valid 3,191 / Test 3,137 (3,122 without contempt)', async (t) => {
  if (!present) {
    t.skip(`FERPlus not found at ${ferplus} (set KEFER_SHARED_DATA)`);
    return;
  }
  const ds = await loadDataset(`ferplus:${ferplus}`);
  const c = countsByClass(ds);
  assert.deepEqual(c.splits, EXPECTED);
  assert.equal(ds.samples.filter((s) => s.split === 'train').length, 25045);
  assert.equal(ds.samples.filter((s) => s.split === 'valid').length, 3191);
  assert.equal(ds.samples.filter((s) => s.split === 'test').length, 3137);
  const test7 = await loadDataset(`ferplus:${ferplus}#test?classes=7`);
  assert.equal(test7.samples.length, 3122);
  assert.equal(test7.classes.length, 7);
  assert.equal(new Set(ds.samples.map((s) => s.id)).size, ds.samples.length);
});
