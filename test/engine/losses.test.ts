// KE-FER losses and their gradients against an independent float64 reference written from
// method.md, with gradients by central finite differences of that reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { keferLoss, type ContrastVariant } from '../../src/engine/losses.js';
import { Rng } from '../../src/engine/util/rng.js';
import { assertClose, finiteDiff, randMat, reference, unit, type Mat } from './loss-reference.js';

tf.setBackend('cpu');

function tfLoss(v: Mat, n: Mat, t: Mat, y: number[], N: number, contrast: ContrastVariant) {
  return tf.tidy(() => {
    const tn = tf.tensor2d(t.map(unit));
    const labels = tf.tensor1d(y, 'int32');
    const opts = { neutralIndex: N, contrast, lambdaS: 1, lambdaT: 1, lambdaC: 1, logitScale: 100 };
    const f = (a: tf.Tensor, b: tf.Tensor) => keferLoss(a as tf.Tensor2D, b as tf.Tensor2D, tn, labels, opts).total;
    const { value, grads } = tf.valueAndGrads(f)([tf.tensor2d(v), tf.tensor2d(n)]);
    const terms = keferLoss(tf.tensor2d(v), tf.tensor2d(n), tn, labels, opts);
    return {
      total: value.dataSync()[0],
      ls: terms.ls.dataSync()[0],
      lt: terms.lt.dataSync()[0],
      lc: terms.lc.dataSync()[0],
      gv: grads[0].arraySync() as Mat,
      gn: grads[1].arraySync() as Mat,
    };
  });
}

for (const contrast of ['pairwise', 'per-sample'] as const) {
  test(`losses and gradients match the float64 reference (${contrast})`, () => {
    const rng = new Rng(7);
    const B = 6, D = 10, K = 7, N = 6;
    const t = randMat(rng, K, D);
    // Small v keeps s * cos in a range where float32 softmax gradients are well conditioned.
    const v = randMat(rng, B, D, 0.5);
    const n = randMat(rng, B, D, 0.5);
    const y = [0, 6, 3, 3, 5, 6];
    const ref = reference(v, n, t, y, N, contrast);
    const got = tfLoss(v, n, t, y, N, contrast);
    assertClose(got.ls, ref.ls, 1e-4, 'Ls');
    assertClose(got.lt, ref.lt, 1e-5, 'Lt');
    assertClose(got.lc, ref.lc, 1e-5, 'Lc');
    assertClose(got.total, ref.total, 1e-4, 'L');
    assertClose(got.gv, finiteDiff((m) => reference(m, n, t, y, N, contrast).total, v), 2e-3, 'dL/dv');
    assertClose(got.gn, finiteDiff((m) => reference(v, m, t, y, N, contrast).total, n), 2e-3, 'dL/dn');
  });
}

test('pairwise and per-sample contrast differ when several samples are non-neutral', () => {
  const rng = new Rng(3);
  const t = randMat(rng, 7, 8), v = randMat(rng, 4, 8), n = randMat(rng, 4, 8);
  const y = [0, 1, 2, 3];
  const a = tfLoss(v, n, t, y, 6, 'pairwise').lc;
  const b = tfLoss(v, n, t, y, 6, 'per-sample').lc;
  assert.ok(Math.abs(a - b) > 1e-4, `expected different Lc, got ${a} and ${b}`);
});

test('an all-neutral batch gives Lt = Lc = 0 and finite gradients', () => {
  const rng = new Rng(5);
  const t = randMat(rng, 7, 8), v = randMat(rng, 3, 8), n = randMat(rng, 3, 8);
  for (const contrast of ['pairwise', 'per-sample'] as const) {
    const got = tfLoss(v, n, t, [6, 6, 6], 6, contrast);
    assert.ok(got.lt === 0, `Lt = ${got.lt}`); // === so that -0 counts as 0
    assert.ok(got.lc === 0, `Lc = ${got.lc}`);
    assert.ok(Number.isFinite(got.total));
    for (const row of [...got.gv, ...got.gn]) for (const g of row) assert.ok(Number.isFinite(g));
    // With only Ls active, n receives no gradient at all.
    for (const row of got.gn) for (const g of row) assert.ok(g === 0, `dL/dn = ${g}`);
  }
});
