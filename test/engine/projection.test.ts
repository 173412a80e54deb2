import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca2d } from '../../src/engine/eval/projection.js';
import { Rng } from '../../src/engine/util/rng.js';

test('pca2d recovers the two directions of largest variance, in order', () => {
  const rng = new Rng(4);
  const n = 400, d = 6;
  const x = new Float32Array(n * d);
  const a = new Float64Array(n), b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = rng.normal() * 5; // large variance along (1,1,0,0,0,0)/sqrt2
    b[i] = rng.normal() * 2; // smaller along e3
    x[i * d] = a[i] / Math.SQRT2 + 3;
    x[i * d + 1] = a[i] / Math.SQRT2 - 1;
    x[i * d + 2] = b[i];
    for (let j = 3; j < d; j++) x[i * d + j] = rng.normal() * 0.1;
  }
  const xy = pca2d(x, n, d);
  const corr = (u: ArrayLike<number>, v: ArrayLike<number>) => {
    let su = 0, sv = 0, suv = 0, suu = 0, svv = 0;
    for (let i = 0; i < n; i++) { su += u[i]; sv += v[i]; }
    const mu = su / n, mv = sv / n;
    for (let i = 0; i < n; i++) { suv += (u[i] - mu) * (v[i] - mv); suu += (u[i] - mu) ** 2; svv += (v[i] - mv) ** 2; }
    return suv / Math.sqrt(suu * svv);
  };
  const px = Array.from({ length: n }, (_, i) => xy[2 * i]);
  const py = Array.from({ length: n }, (_, i) => xy[2 * i + 1]);
  assert.ok(Math.abs(corr(px, a)) > 0.99, `first component follows the largest direction (${corr(px, a)})`);
  assert.ok(Math.abs(corr(py, b)) > 0.99, `second component follows the next one (${corr(py, b)})`);
});
