// The FER+ label schemes (--ferplus-labels) and class weights (--balance weights) in the shared loss code:
// soft-target Ls against hand computations, one-class votes equal the majority case, multitarget as the
// FER+ paper defines it, the weighted Lt/Lc against a float64 reference with finite-difference gradients,
// and the vote rules of microsoft/FERPlus ferplus.py on hand-worked vote vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { keferLoss, type ContrastVariant, type LossOptions, type SoftTargets } from '../../src/engine/losses.js';
import { TrainTargets } from '../../src/engine/train/labelSchemes.js';
import { voteDistribution } from '../../src/engine/data/ferplusVotes.js';
import { balancedClassWeights, balancedOrder } from '../../src/engine/train/balance.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { Rng } from '../../src/engine/util/rng.js';

tf.setBackend('cpu');

type Mat = number[][];
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
const unit = (a: number[]) => {
  const n = Math.sqrt(dot(a, a));
  return a.map((x) => x / Math.max(n, 1e-8));
};
const sub = (a: number[], b: number[]) => a.map((x, i) => x - b[i]);
const cos = (a: number[], b: number[]) => dot(unit(a), unit(b));
const randMat = (rng: Rng, r: number, c: number): Mat => Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal()));
const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

const opts = (contrast: ContrastVariant, N: number, logitScale = 100, classWeights?: number[]): LossOptions => ({ neutralIndex: N, contrast, lambdaS: 1, lambdaT: 1, lambdaC: 1, logitScale, classWeights });

/** Loss terms and dL/dv, dL/dn from the tfjs code; q undefined = hard labels. */
function tfTerms(v: Mat, n: Mat, t: Mat, y: number[], o: LossOptions, q?: Mat, kind: SoftTargets['kind'] = 'distribution') {
  return tf.tidy(() => {
    const tn = tf.tensor2d(t.map(unit));
    const labels = tf.tensor1d(y, 'int32');
    const soft = q ? { kind, q: tf.tensor2d(q) } : undefined;
    const f = (a: tf.Tensor, b: tf.Tensor) => keferLoss(a as tf.Tensor2D, b as tf.Tensor2D, tn, labels, o, soft).total;
    const { value, grads } = tf.valueAndGrads(f)([tf.tensor2d(v), tf.tensor2d(n)]);
    const terms = keferLoss(tf.tensor2d(v), tf.tensor2d(n), tn, labels, o, soft);
    return {
      total: value.dataSync()[0], ls: terms.ls.dataSync()[0], lt: terms.lt.dataSync()[0], lc: terms.lc.dataSync()[0],
      gv: grads[0].arraySync() as Mat, gn: grads[1].arraySync() as Mat,
    };
  });
}

/** float64 reference of the weighted losses (losses.ts header): class k of sample i weighted by q[i][k]. */
function weightedReference(v: Mat, n: Mat, t: Mat, q: Mat, N: number, contrast: ContrastVariant, s = 100) {
  const tn = t.map(unit);
  const K = t.length;
  let ls = 0;
  for (let i = 0; i < v.length; i++) {
    const logits = tn.map((tk) => s * cos(v[i], tk));
    const mx = Math.max(...logits);
    const lse = mx + Math.log(logits.reduce((a, l) => a + Math.exp(l - mx), 0));
    for (let k = 0; k < K; k++) ls += q[i][k] * (lse - logits[k]);
  }
  ls /= v.length;
  const w = q.map((row) => row.map((x, k) => (k === N ? 0 : x)));
  const m = w.map((row) => row.reduce((a, b) => a + b, 0));
  const M = m.reduce((a, b) => a + b, 0);
  let lt = 0;
  let lc = 0;
  for (let i = 0; i < v.length; i++) for (let k = 0; k < K; k++) lt += w[i][k] * (1 - cos(sub(v[i], n[i]), sub(tn[k], tn[N])));
  lt = M > 0 ? lt / M : 0;
  const d = v.map((_, j) => sub(unit(n[j]), unit(v[j])));
  if (contrast === 'pairwise') {
    for (let i = 0; i < v.length; i++) for (let j = 0; j < v.length; j++) for (let k = 0; k < K; k++) lc += w[i][k] * m[j] * (dot(tn[k], d[j]) + 2);
    lc = M > 0 ? lc / (M * M) : 0;
  } else {
    for (let i = 0; i < v.length; i++) for (let k = 0; k < K; k++) lc += w[i][k] * (dot(tn[k], d[i]) + 2);
    lc = M > 0 ? lc / M : 0;
  }
  return { ls, lt, lc, total: ls + lt + lc };
}

function finiteDiff(f: (m: Mat) => number, m: Mat, h = 1e-5): Mat {
  return m.map((row, i) => row.map((_, j) => {
    const p = m.map((r) => r.slice());
    const q = m.map((r) => r.slice());
    p[i][j] += h;
    q[i][j] -= h;
    return (f(p) - f(q)) / (2 * h);
  }));
}

test('crossentropy Ls, Lt, Lc on one sample equal the hand computation', () => {
  // K = 3 (neutral = 2), text = the unit axes, s = 2. v = (3, 0, 4): cos = (0.6, 0, 0.8), logits (1.2, 0, 1.6).
  const q = [0.5, 0.2, 0.3];
  const r = tfTerms([[3, 0, 4]], [[0, 3, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0], opts('per-sample', 2, 2), [q]);
  const lse = Math.log(Math.exp(1.2) + 1 + Math.exp(1.6));
  close(r.ls, lse - (0.5 * 1.2 + 0.2 * 0 + 0.3 * 1.6), 1e-5, 'Ls');
  // v - n = (3, -3, 4); t_0 - t_N = (1, 0, -1): cos = -1 / sqrt(68); t_1 - t_N = (0, 1, -1): cos = -7 / sqrt(68).
  close(r.lt, (0.5 * (1 + 1 / Math.sqrt(68)) + 0.2 * (1 + 7 / Math.sqrt(68))) / 0.7, 1e-5, 'Lt');
  // n/|n| - v/|v| = (-0.6, 1, -0.8): t_0 . d = -0.6, t_1 . d = 1.
  close(r.lc, (0.5 * (-0.6 + 2) + 0.2 * (1 + 2)) / 0.7, 1e-5, 'Lc per-sample');
  const pair = tfTerms([[3, 0, 4]], [[0, 3, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0], opts('pairwise', 2, 2), [q]);
  close(pair.lc, r.lc, 1e-5, 'Lc pairwise (one sample: the same pair)');
});

test('votes all for one class give exactly the majority (hard-label) losses and gradients', () => {
  const rng = new Rng(3);
  const K = 7, D = 8, N = 6;
  const v = randMat(rng, 6, D), n = randMat(rng, 6, D), t = randMat(rng, K, D);
  const y = [0, 6, 3, 3, 5, 6];
  const onehot = y.map((c) => Array.from({ length: K }, (_, k) => (k === c ? 1 : 0)));
  for (const contrast of ['pairwise', 'per-sample'] as const) {
    const hard = tfTerms(v, n, t, y, opts(contrast, N));
    const soft = tfTerms(v, n, t, y, opts(contrast, N), onehot);
    for (const k of ['ls', 'lt', 'lc', 'total'] as const) close(soft[k], hard[k], 1e-5, `${contrast} ${k}`);
    for (const [a, b] of [[soft.gv, hard.gv], [soft.gn, hard.gn]]) a.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - b[i][j]) < 1e-5, `${contrast} gradient [${i}][${j}]`)));
  }
  // Through the scheme: a FER+ sample whose 10 annotators all said happiness trains on happiness one-hot.
  const ds: Dataset = { format: 'ferplus', root: '/x', classes: ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'], samples: [{ id: 'a', path: 'a', label: 3, split: 'train', votes: [0, 0, 0, 10, 0, 0, 0, 0, 0, 0] }] };
  for (const scheme of ['crossentropy', 'probability'] as const) {
    const b = new TrainTargets(ds, scheme, 1).batch([0], 0, 0);
    assert.deepEqual(b.labels, [3]);
    if (b.soft) assert.deepEqual(Array.from(b.soft.q), [0, 0, 0, 1, 0, 0, 0]);
  }
});

test('crossentropy: Lt and Lc are the vote-weighted losses of the float64 reference, gradients included', () => {
  const rng = new Rng(8);
  const K = 7, D = 6, N = 6, B = 5;
  const v = randMat(rng, B, D), n = randMat(rng, B, D), t = randMat(rng, K, D);
  const q = [
    [0.5, 0, 0, 0, 0, 0, 0.5, 0],
    [0, 0, 0, 0.6, 0.4, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 1, 0],
    [0.2, 0.3, 0, 0, 0, 0.5, 0, 0],
    [0, 0, 1, 0, 0, 0, 0, 0],
  ].map((r) => r.slice(0, K));
  const y = q.map((r) => r.indexOf(Math.max(...r)));
  for (const contrast of ['pairwise', 'per-sample'] as const) {
    const got = tfTerms(v, n, t, y, opts(contrast, N, 10), q);
    const ref = weightedReference(v, n, t, q, N, contrast, 10);
    for (const k of ['ls', 'lt', 'lc', 'total'] as const) close(got[k], ref[k], 2e-5, `${contrast} ${k}`);
    const gv = finiteDiff((m) => weightedReference(m, n, t, q, N, contrast, 10).total, v);
    const gn = finiteDiff((m) => weightedReference(v, m, t, q, N, contrast, 10).total, n);
    for (const [a, b, what] of [[got.gv, gv, 'dL/dv'], [got.gn, gn, 'dL/dn']] as const) {
      a.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - b[i][j]) < 2e-3, `${contrast} ${what}[${i}][${j}]: ${x} vs ${b[i][j]}`)));
    }
  }
});

test('multitarget: Ls = -log max_k q_k p_k, and Lt/Lc take the accepted class the model favours as the label', () => {
  const rng = new Rng(5);
  const K = 7, D = 6, N = 6;
  const v = randMat(rng, 3, D), n = randMat(rng, 3, D), t = randMat(rng, K, D);
  // sample 0 accepts surprise and happiness, sample 1 fear and neutral, sample 2 anger only
  const accepted = [[0, 3], [1, 6], [5]];
  const q = accepted.map((a) => Array.from({ length: K }, (_, k) => (a.includes(k) ? 1 : 0)));
  const y = accepted.map((a) => a[0]);
  const s = 100; // the method's scale: predictions are confident, often on a rejected class
  const p = v.map((vi) => {
    const logits = t.map((tk) => s * cos(vi, tk));
    const z = logits.reduce((a, l) => a + Math.exp(l), 0);
    return logits.map((l) => Math.exp(l) / z);
  });
  const expectedLs = p.map((pi, i) => -Math.log(Math.max(...pi.map((x, k) => q[i][k] * x)))).reduce((a, b) => a + b, 0) / 3;
  // at s = 100 some sample's most likely class is a rejected one (what the FER+ code's 0.001 would pick)
  assert.ok(p.some((pi, i) => !accepted[i].includes(pi.indexOf(Math.max(...pi)))));
  const kStar = p.map((pi, i) => pi.map((x, k) => q[i][k] * x)).map((r) => r.indexOf(Math.max(...r)));
  for (const contrast of ['pairwise', 'per-sample'] as const) {
    const got = tfTerms(v, n, t, y, opts(contrast, N, s), q, 'multitarget');
    close(got.ls, expectedLs, 1e-5, `${contrast} Ls`);
    const asHard = tfTerms(v, n, t, kStar, opts(contrast, N, s));
    close(got.lt, asHard.lt, 1e-5, `${contrast} Lt`);
    close(got.lc, asHard.lc, 1e-5, `${contrast} Lc`);
    // Ls differs from the hard CE on k* only by -log(1) = 0 for accepted classes
    close(got.ls, asHard.ls, 1e-5, `${contrast} Ls = CE(k*)`);
  }
  assert.ok(kStar.every((k, i) => accepted[i].includes(k)));
});

test('--balance weights: Ls = sum w_y CE / sum w_y; weights n / (K n_class)', () => {
  const w = balancedClassWeights([0, 0, 0, 1], 3);
  assert.deepEqual(w, [4 / 6, 2, 0]);
  const t = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const v = [[3, 0, 4], [0, 1, 0]];
  const n = [[1, 1, 1], [1, 1, 1]];
  const r = tfTerms(v, n, t, [0, 1], opts('per-sample', 2, 2, [3, 1, 1]));
  const ce0 = Math.log(Math.exp(1.2) + 1 + Math.exp(1.6)) - 1.2;
  const ce1 = Math.log(1 + Math.exp(2) + 1) - 2;
  close(r.ls, (3 * ce0 + 1 * ce1) / 4, 1e-5, 'weighted Ls');
  const plain = tfTerms(v, n, t, [0, 1], opts('per-sample', 2, 2));
  close(r.lt, plain.lt, 1e-6, 'Lt unweighted');
  close(r.lc, plain.lc, 1e-6, 'Lc unweighted');
});

test('--balance sampler: every class drawn about equally often', () => {
  const labels = [...Array(90).fill(0), ...Array(9).fill(1), 2];
  const order = balancedOrder(labels, 3, 30000, new Rng(1));
  const freq = [0, 1, 2].map((c) => order.filter((i) => labels[i] === c).length / order.length);
  for (const f of freq) assert.ok(Math.abs(f - 1 / 3) < 0.02, `class frequency ${f}`);
});

// canonical vote order: surprise, fear, disgust, happiness, sadness, anger, neutral, contempt, unknown, NF
test('vote rules of the FER+ schemes on hand-worked vote vectors', () => {
  // fer0000000 (neutral 4, sadness 1, anger 3, disgust 2): no majority once the single vote goes (4 of 9)
  const a = [0, 0, 2, 0, 1, 3, 4, 0, 0, 0];
  assert.equal(voteDistribution(a, 'majority', 8), undefined);
  // crossentropy: neutral (4) then anger (3) reach 7 >= 0.75 x 9
  assert.deepEqual(voteDistribution(a, 'crossentropy', 8), [0, 0, 0, 0, 0, 3 / 7, 4 / 7, 0]);
  // multitarget: classes with >= 30% of 9 votes (2.7): neutral and anger
  assert.deepEqual(voteDistribution(a, 'multitarget', 8), [0, 0, 0, 0, 0, 3 / 7, 4 / 7, 0]);
  // fer0000001 (neutral 6, surprise 1, sadness 1, unknown 2): neutral holds 6 >= 0.75 x 8
  assert.deepEqual(voteDistribution([1, 0, 0, 0, 1, 0, 6, 0, 2, 0], 'crossentropy', 7), [0, 0, 0, 0, 0, 0, 1]);
  // unknown tied with an emotion after the top one: dropped from the distribution, the emotions stay
  assert.deepEqual(voteDistribution([3, 0, 0, 4, 0, 0, 0, 0, 3, 0], 'crossentropy', 8), [3 / 7, 0, 0, 4 / 7, 0, 0, 0, 0]);
  // five classes tied at 2 votes: more than 3 emotions, the image is dropped
  assert.equal(voteDistribution([2, 2, 2, 2, 2, 0, 0, 0, 0, 0], 'crossentropy', 8), undefined);
  // unknown on top: dropped in every scheme
  for (const s of ['majority', 'crossentropy', 'multitarget'] as const) assert.equal(voteDistribution([0, 0, 0, 2, 0, 0, 0, 0, 8, 0], s, 8), undefined);
  // 7 classes: contempt's share is removed and the rest renormalised
  assert.deepEqual(voteDistribution([0, 0, 0, 6, 0, 0, 0, 3, 0, 0], 'crossentropy', 7), [0, 0, 0, 1, 0, 0, 0]);
});

test('probability draws one label per sample and epoch from its distribution, reproducibly', () => {
  const classes: Dataset['classes'] = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
  const ds: Dataset = { format: 'ferplus', root: '/x', classes, samples: [{ id: 'a', path: 'a', label: 3, split: 'train', votes: [4, 0, 0, 6, 0, 0, 0, 0, 0, 0] }] };
  const targets = new TrainTargets(ds, 'probability', 7);
  let happy = 0;
  for (let epoch = 0; epoch < 4000; epoch++) happy += targets.batch([0], epoch, 0).labels[0] === 3 ? 1 : 0;
  assert.ok(Math.abs(happy / 4000 - 0.6) < 0.03, `happiness drawn ${happy / 4000}`);
  assert.deepEqual(targets.batch([0], 17, 2).labels, targets.batch([0], 17, 2).labels);
  // crossentropy gives the distribution itself; multitarget 1 on accepted classes, eps elsewhere
  assert.deepEqual(Array.from(new TrainTargets(ds, 'crossentropy', 7).batch([0], 0, 0).soft!.q).map((x) => +x.toFixed(6)), [0.4, 0, 0, 0.6, 0, 0, 0]);
  const mt = new TrainTargets(ds, 'multitarget', 7).batch([0], 0, 0).soft!;
  assert.equal(mt.kind, 'multitarget');
  assert.deepEqual(Array.from(mt.q), [1, 0, 0, 1, 0, 0, 0]);
});

test('a relabeled sample trains on its new label; a dataset without votes is refused', () => {
  const classes: Dataset['classes'] = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
  const ds: Dataset = { format: 'ferplus', root: '/x', classes, samples: [
    { id: 'a', path: 'a', label: 5, split: 'train', votes: [4, 0, 0, 6, 0, 0, 0, 0, 0, 0] }, // relabeled to anger
    { id: 'b', path: 'b', label: 3, split: 'train', votes: [4, 0, 0, 6, 0, 0, 0, 0, 0, 0] },
  ] };
  const t = new TrainTargets(ds, 'crossentropy', 1);
  assert.equal(t.relabeled, 1);
  assert.equal(t.withVotes, 1);
  assert.deepEqual(Array.from(t.batch([0], 0, 0).soft!.q), [0, 0, 0, 0, 0, 1, 0]);
  const plain: Dataset = { ...ds, format: 'folder', samples: ds.samples.map(({ votes: _v, ...s }) => s) };
  assert.throws(() => new TrainTargets(plain, 'crossentropy', 1), /--ferplus-labels crossentropy .* no sample of folder:\/x has any/);
  assert.doesNotThrow(() => new TrainTargets(plain, 'majority', 1));
});
