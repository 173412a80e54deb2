// The planted-duplicate test: real FERPlus faces, copies made re-saved, resized, JPEG-recompressed,
// mirrored, brightened and cropped by 5-10%, each placed in another split than its original, among
// distinct faces. Asserted per transform and tier: recall and precision (exact 100% / 100%; near >= 95%
// recall at >= 95% precision), every planted cross-split leak named, every planted label conflict flagged.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDataset } from '../../src/engine/data/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import {
  buildPlantedSet, exactNeighbourPairs, exactPairs, findDuplicates, HammingIndex, pcaProject, scorePlanted, semanticPairs, summariseTier, TRANSFORM_TIER, unitRows, unnamedLeaks,
  type DupResult, type PlantedSet,
} from '../../src/engine/dups/index.js';
import { Rng } from '../../src/engine/util/rng.js';
import { FERPLUS, HAVE_FERPLUS } from './onnx-helpers.js';

const skip = HAVE_FERPLUS ? false : `FERPlus not found at ${FERPLUS} (set KEFER_SHARED_DATA)`;
let planted: PlantedSet;
let ds: Dataset;
let result: DupResult;

before(async () => {
  if (!HAVE_FERPLUS) return;
  const source = await loadDataset(`ferplus:${FERPLUS}#valid`);
  planted = await buildPlantedSet({ source, out: await mkdtemp(path.join(tmpdir(), 'kefer-dups-')), perTransform: 40, distinct: 400, seed: 23, relabelEvery: 5 });
  ds = await loadDataset(planted.spec);
  result = await findDuplicates(ds);
});

test('planted set: 6 x 40 copies across splits among 400 distinct faces', { skip }, () => {
  assert.equal(ds.samples.length, 2 * 240 + 400);
  assert.ok(planted.copies.every((c) => c.originalSplit !== c.copySplit));
});

test('exact tier: every re-saved copy found and nothing else (100% recall, 100% precision)', { skip }, () => {
  const exact = result.tiers.find((t) => t.tier === 'exact')!;
  for (const s of scorePlanted(ds, planted, exact)) {
    if (TRANSFORM_TIER[s.transform] === "exact") {
      assert.equal(s.recall, 1, `${s.transform}: missed ${s.missed.join(', ')}`);
      assert.equal(s.precision, 1, s.transform);
    } else {
      // altered pixels are not exact duplicates: the exact tier pairs none of them
      assert.equal(s.found, 0, `${s.transform} copies reported as exact`);
      assert.equal(s.pairs, 0, s.transform);
    }
  }
});

test('near tier: >= 95% recall at >= 95% precision for every transform', { skip }, () => {
  const near = result.tiers.find((t) => t.tier === 'near')!;
  const scores = scorePlanted(ds, planted, near);
  console.log(scores.map((s) => `${s.transform}: recall ${s.found}/${s.copies}, precision ${s.correct}/${s.pairs}`).join('; '));
  for (const s of scores) {
    assert.ok(s.recall >= 0.95, `${s.transform}: recall ${s.recall.toFixed(3)}; missed ${s.missed.join(', ')}`);
    assert.ok(s.precision >= 0.95, `${s.transform}: precision ${s.precision.toFixed(3)} (${s.correct}/${s.pairs})`);
  }
});

test('every planted cross-split leak is named (near tier: all; exact tier: the re-saved ones)', { skip }, () => {
  const near = result.tiers.find((t) => t.tier === 'near')!;
  assert.deepEqual(unnamedLeaks(ds, planted, near), []);
  const exact = result.tiers.find((t) => t.tier === 'exact')!;
  const resaved = { ...planted, copies: planted.copies.filter((c) => c.transform === 'reencode') };
  assert.deepEqual(unnamedLeaks(ds, resaved, exact), []);
  const sum = summariseTier(ds, near, ds.samples.map((s) => s.label));
  const kinds = new Set(planted.copies.map((c) => [c.originalSplit, c.copySplit].sort().join()));
  assert.equal(kinds.size, 3, 'train-test, train-valid and valid-test copies planted');
  for (const k of ['train-test', 'train-val', 'val-test'] as const) assert.ok(sum.leaks[k].clusters > 0, k);
});

test('planted label conflicts are flagged as conflicting clusters', { skip }, () => {
  const near = result.tiers.find((t) => t.tier === 'near')!;
  const sum = summariseTier(ds, near, ds.samples.map((s) => s.label));
  const byName = new Map(ds.samples.map((s, i) => [path.basename(s.path), i]));
  const conflicted = new Set(sum.conflicts.clusters.flatMap((c) => c.cluster.members));
  const relabelled = planted.copies.filter((c) => c.relabelled);
  assert.ok(relabelled.length >= 40);
  const found = relabelled.filter((c) => conflicted.has(byName.get(c.copy)!));
  assert.ok(found.length >= 0.95 * relabelled.length, `${found.length} of ${relabelled.length} planted conflicts flagged`);
});

test('worker threads: the scan finds the same hashes and pairs as one thread does', { skip }, async () => {
  const threaded = await findDuplicates(ds, { threads: 2 });
  assert.equal(result.scanThreads, 1, 'below 2,000 images the scan stays on one thread');
  assert.equal(threaded.scanThreads, 2);
  assert.deepEqual(threaded.exactHashes, result.exactHashes);
  for (const tier of ['exact', 'near'] as const) {
    assert.deepEqual(threaded.tiers.find((t) => t.tier === tier)!.pairs, result.tiers.find((t) => t.tier === tier)!.pairs, tier);
  }
});

test('HammingIndex finds exactly what a full scan finds', () => {
  const rng = new Rng(3);
  const n = 3000;
  const hi = new Uint32Array(n).map(() => (rng.next() * 2 ** 32) >>> 0);
  const lo = new Uint32Array(n).map(() => (rng.next() * 2 ** 32) >>> 0);
  // near copies: flip a few bits of some codes
  for (let i = 0; i < 300; i++) {
    hi[n - 1 - i] = (hi[i] ^ (1 << rng.int(32))) >>> 0;
    lo[n - 1 - i] = (lo[i] ^ (1 << rng.int(32)) ^ (1 << rng.int(32))) >>> 0;
  }
  const index = new HammingIndex(hi, lo);
  const pc = (x: number) => x.toString(2).split('').filter((b) => b === '1').length;
  // 5, 9, 10, 13: the generalised pigeonhole searches some chunks one bit narrower
  for (const radius of [3, 5, 9, 10, 13, 15]) {
    for (let q = 0; q < 60; q++) {
      const got: number[] = [];
      index.search(hi[q], lo[q], radius, (e) => got.push(e));
      const want = [...Array(n).keys()].filter((i) => pc((hi[i] ^ hi[q]) >>> 0) + pc((lo[i] ^ lo[q]) >>> 0) <= radius);
      assert.deepEqual(got.sort((a, b) => a - b), want, `query ${q} radius ${radius}`);
    }
  }
  assert.throws(() => index.search(0, 0, 16, () => {}), /radius 16 is over 15/);
});

test('semantic tier: the usearch index finds the pairs all-pairs search finds', () => {
  const rng = new Rng(5);
  const n = 4000, d = 48;
  const v = new Float32Array(n * d).map(() => rng.normal());
  // 200 planted near copies (cosine ~0.995) of the first 200 rows
  for (let i = 0; i < 200; i++) for (let j = 0; j < d; j++) v[(n - 1 - i) * d + j] = v[i * d + j] + 0.1 * rng.normal();
  const exact = semanticPairs(v, n, d, { threshold: 0.95, exactBelow: Infinity });
  assert.equal(exact.method, 'exact');
  assert.equal(exact.pairs.length, 200);
  const key = (p: { a: number; b: number }) => `${p.a},${p.b}`;
  const want = new Set(exact.pairs.map(key));
  for (const candidates of ['cells', 'hnsw'] as const) {
    const ann = semanticPairs(v, n, d, { threshold: 0.95, exactBelow: 0, reduceTo: 32, candidates });
    assert.equal(ann.method, 'ann');
    assert.equal(ann.candidates, candidates);
    const hits = ann.pairs.filter((p) => want.has(key(p))).length;
    assert.equal(ann.pairs.length, hits, `${candidates}: no pair below the threshold (each is checked on the full vectors)`);
    assert.ok(hits >= 0.99 * want.size, `${candidates}: ${hits} of ${want.size} found`);
  }
});

test('semantic tier: the projection on as many principal directions as dimensions keeps every dot product', () => {
  // the projection's dot products come from usearch's kernel, returned nearest first: each must land on
  // its own direction, or the rows' dot products change
  const rng = new Rng(3);
  const n = 300, d = 12;
  const unit = unitRows(new Float32Array(n * d).map(() => rng.normal()), n, d);
  const y = pcaProject(unit, n, d, d);
  for (let a = 0; a < n; a += 7) for (let b = 0; b < n; b += 5) {
    let s = 0, t = 0;
    for (let j = 0; j < d; j++) {
      s += unit[a * d + j] * unit[b * d + j];
      t += y[a * d + j] * y[b * d + j];
    }
    assert.ok(Math.abs(s - t) < 1e-4, `rows ${a}, ${b}: ${t} projected, ${s} before`);
  }
});

test('semantic tier, all-pairs search in query batches: pairs in a later batch and in a view of a larger buffer are found', () => {
  // 5,000 rows go to usearch's brute-force kernel in batches of 3,355 queries; usearch 2.26 reads a typed
  // array from the start of its buffer, so a batch passed as a view would be searched as the first rows
  const rng = new Rng(11);
  const n = 5000, d = 32;
  const v = new Float32Array(n * d).map(() => rng.normal());
  // planted copies (cosine ~0.995) among the rows of the second batch only
  const planted = [[3400, 4990], [3700, 4500], [4000, 4001], [4200, 4999]];
  for (const [a, b] of planted) for (let j = 0; j < d; j++) v[b * d + j] = v[a * d + j] + 0.1 * rng.normal();
  const unit = unitRows(v, n, d);
  const key = (p: { a: number; b: number }) => `${p.a},${p.b}`;
  const want = exactPairs(unit, n, d, 0.95).map(key).sort();
  for (const [a, b] of planted) assert.ok(want.includes(`${a},${b}`), `planted pair ${a},${b} is above the threshold`);
  assert.deepEqual(exactNeighbourPairs(unit, n, d, 0.95, 16).map(key).sort(), want);
  assert.deepEqual(semanticPairs(v, n, d, { threshold: 0.95, exactBelow: Infinity }).pairs.map(key).sort(), want);
  // the same rows as a view that starts 7 rows into a larger buffer
  const host = new Float32Array((n + 7) * d);
  host.set(unit, 7 * d);
  assert.deepEqual(exactNeighbourPairs(host.subarray(7 * d), n, d, 0.95, 16).map(key).sort(), want);
});
