// FER2013's original labels joined with the FER+ votes on the real shared data (the real-noise
// benchmark's ground truth): counts documented in shared/data/PROVENANCE.md, and FER+ majorities that
// agree with the project's own ferplus reader image by image.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../src/engine/data/index.js';
import { loadFer2013WithFerplusTruth } from '../../src/engine/issues/index.js';

const repo = path.resolve(__dirname, '../..');
const shared = process.env.KEFER_SHARED_DATA ?? path.resolve(repo, '../shared/data');
const ferplus = path.join(shared, 'ferplus');
const present = existsSync(path.join(ferplus, 'fer2013_original_labels.csv')) && existsSync(path.join(ferplus, 'data', 'FER2013Train', 'label.csv'));

test('FER2013 train with original labels: 28,558 images, PROVENANCE per-class counts, FER+ majorities equal the ferplus reader', async (t) => {
  if (!present) {
    t.skip(`FERPlus / fer2013_original_labels.csv not found at ${ferplus} (set KEFER_SHARED_DATA)`);
    return;
  }
  const { dataset, truth } = await loadFer2013WithFerplusTruth(ferplus, 'train');
  assert.equal(dataset.samples.length, 28558);
  // PROVENANCE: angry 3964, disgust 435, fear 4076, happy 7187, neutral 4930, sad 4806, surprise 3160.
  const count = (name: string) => dataset.samples.filter((s) => dataset.classes[s.label] === name).length;
  assert.deepEqual(['anger', 'disgust', 'fear', 'happiness', 'neutral', 'sadness', 'surprise'].map(count), [3964, 435, 4076, 7187, 4930, 4806, 3160]);
  // The 8-class ferplus reader keeps exactly the images with an emotion majority, labelled by it.
  const reader = await loadDataset(`ferplus:${ferplus}#train?classes=8`);
  const byId = new Map(reader.samples.map((s) => [s.id, reader.classes[s.label]]));
  const withEmotion = dataset.samples.flatMap((s, i) => (truth[i].verdict === 'agree' || truth[i].verdict === 'disagree' ? [i] : []));
  assert.equal(withEmotion.length, reader.samples.length);
  for (const i of withEmotion) assert.equal(truth[i].majority, byId.get(dataset.samples[i].id), dataset.samples[i].id);
  for (const [i, s] of dataset.samples.entries()) {
    const agrees = truth[i].majority === dataset.classes[s.label];
    assert.equal(truth[i].verdict === 'agree', agrees, `${s.id}: verdict ${truth[i].verdict}, majority ${truth[i].majority}, label ${dataset.classes[s.label]}`);
  }
});

test('a bad original-label row is named by file, line and field', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kefer-truth-'));
  try {
    await mkdir(path.join(dir, 'data', 'FER2013Train'), { recursive: true });
    await writeFile(path.join(dir, 'data', 'FER2013Train', 'label.csv'), 'fer0000000.png,"(0, 0, 48, 48)",0,10,0,0,0,0,0,0,0,0\n');
    await writeFile(path.join(dir, 'fer2013_original_labels.csv'), 'ferplus_image,fer2013_usage,fer2013_label\nfer0000000.png,Training,grumpy\n');
    await assert.rejects(loadFer2013WithFerplusTruth(dir), /fer2013_original_labels\.csv:2: field fer2013_label 'grumpy'/);
    await writeFile(path.join(dir, 'fer2013_original_labels.csv'), 'ferplus_image,fer2013_usage,fer2013_label\nfer0000001.png,Training,happy\n');
    await assert.rejects(loadFer2013WithFerplusTruth(dir), /fer2013_original_labels\.csv:2: image fer0000001\.png has no FER\+ votes/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
