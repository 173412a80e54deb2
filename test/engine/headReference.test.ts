// The host reference of the CUDA addon's head kernels (src/engine/runtimes/cuda/headReference.ts: F_n, Ls, Lt, Lc
// and every gradient written out by hand) against tfjs autodiff of transform.ts + losses.ts, the code the
// other runtimes train with, on the same inputs: both Lc variants, neutral samples mixed in, an all-neutral
// batch (Lt = Lc = 0, no NaN) and non-default lambdas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { keferLoss, l2normalize, type ContrastVariant, type LossOptions } from '../../src/engine/losses.js';
import { createTransform } from '../../src/engine/model/index.js';
import { headReference } from '../../src/engine/runtimes/cuda/headReference.js';
import { Rng } from '../../src/engine/util/rng.js';

tf.setBackend('cpu');

const D = 512, H = 128, K = 7, NEUTRAL = 6;

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d2 = 0, w2 = 0;
  for (let i = 0; i < want.length; i++) {
    d2 += (got[i] - want[i]) ** 2;
    w2 += want[i] ** 2;
  }
  return Math.sqrt(d2 / Math.max(w2, 1e-30));
}

function check(labels: number[], contrast: ContrastVariant, lambdas = [1, 1, 1], seed = 1) {
  const rng = new Rng(seed);
  const B = labels.length;
  const v = Float32Array.from({ length: B * D }, () => rng.normal());
  const textRaw = tf.tensor2d(Float32Array.from({ length: K * D }, () => rng.normal()), [K, D]);
  const textNorm = l2normalize(textRaw);
  const text = textNorm.dataSync() as Float32Array;
  const transform = createTransform(seed);
  const opts: LossOptions = { neutralIndex: NEUTRAL, contrast, lambdaS: lambdas[0], lambdaT: lambdas[1], lambdaC: lambdas[2], logitScale: 100 };
  const vVar = tf.variable(tf.tensor2d(v, [B, D]));
  let terms: number[] = [];
  let preds: number[] = [];
  const params = [...transform.params];
  const { value, grads } = tf.variableGrads(() => {
    const n = transform.apply(vVar);
    const t = keferLoss(vVar, n, textNorm, tf.tensor1d(labels, 'int32'), opts);
    terms = [t.ls, t.lt, t.lc].map((x) => x.dataSync()[0]);
    preds = Array.from(tf.argMax(t.logits, 1).dataSync());
    return t.total;
  }, [vVar, ...params.map(([, p]) => p)]);
  const pv = (name: string) => transform.params.get(name)!.dataSync() as Float32Array;
  const ref = headReference(v, text, labels, { w1: pv('MLP.fc1.weight'), b1: pv('MLP.fc1.bias'), w2: pv('MLP.fc2.weight'), b2: pv('MLP.fc2.bias'), hidden: H }, opts);
  const g = (name: string) => grads[transform.params.get(name)!.name].dataSync();
  const errs = {
    dv: relErr(ref.dv, grads[vVar.name].dataSync()),
    dw1: relErr(ref.dw1, g('MLP.fc1.weight')),
    db1: relErr(ref.db1, g('MLP.fc1.bias')),
    dw2: relErr(ref.dw2, g('MLP.fc2.weight')),
    db2: relErr(ref.db2, g('MLP.fc2.bias')),
  };
  const result = { ref, terms, total: value.dataSync()[0], preds, errs };
  vVar.dispose();
  transform.dispose();
  tf.dispose([textRaw, textNorm, value, ...Object.values(grads)]);
  return result;
}

function assertMatches(r: ReturnType<typeof check>) {
  const [ls, lt, lc] = r.terms;
  assert.ok(Math.abs(r.ref.ls - ls) <= 1e-4 * Math.max(1, Math.abs(ls)), `Ls ${r.ref.ls} vs tfjs ${ls}`);
  assert.ok(Math.abs(r.ref.lt - lt) <= 1e-5, `Lt ${r.ref.lt} vs tfjs ${lt}`);
  assert.ok(Math.abs(r.ref.lc - lc) <= 1e-5, `Lc ${r.ref.lc} vs tfjs ${lc}`);
  assert.ok(Math.abs(r.ref.total - r.total) <= 1e-4 * Math.max(1, Math.abs(r.total)), `total ${r.ref.total} vs ${r.total}`);
  assert.deepEqual(Array.from(r.ref.preds), r.preds, 'argmax of the logits');
  // tfjs runs in float32, the reference in float64: a few 1e-6 of each gradient's norm.
  console.log(`# norm-relative errors vs tfjs: ${JSON.stringify(r.errs)}`);
  for (const [name, e] of Object.entries(r.errs)) assert.ok(e < 1e-4, `${name} differs from tfjs autodiff by ${e} of its norm`);
}

test('head reference = tfjs autodiff: pairwise Lc, neutral samples mixed in', () => {
  const r = check([0, 6, 3, 5, 6, 1, 2, 4, 3, 0, 6, 5], 'pairwise');
  assertMatches(r);
  assert.ok(r.ref.lt > 0 && r.ref.lc > 0);
});

test('head reference = tfjs autodiff: per-sample Lc, lambdas 0.5 / 2 / 0.25', () => {
  assertMatches(check([1, 6, 2, 2, 4, 6, 0, 5], 'per-sample', [0.5, 2, 0.25], 4));
});

test('head reference: an all-neutral batch gives Lt = Lc = 0 and finite gradients, as tfjs', () => {
  for (const contrast of ['pairwise', 'per-sample'] as const) {
    const r = check([6, 6, 6, 6], contrast, [1, 1, 1], 9);
    assertMatches(r);
    assert.equal(r.ref.lt, 0);
    assert.equal(r.ref.lc, 0);
    assert.ok(r.ref.dv.every(Number.isFinite), 'dv is finite');
  }
});

test('head reference: one non-neutral sample (M = 1) matches tfjs in both variants', () => {
  for (const contrast of ['pairwise', 'per-sample'] as const) assertMatches(check([6, 3, 6, 6, 6], contrast, [1, 1, 1], 12));
});
