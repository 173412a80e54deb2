import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { createImageCache, decodeBatch, decodeImage } from '../../src/engine/data/decode.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { tempDir, writeGrey } from './data-fixtures.js';

async function fixture(): Promise<Dataset> {
  const root = await tempDir();
  await writeGrey(path.join(root, 'grey.png'), 77, 48, 48);
  // RGB left half red, right half blue: checks channel order and that resizing keeps left/right.
  const w = 40;
  const buf = Buffer.alloc(w * w * 3);
  for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) buf.set(x < w / 2 ? [250, 0, 0] : [0, 0, 250], (y * w + x) * 3);
  await sharp(buf, { raw: { width: w, height: w, channels: 3 } }).png().toFile(path.join(root, 'rgb.png'));
  // Grey + alpha must come out as grey RGB too.
  const ga = Buffer.alloc(10 * 10 * 2);
  for (let i = 0; i < 100; i++) ga.set([150, 255], i * 2); // opaque: with partial alpha, resizing premultiplies
  await sharp(ga, { raw: { width: 10, height: 10, channels: 2 } }).png().toFile(path.join(root, 'ga.png'));
  return {
    format: 'folder', root, classes: ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'],
    samples: [
      { id: 'grey', path: 'grey.png', label: 0, split: 'train' },
      { id: 'rgb', path: 'rgb.png', label: 1, split: 'train' },
      { id: 'ga', path: 'ga.png', label: 2, split: 'train' },
      { id: 'gone', path: 'missing.png', label: 3, split: 'train' },
    ],
  };
}

test('decodeImage: size*size*3 RGB, grey repeated, channel order kept through resize', async () => {
  const ds = await fixture();
  const g = await decodeImage(ds, ds.samples[0], 112);
  assert.equal(g.length, 112 * 112 * 3);
  assert.ok(g.every((v) => v === 77));
  const c = await decodeImage(ds, ds.samples[1], 20);
  const at = (x: number, y: number) => Array.from(c.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3));
  assert.deepEqual(at(2, 10), [250, 0, 0]);
  assert.deepEqual(at(17, 10), [0, 0, 250]);
  // Bilinear: the boundary pixels blend (nearest-neighbour would give pure colours everywhere).
  const mid = at(9, 10);
  assert.ok(mid[0] > 0 && mid[2] > 0 || at(10, 10)[0] > 0 && at(10, 10)[2] > 0, `expected blending at the edge, got ${mid} ${at(10, 10)}`);
  const ga = await decodeImage(ds, ds.samples[2], 8);
  assert.ok(ga.every((v) => v === 150));
});

test('decodeImage: errors name the file', async () => {
  const ds = await fixture();
  await assert.rejects(decodeImage(ds, ds.samples[3], 8), (e: unknown) => e instanceof Error && e.message.includes(path.join(ds.root, 'missing.png')));
});

test('decodeBatch and the image cache agree with decodeImage; cache decodes once', async () => {
  const ds = await fixture();
  const batch = await decodeBatch(ds, [1, 0, 2], 16, { concurrency: 2 });
  assert.equal(batch.length, 3 * 16 * 16 * 3);
  assert.deepEqual(batch.subarray(0, 768), await decodeImage(ds, ds.samples[1], 16));
  assert.deepEqual(batch.subarray(768, 1536), await decodeImage(ds, ds.samples[0], 16));
  const cache = createImageCache(ds, 16);
  const a = await cache.get(1);
  const b = await cache.get(1);
  assert.equal(a, b, 'second get returns the cached array');
  assert.equal(cache.bytes, 768);
  assert.deepEqual(await cache.getBatch([1, 0, 2]), batch);
  await assert.rejects(cache.get(3), /missing\.png/);
  assert.equal(cache.bytes, 3 * 768, 'failed decodes are not cached');
  await assert.rejects(cache.get(99), /out of range/);
  const capped = createImageCache(ds, 16, { maxBytes: 768 });
  await capped.getBatch([0, 1, 2]);
  assert.equal(capped.bytes, 768);
});
