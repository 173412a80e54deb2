import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { checkDataset, countsByClass, loadDataset } from '../../src/engine/data/index.js';
import { generateSyntheticDataset } from '../../src/engine/data/synthetic.js';
import { decodeBatch } from '../../src/engine/data/decode.js';
import { tempDir, writeGrey } from './data-fixtures.js';

async function filesOf(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const full = path.join(e.parentPath, e.name);
      out.set(path.relative(root, full), await readFile(full));
    }
  }
  return out;
}

test('synthetic: layout, marker, counts, deterministic per seed', async () => {
  const [a, b, c] = [await tempDir(), await tempDir(), await tempDir()];
  const res = await generateSyntheticDataset(a, { perClass: 5, classes: 7, seed: 42, size: 32 });
  assert.deepEqual(res.counts, { train: 35, valid: 7, test: 7 });
  await generateSyntheticDataset(b, { perClass: 5, classes: 7, seed: 42, size: 32, concurrency: 1 });
  await generateSyntheticDataset(c, { perClass: 5, classes: 7, seed: 43, size: 32 });
  const fa = await filesOf(a);
  const fb = await filesOf(b);
  const fc = await filesOf(c);
  assert.equal(fa.size, 49 + 1);
  assert.match(fa.get('SYNTHETIC.md')!.toString(), /SYNTHETIC DATA/);
  for (const [k, v] of fa) assert.ok(fb.get(k)?.equals(v), `${k} differs between two runs with the same seed`);
  const differing = [...fa].filter(([k, v]) => k.endsWith('.png') && !fc.get(k)?.equals(v)).length;
  assert.equal(differing, 49, 'another seed gives other images');

  const ds = await loadDataset(`synthetic:${a}`);
  assert.equal(ds.synthetic, true);
  assert.equal(ds.format, 'synthetic');
  assert.equal(ds.classes.length, 7);
  assert.deepEqual(countsByClass(ds).splits.valid, [1, 1, 1, 1, 1, 1, 1]);
  assert.equal((await loadDataset(`folder:${a}#test`)).synthetic, true, 'folder: detects the marker');
  const { problems } = await checkDataset(`synthetic:${a}`);
  assert.deepEqual(problems, []);
  const px = await decodeBatch(ds, [0], 32);
  assert.equal(px.length, 32 * 32 * 3);
});

test('synthetic: spec requires the marker; 8 classes include contempt', async () => {
  const real = await tempDir();
  await writeGrey(path.join(real, 'happy', 'x.png'));
  await assert.rejects(loadDataset(`synthetic:${real}`), /no SYNTHETIC\.md marker/);
  const d = await tempDir();
  await generateSyntheticDataset(d, { perClass: 1, seed: 1, size: 24 });
  const ds = await loadDataset(`synthetic:${d}#train`);
  assert.equal(ds.classes.length, 8);
  assert.equal(ds.samples.length, 8);
});

test('synthetic: classes carry signal a linear pixel classifier can pick up (above chance)', async () => {
  // Softmax regression on 16x16 normalised pixels is much weaker than a CNN (no shift invariance, and
  // pose varies), so "clearly above chance" here is a floor, not the expected CNN accuracy.
  const d = await tempDir();
  await generateSyntheticDataset(d, { perClass: 80, classes: 7, seed: 5, size: 32 });
  const train = await loadDataset(`synthetic:${d}#train`);
  const test = await loadDataset(`synthetic:${d}#valid`);
  const S = 16;
  const D = S * S;
  const K = 7;
  const feat = async (ds: typeof train) => {
    const px = await decodeBatch(ds, ds.samples.map((_, i) => i), S);
    return ds.samples.map((_, i) => {
      const v = new Float64Array(D);
      let mean = 0;
      for (let p = 0; p < D; p++) mean += v[p] = px[(i * D + p) * 3];
      mean /= D;
      let sd = 0;
      for (let p = 0; p < D; p++) sd += (v[p] - mean) ** 2;
      sd = Math.sqrt(sd / D) || 1;
      for (let p = 0; p < D; p++) v[p] = (v[p] - mean) / sd; // per-image normalisation removes lighting
      return v;
    });
  };
  const ft = await feat(train);
  const fv = await feat(test);
  const W = Array.from({ length: K }, () => new Float64Array(D + 1));
  const scores = (x: Float64Array) =>
    W.map((w) => {
      let s = w[D];
      for (let p = 0; p < D; p++) s += w[p] * x[p];
      return s;
    });
  for (let ep = 0; ep < 25; ep++) {
    ft.forEach((x, i) => {
      const z = scores(x);
      const mx = Math.max(...z);
      const e = z.map((a) => Math.exp(a - mx));
      const se = e.reduce((a, b) => a + b);
      for (let k = 0; k < K; k++) {
        const g = e[k] / se - (k === train.samples[i].label ? 1 : 0);
        for (let p = 0; p < D; p++) W[k][p] -= 0.01 * (g * x[p] + 1e-3 * W[k][p]);
        W[k][D] -= 0.01 * g;
      }
    });
  }
  const right = fv.filter((x, i) => {
    const z = scores(x);
    return z.indexOf(Math.max(...z)) === test.samples[i].label;
  }).length;
  const acc = right / fv.length;
  console.log(`synthetic linear-probe accuracy ${acc.toFixed(3)}`);
  assert.ok(acc > 0.2, `linear accuracy ${acc.toFixed(3)} is not clearly above chance (${(1 / K).toFixed(3)})`);
});
