// The PNG fast path (pngFastPath.ts): how close it is to sharp on real FERPlus images and on generated RGB
// PNGs, which images it declines (sharp then decodes them), and that errors still name the file. The
// enlargement compiled into the oneDNN addon equals the JS loop bit for bit.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage, decodeWithSharp } from '../../src/engine/data/decode.js';
import { loadDataset } from '../../src/engine/data/index.js';
import { canResizeLikeVips, compiledResize, decodeSimplePng, resizeLikeVips, type Pixels8 } from '../../src/engine/data/pngFastPath.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { tempDir, writeTruncated } from './data-fixtures.js';
import { FERPLUS, HAVE_FERPLUS } from './onnx-helpers.js';

interface Closeness { values: number; differ: number; maxDiff: number }

async function compare(ds: Dataset, size: number): Promise<Closeness> {
  const c: Closeness = { values: 0, differ: 0, maxDiff: 0 };
  for (const s of ds.samples) {
    const fast = await decodeImage(ds, s, size);
    const ref = await decodeWithSharp(ds, s, size);
    assert.equal(fast.length, ref.length);
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(fast[i] - ref[i]);
      if (d) c.differ++;
      if (d > c.maxDiff) c.maxDiff = d;
    }
    c.values += ref.length;
  }
  return c;
}

test('fast path equals sharp to within one grey level on real FERPlus images (48 -> 112 and 48 -> 64)', { skip: HAVE_FERPLUS ? false : `FERPlus not found at ${FERPLUS} (set KEFER_SHARED_DATA)` }, async () => {
  const all = await loadDataset(`ferplus:${FERPLUS}#test`);
  const ds = { ...all, samples: all.samples.filter((_, i) => i % 25 === 0) }; // ~125 images spread over the split
  const first = await readFile(path.join(ds.root, ds.samples[0].path));
  assert.ok(decodeSimplePng(first), 'FERPlus PNGs are plain 8-bit grey: the fast path must take them');
  for (const size of [112, 64]) {
    const c = await compare(ds, size);
    assert.ok(c.maxDiff <= 1, `size ${size}: max difference ${c.maxDiff} grey levels`);
    // Measured 0.65% at 112; a wrong sampling position or rounding rule gives 6% or more.
    assert.ok(c.differ / c.values < 0.015, `size ${size}: ${c.differ} of ${c.values} values differ`);
  }
});

test('fast path on generated RGB PNGs (noise and edges) and on identity size', async () => {
  const root = await tempDir('kefer-fastpng-');
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 255;
  const samples = [];
  for (const [w, h] of [[40, 40], [37, 53], [64, 64]] as const) {
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i / 3) % w < w / 2 ? rnd() : 255 - (i % 3) * 100;
    const file = `rgb${w}x${h}.png`;
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(root, file));
    samples.push({ id: file, path: file, label: 0, split: 'train' });
  }
  const ds: Dataset = { format: 'folder', root, classes: ['surprise', 'neutral'], samples };
  const c = await compare(ds, 64); // 40x40 and 37x53 enlarge, 64x64 is the identity
  assert.ok(c.maxDiff <= 1, `max difference ${c.maxDiff}`);
  assert.ok(c.differ / c.values < 0.015, `${c.differ} of ${c.values} values differ`);
  const id = await decodeImage(ds, samples[2], 64);
  const raw = await sharp(path.join(root, samples[2].path)).raw().toBuffer();
  assert.deepEqual(Buffer.from(id), raw, 'identity size returns the pixels unchanged');
});

test('fast path declines what it does not reproduce; sharp decodes those', async () => {
  const root = await tempDir('kefer-fastpng-');
  const grey = Buffer.alloc(30 * 30, 90);
  const cases: [string, sharp.Sharp][] = [
    ['alpha.png', sharp(Buffer.from(Array.from({ length: 30 * 30 * 2 }, (_, i) => (i % 2 ? 255 : 200))), { raw: { width: 30, height: 30, channels: 2 } }).png()],
    ['sixteen.png', sharp(grey, { raw: { width: 30, height: 30, channels: 1 } }).png().toColourspace('grey16')],
    ['palette.png', sharp(Buffer.alloc(30 * 30 * 3, 120), { raw: { width: 30, height: 30, channels: 3 } }).png({ palette: true })],
  ];
  for (const [file, img] of cases) {
    await img.toFile(path.join(root, file));
    assert.equal(decodeSimplePng(await readFile(path.join(root, file))), null, `${file} must go to sharp`);
  }
  assert.equal(decodeSimplePng(Buffer.from('not a png at all')), null);
  assert.equal(canResizeLikeVips(120, 120, 112), false, 'shrinking is libvips reduce, not this path');
  assert.equal(canResizeLikeVips(48, 120, 112), false, 'mixed enlarge/shrink goes to sharp');
  assert.throws(() => resizeLikeVips({ width: 120, height: 120, channels: 1, data: new Uint8Array(14400) }, 112), /enlarges only/);
  const ds: Dataset = { format: 'folder', root, classes: ['surprise'], samples: cases.map(([f]) => ({ id: f, path: f, label: 0, split: 'train' })) };
  for (const s of ds.samples) {
    const out = await decodeImage(ds, s, 16);
    assert.equal(out.length, 16 * 16 * 3);
    const want = s.id === 'alpha.png' ? 200 : s.id === 'sixteen.png' ? 90 : 120;
    assert.ok(out.every((v) => Math.abs(v - want) <= 1), `${s.id}: expected ${want} everywhere, got ${out[0]}`);
  }
});

test('a truncated or corrupt PNG still fails with an error naming the file', async () => {
  const root = await tempDir('kefer-fastpng-');
  await writeTruncated(path.join(root, 'cut.png'));
  const good = await sharp(Buffer.alloc(20 * 20, 60), { raw: { width: 20, height: 20, channels: 1 } }).png().toBuffer();
  const bad = Buffer.from(good);
  bad.fill(0x55, 40, bad.length - 20); // compressed data destroyed, header intact
  await writeFile(path.join(root, 'corrupt.png'), bad);
  const ds: Dataset = { format: 'folder', root, classes: ['surprise'], samples: ['cut.png', 'corrupt.png'].map((f) => ({ id: f, path: f, label: 0, split: 'train' })) };
  for (const s of ds.samples) {
    await assert.rejects(decodeImage(ds, s, 32), (e: unknown) => e instanceof Error && e.message.includes(path.join(root, s.path)), s.path);
  }
});

test('in-memory pixels (FER2013 csv rows) take the same resize as their PNG would', async () => {
  const w = 48;
  const data = Uint8Array.from({ length: w * w }, (_, i) => (i * 37 + (i >> 5) * 11) & 255);
  const root = await tempDir('kefer-fastpng-');
  await sharp(Buffer.from(data), { raw: { width: w, height: w, channels: 1 } }).png().toFile(path.join(root, 'a.png'));
  const ds: Dataset = {
    format: 'fer2013', root, classes: ['surprise'],
    samples: [
      { id: 'csv', path: 'fer2013.csv', label: 0, split: 'train', pixels: { width: w, height: w, channels: 1, data } },
      { id: 'png', path: 'a.png', label: 0, split: 'train' },
    ],
  };
  assert.deepEqual(await decodeImage(ds, ds.samples[0], 112), await decodeImage(ds, ds.samples[1], 112));
});

test('normaliseInto (table lookup) gives the float32 values of (byte / 255 - mean) / std for every byte', async () => {
  const { normaliseInto } = await import('../../src/engine/data/augment.js');
  const norm = { mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number] };
  const img = Uint8Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 7) % 256); // every byte on every channel
  const out = new Float32Array(img.length + 5).fill(-9);
  normaliseInto(img, 16, norm, out, 5);
  assert.deepEqual(Array.from(out.subarray(0, 5)), [-9, -9, -9, -9, -9], 'writes start at the offset');
  for (let i = 0; i < img.length; i++) assert.equal(out[5 + i], Math.fround((img[i] / 255 - norm.mean[i % 3]) / norm.std[i % 3]), `value ${i}`);
  const other = { mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number] };
  normaliseInto(img, 16, other, out, 0);
  assert.equal(out[0], (img[0] / 255 - 0.5) / 0.5, 'a second normalisation gets its own table');
});

test('the compiled enlargement (the oneDNN addon) equals the JS loop bit for bit, grey and RGB, over sizes; a plan that does not fit throws', async (t) => {
  const resize = compiledResize();
  if (!resize) return t.skip(`the oneDNN addon cannot load here: ${loadOnednn().why}`);
  let seed = 7;
  const byte = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) >>> 24);
  const images: Pixels8[] = [];
  for (const [width, height, channels] of [[48, 48, 1], [48, 48, 3], [37, 53, 1], [20, 31, 3], [1, 1, 1]] as const) {
    images.push({ width, height, channels, data: Uint8Array.from({ length: width * height * channels }, byte) });
  }
  if (HAVE_FERPLUS) {
    const all = await loadDataset(`ferplus:${FERPLUS}#test`);
    for (const s of all.samples.filter((_, i) => i % 100 === 0)) images.push(decodeSimplePng(await readFile(path.join(all.root, s.path)))!);
  }
  let compared = 0;
  for (const img of images) {
    for (const size of [56, 64, 112, 224]) {
      if (!canResizeLikeVips(img.width, img.height, size) || img.width === size) continue;
      const js = resizeLikeVips(img, size, { native: false });
      const compiled = resizeLikeVips(img, size);
      assert.equal(compiled.filter((v, i) => v !== js[i]).length, 0, `${img.width}x${img.height}x${img.channels} -> ${size}`);
      compared++;
    }
  }
  t.diagnostic(`${compared} image/size pairs equal (${HAVE_FERPLUS ? 'generated and FERPlus' : 'generated only: FERPlus absent'})`);
  assert.ok(compared >= 16);
  const i32 = (n: number, v = 0) => new Int32Array(n).fill(v);
  const src = new Uint8Array(16);
  const call = (xlo: Int32Array, rows = i32(8)) => resize(src, 4, 4, 1, 8, xlo, i32(8), i32(8), i32(8), i32(32), rows, new Uint8Array(8 * 8 * 3));
  assert.doesNotThrow(() => call(i32(8, 3)));
  assert.throws(() => call(i32(8, 4)), /column index is outside the source/);
  assert.throws(() => call(i32(8), i32(8, 1)), /row's weights are missing/);
  assert.throws(() => resize(src, 4, 5, 1, 8, i32(8), i32(8), i32(8), i32(8), i32(32), i32(8), new Uint8Array(8 * 8 * 3)), /smaller than its shape/);
});
