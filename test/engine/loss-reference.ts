// The KE-FER losses in float64 from method.md, independent of every implementation, with central finite
// differences and a tolerance check: the reference the engine's losses (losses.test.ts) and the PyTorch
// trainer's (torch.test.ts) are held to.
import assert from 'node:assert/strict';
import type { ContrastVariant } from '../../src/engine/losses.js';
import type { Rng } from '../../src/engine/util/rng.js';

export type Mat = number[][];
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));
export const unit = (a: number[]) => a.map((x) => x / Math.max(norm(a), 1e-8));
const sub = (a: number[], b: number[]) => a.map((x, i) => x - b[i]);
const cos = (a: number[], b: number[]) => dot(unit(a), unit(b));

/**
 * The KE-FER losses in float64, written from method.md. classWeights: Ls = sum_i w_{y_i} CE_i / sum_i w_{y_i}
 * (--balance weights); Lt and Lc stay unweighted.
 */
export function reference(v: Mat, n: Mat, t: Mat, y: number[], N: number, contrast: ContrastVariant, lam = [1, 1, 1], s = 100, classWeights?: number[]) {
  const tn = t.map(unit);
  let ls = 0;
  let wsum = 0;
  for (let i = 0; i < v.length; i++) {
    const logits = tn.map((tk) => s * cos(v[i], tk));
    const mx = Math.max(...logits);
    const lse = mx + Math.log(logits.reduce((acc, l) => acc + Math.exp(l - mx), 0));
    const w = classWeights ? classWeights[y[i]] : 1;
    ls += w * (lse - logits[y[i]]);
    wsum += w;
  }
  ls /= wsum;
  const M = y.map((yi, i) => (yi !== N ? i : -1)).filter((i) => i >= 0);
  let lt = 0;
  let lc = 0;
  if (M.length > 0) {
    for (const i of M) lt += 1 - cos(sub(v[i], n[i]), sub(tn[y[i]], tn[N]));
    lt /= M.length;
    if (contrast === 'pairwise') {
      for (const i of M) for (const j of M) lc += dot(tn[y[i]], unit(n[j])) - dot(tn[y[i]], unit(v[j])) + 2;
      lc /= M.length * M.length;
    } else {
      for (const i of M) lc += dot(tn[y[i]], unit(n[i])) - dot(tn[y[i]], unit(v[i])) + 2;
      lc /= M.length;
    }
  }
  return { ls, lt, lc, total: lam[0] * ls + lam[1] * lt + lam[2] * lc };
}

export function randMat(rng: Rng, r: number, c: number, scale = 1): Mat {
  return Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal() * scale));
}

export function finiteDiff(f: (m: Mat) => number, m: Mat, h = 1e-5): Mat {
  return m.map((row, i) =>
    row.map((_, j) => {
      const plus = m.map((r) => r.slice());
      const minus = m.map((r) => r.slice());
      plus[i][j] += h;
      minus[i][j] -= h;
      return (f(plus) - f(minus)) / (2 * h);
    }),
  );
}

export function assertClose(actual: Mat | number, expected: Mat | number, tol: number, what: string) {
  const a = ([] as number[]).concat(...(Array.isArray(actual) ? actual : [[actual]]));
  const e = ([] as number[]).concat(...(Array.isArray(expected) ? expected : [[expected]]));
  const scale = Math.max(1e-3, ...e.map(Math.abs));
  for (let i = 0; i < a.length; i++) {
    assert.ok(Number.isFinite(a[i]), `${what}[${i}] is not finite`);
    assert.ok(Math.abs(a[i] - e[i]) <= tol * scale, `${what}[${i}]: ${a[i]} vs reference ${e[i]}`);
  }
}
