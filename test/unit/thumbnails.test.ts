// Grid thumbnails (src/extension/curation/thumbnails.ts): made from real image files with sharp,
// cached by path + mtime + size, re-made when the image changes, a clear error for an unreadable
// one; then through the curation service (page rows carry cached thumbnails) and the real worker
// process (thumbnails answer asynchronously over its JSON-lines protocol).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { buildSyntheticStore } from '../../bench/syntheticStore.js';
import { ensureBuilt } from '../../bench/ui/panel.js';
import { CurationClient } from '../../src/extension/curation/client.js';
import { CurationService, type RawThumb } from '../../src/extension/curation/service.js';
import { THUMB_SIZE, ThumbnailCache, ThumbnailDropped } from '../../src/extension/curation/thumbnails.js';
import type { GridFilter } from '../../src/webviews/protocol.js';
import { tempDir } from '../engine/store-helpers.js';
import { pngChunk } from '../engine/data-fixtures.js';
import * as zlib from 'node:zlib';

const MISTAKES: GridFilter = { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null };
let dir: string;

before(() => {
  dir = tempDir('kefer-thumbs-');
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A real image file: a w x h gradient in one colour, JPEG or PNG by extension. */
async function writeImage(file: string, w: number, h: number, rgb: [number, number, number]): Promise<void> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) raw[o + c] = Math.round(rgb[c] * (0.5 + (0.5 * x) / w));
    }
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 90 })).toFile(file);
}

const meanRed = async (file: string): Promise<number> => (await sharp(file).stats()).channels[0].mean;

test('a thumbnail is a small WebP of the image, made once and then served from the cache', async () => {
  const big = path.join(dir, 'img', 'big.jpg');
  const small = path.join(dir, 'img', 'fer.png');
  await writeImage(big, 640, 480, [200, 40, 40]);
  await writeImage(small, 48, 48, [40, 200, 40]);
  const cache = new ThumbnailCache(path.join(dir, 'cache1'));
  assert.equal(cache.cached(big), null, 'nothing cached yet');

  const t = await cache.get(big);
  assert.ok(t.startsWith(path.join(dir, 'cache1') + path.sep) && t.endsWith('.webp'), t);
  const m = await sharp(t).metadata();
  assert.equal(m.format, 'webp');
  assert.deepEqual([m.width, m.height], [THUMB_SIZE, THUMB_SIZE], 'cropped to the cell (cover), 96 px');
  assert.ok(fs.statSync(t).size < fs.statSync(big).size / 5, `thumbnail ${fs.statSync(t).size} B vs image ${fs.statSync(big).size} B`);
  assert.ok((await meanRed(t)) > 100, 'the image\'s content');

  const ts = await cache.get(small);
  assert.deepEqual([(await sharp(ts).metadata()).width, (await sharp(ts).metadata()).height], [48, 48], 'a small image is not enlarged');
  assert.equal(cache.made, 2);

  // second request: the same file, nothing made; a new cache object over the same folder finds it too
  assert.equal(await cache.get(big), t);
  assert.equal(cache.made, 2);
  assert.equal(cache.cached(big), t);
  const again = new ThumbnailCache(path.join(dir, 'cache1'));
  assert.equal(await again.get(big), t);
  assert.equal(again.made, 0);
  // requests at once for one image make it once
  const twice = new ThumbnailCache(path.join(dir, 'cache2'));
  const [a, b] = await Promise.all([twice.get(big), twice.get(big)]);
  assert.equal(a, b);
  assert.equal(twice.made, 1);
});

test('an edited image gets a new thumbnail', async () => {
  const file = path.join(dir, 'img', 'edited.jpg');
  await writeImage(file, 300, 300, [220, 30, 30]);
  const cache = new ThumbnailCache(path.join(dir, 'cache3'));
  const before = await cache.get(file);
  assert.ok((await meanRed(before)) > 100);
  await writeImage(file, 320, 300, [10, 10, 220]);
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000)); // a later mtime even on a coarse clock
  assert.equal(cache.cached(file), null, 'the old thumbnail is not the current one');
  const after = await cache.get(file);
  assert.notEqual(after, before);
  assert.ok((await meanRed(after)) < 40, 'made from the new content');
  assert.equal(cache.made, 2);
});

test('an unreadable or missing image is an error naming the file', async () => {
  const bad = path.join(dir, 'img', 'not-an-image.jpg');
  fs.writeFileSync(bad, 'this is not a JPEG');
  const truncated = path.join(dir, 'img', 'truncated.jpg');
  await writeImage(truncated, 200, 200, [100, 100, 100]);
  fs.truncateSync(truncated, 300);
  const missing = path.join(dir, 'img', 'missing.jpg');
  const cache = new ThumbnailCache(path.join(dir, 'cache4'));
  for (const f of [bad, truncated, missing]) {
    await assert.rejects(cache.get(f), (e: Error) => e.message.includes(f) && /thumbnail/.test(e.message), f);
  }
  assert.equal(cache.cached(missing), null);
  // nothing half-written left in the cache
  const left = fs.existsSync(path.join(dir, 'cache4')) ? fs.readdirSync(path.join(dir, 'cache4'), { recursive: true }).filter((f) => String(f).endsWith('.tmp')) : [];
  assert.deepEqual(left, []);
});

test("an image over the engine's 50-megapixel decode budget is refused, named, and never decoded", async () => {
  // a real PNG header of 16000 x 16000 (256 megapixels) with a tiny deflate stream: sharp reads the header only
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(16000, 0);
  ihdr.writeUInt32BE(16000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(1000))), pngChunk('IEND', Buffer.alloc(0))]);
  const file = path.join(dir, 'huge', 'huge.png');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, png);
  const cache = new ThumbnailCache(path.join(dir, 'cache-huge'));
  const rss = process.memoryUsage().rss;
  await assert.rejects(cache.get(file), (e: Error) => e.message.startsWith(`cannot make a thumbnail of ${file}: `) && /pixel limit/i.test(e.message));
  assert.ok(process.memoryUsage().rss - rss < 100e6, 'not decoded');
  assert.equal(cache.made, 0);
  assert.deepEqual(fs.existsSync(path.join(dir, 'cache-huge')) ? fs.readdirSync(path.join(dir, 'cache-huge'), { recursive: true }).filter((f) => String(f).endsWith('.webp')) : [], []);
});

test('queued thumbnails are made highest priority first, then in request order', async () => {
  const files = await Promise.all(['p0', 'p1', 'p2', 'p3'].map(async (n) => {
    const f = path.join(dir, 'img', `${n}.jpg`);
    await writeImage(f, 120, 120, [50, 50, 50]);
    return f;
  }));
  const cache = new ThumbnailCache(path.join(dir, 'cache5'), { concurrency: 1 });
  const done: string[] = [];
  const track = (f: string, p: number): Promise<void> => cache.get(f, p).then(() => void done.push(path.basename(f, '.jpg')));
  // p0 starts at once (one at a time); then p1 (0), p2 (5), p3 (0) wait: p2 goes ahead of both
  await Promise.all([track(files[0], 0), track(files[1], 0), track(files[2], 5), track(files[3], 0)]);
  assert.deepEqual(done, ['p0', 'p2', 'p1', 'p3']);

  // a bounded queue: past maxQueued the lowest priority (then oldest) waiting one is dropped
  const bounded = new ThumbnailCache(path.join(dir, 'cache5b'), { concurrency: 1, maxQueued: 2 });
  const running = bounded.get(files[0], 0);
  const low = bounded.get(files[1], 0);
  const high = bounded.get(files[2], 5);
  const newer = bounded.get(files[3], 1);
  await assert.rejects(low, ThumbnailDropped);
  for (const f of await Promise.all([running, high, newer])) assert.ok(fs.existsSync(f));
});

test('the curation service: page rows carry thumbnails once made; the worker process makes them', { timeout: 120_000 }, async () => {
  const db = path.join(dir, 'store', 'kefer.db');
  fs.mkdirSync(path.dirname(db), { recursive: true });
  const built = buildSyntheticStore(db, { n: 60, runs: ['run-a'] });
  built.store.close();
  for (const [i, s] of built.samples.entries()) await writeImage(path.join(built.root, s.path), 160 + i, 200, [20 + 3 * i, 80, 80]);
  const runDir = path.join(dir, 'store', 'runs', 'run-a');
  const svc = new CurationService(db, path.join(dir, 'cache6'));
  try {
    const p = svc.page(runDir, MISTAKES, 'issue', 0, 10);
    assert.ok(p.rows.length >= 3, `${p.rows.length} mistakes`);
    assert.ok(p.rows.every((r) => r.thumb === null), 'none made yet');
    const ids = p.rows.map((r) => r.id);
    fs.writeFileSync(path.join(built.root, p.rows[1].path), 'broken');
    const made = await svc.thumbnails(runDir, ids);
    assert.deepEqual(made.map((t) => t.id), ids);
    assert.ok('error' in made[1] && made[1].error.includes(path.join(built.root, p.rows[1].path)), JSON.stringify(made[1]));
    const again = svc.page(runDir, MISTAKES, 'issue', 0, 10);
    for (const [k, r] of again.rows.entries()) {
      if (k === 1) assert.equal(r.thumb, null);
      else assert.equal(r.thumb, (made[k] as { file: string }).file, 'the page names the cached thumbnail');
    }
    // an id the grid never got from a page is looked up in the store
    const other = built.samples.find((s) => !ids.includes(s.id))!;
    const [o] = await svc.thumbnails(runDir, [other.id]);
    assert.ok('file' in o && fs.existsSync(o.file));
  } finally {
    svc.close();
  }

  // the worker process answers thumbnails (a promise) over stdio, and store queries meanwhile
  ensureBuilt();
  const worker = new CurationClient(process.execPath, path.join(__dirname, '..', '..', 'dist', 'curationWorker.js'), db, () => undefined, path.join(dir, 'cache7'));
  try {
    const ids = built.samples.slice(0, 20).map((s) => s.id);
    const [made, page] = await Promise.all([worker.call('thumbnails', runDir, ids, 1), worker.call('page', runDir, MISTAKES, 'issue', 0, 5)]);
    assert.equal(page.rows.length, 5);
    const files = (made as RawThumb[]).filter((t): t is { id: string; file: string } => 'file' in t);
    assert.equal(files.length, 20);
    assert.ok(files.every((t) => t.file.startsWith(path.join(dir, 'cache7')) && fs.existsSync(t.file)));
  } finally {
    worker.dispose();
  }
});
