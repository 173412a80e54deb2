// Label-issue ranking: signals on hand-built records, the combined score's ordering, stratified folds,
// and a small end-to-end k-fold on synthetic faces where flipped labels must rank above the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend } from '../../src/engine/backend/index.js';
import { generateSyntheticDataset, loadDataset } from '../../src/engine/data/index.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import {
  computeSignals, crossValidatedRecords, DEFAULT_ISSUE_CONTEXT, DEFAULT_ISSUE_MODEL, featureHeadFoldTrainer, fitIssueModel, foldsOf,
  hogFeatures, HOG_DIM, issueContext, issueScore, normalisedRanks, rankAverage, rankIssues, SignalStatsAccumulator, signalStats,
  stratifiedFolds, suspicion, type IssueContext,
} from '../../src/engine/issues/index.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { Rng } from '../../src/engine/util/rng.js';

const close = (a: number | null, b: number, msg?: string) => assert.ok(a !== null && Math.abs(a - b) < 1e-9, `${msg ?? ''} ${a} != ${b}`);

function rec(id: string, label: number, probs: number[], simText: number, simNeutral: number, align: number | null): SampleRecord {
  const pred = probs.indexOf(Math.max(...probs));
  return { id, path: `${id}.png`, split: 'train', label, pred, probs, simText, simNeutral, gap: simText - simNeutral, align };
}

// Three classes, neutral = 2.
const confident = rec('a', 0, [0.6, 0.3, 0.1], 0.5, 0.2, 0.8);
const doubtful = rec('b', 1, [0.7, 0.2, 0.1], 0.1, 0.3, -0.4);
const neutralRec = rec('c', 2, [0.1, 0.1, 0.8], 0.4, 0.4, 0.5);

test('signals of hand-built records', () => {
  const a = computeSignals(confident, 2);
  close(a.selfConfidence, 0.6);
  close(a.margin, 0.3, 'margin = 0.6 - 0.3');
  close(a.gap, 0.3, 'gap = 0.5 - 0.2');
  close(a.align, 0.8);
  assert.equal(a.neutral, false);
  close(suspicion(a, 'selfConfidence'), 0.4);
  close(suspicion(a, 'margin'), 0.35, '(1 - 0.3) / 2');
  close(suspicion(a, 'gap'), -0.3);
  close(suspicion(a, 'align'), 0.1, '(1 - 0.8) / 2');

  const b = computeSignals(doubtful, 2);
  close(b.selfConfidence, 0.2);
  close(b.margin, -0.5, 'margin = 0.2 - 0.7 (the best other class)');
  close(b.gap, -0.2);
  close(b.align, -0.4);
  close(suspicion(b, 'margin'), 0.75);

  // Neutral label: t_y = t_N, the gap and alignment are undefined, whatever the record holds.
  const c = computeSignals(neutralRec, 2);
  assert.equal(c.neutral, true);
  assert.equal(c.gap, null);
  assert.equal(c.align, null);
  assert.equal(suspicion(c, 'gap'), null);
  close(c.margin, 0.7);
  assert.throws(() => computeSignals({ ...confident, label: 3 }, 2), /not a class index/);
});

const unitStats = { mean: { selfConfidence: 0, margin: 0, gap: 0, align: 0 }, std: { selfConfidence: 1, margin: 1, gap: 1, align: 1 }, n: 0 };

test('combined score: larger for the record worse on every signal; each weight acts on its own signal', () => {
  const ctx: IssueContext = { neutralIndex: 2, model: { weights: [1, 1, 1, 1, 0], bias: 0, stats: unitStats, fittedOn: 'test' } };
  assert.ok(issueScore(doubtful, ctx) > issueScore(confident, ctx));
  // By hand for `confident`: -log 0.6 + (log 0.3 - log 0.6) + (-0.3) + (1 - 0.8) / 2 = -log 0.6 - log 2 - 0.2.
  const t = -Math.log(0.6) - Math.log(2) - 0.2;
  close(issueScore(confident, ctx), 1 / (1 + Math.exp(-t)));
  // Only the gap weighted: the ordering follows the gap alone.
  const gapOnly: IssueContext = { ...ctx, model: { ...ctx.model, weights: [0, 0, 1, 0, 0] } };
  const lowGap = { ...confident, id: 'd', simText: 0.1, simNeutral: 0.4 };
  assert.ok(issueScore(lowGap, gapOnly) > issueScore(confident, gapOnly));
  // A neutral record's missing gap/align count as average (0 after standardising), not as bad.
  close(issueScore(neutralRec, gapOnly), 0.5);
  // The shipped model's signal weights are non-negative, so the default score is monotone too.
  assert.ok(DEFAULT_ISSUE_MODEL.weights.slice(0, 4).every((w) => w >= 0));
  assert.ok(issueScore(doubtful, { ...DEFAULT_ISSUE_CONTEXT, neutralIndex: 2 }) > issueScore(confident, { ...DEFAULT_ISSUE_CONTEXT, neutralIndex: 2 }));

  const ranked = rankIssues([confident, doubtful, neutralRec], ctx);
  assert.deepEqual(ranked.map((r) => r.record.id), ['b', 'a', 'c'], 'c: neutral, fairly confident, average gap/align')
  assert.equal(ranked[0].record.id, 'b');
  assert.deepEqual(ranked.map((r) => r.rank), [1, 2, 3]);
  assert.ok(ranked[0].score >= ranked[1].score && ranked[1].score >= ranked[2].score);
});

test('run statistics: streaming accumulator equals the batch one; standardisation uses them', () => {
  const recs = [confident, doubtful, neutralRec];
  const acc = new SignalStatsAccumulator(2);
  recs.forEach((r) => acc.add(r));
  const s = acc.finish();
  assert.deepEqual(s, signalStats(recs, 2));
  close(s.mean.selfConfidence, -(Math.log(0.6) + Math.log(0.2) + Math.log(0.8)) / 3, 'mean of -log p(y|x)');
  close(s.mean.gap, (-0.3 + 0.2) / 2, 'neutral row skipped');
  const ctx = issueContext(recs, { neutralIndex: 2 });
  assert.equal(ctx.stats?.n, 3);
});

test('normalised ranks and rank average', () => {
  assert.deepEqual(normalisedRanks([3, 1, 2, null]), [1, 0, 0.5, 0.5]);
  assert.deepEqual(normalisedRanks([1, 1, 2]), [0.25, 0.25, 1]);
  assert.deepEqual(rankAverage([[3, 1, 2], [1, 2, 3]]), [0.5, 0.25, 0.75]);
});

test('fitIssueModel finds the informative signal and keeps signal weights non-negative', () => {
  // Flips are exactly the records with a low gap; self-confidence is pure noise.
  const rng = new Rng(5);
  const recs: SampleRecord[] = [];
  const flips: boolean[] = [];
  for (let i = 0; i < 400; i++) {
    const flip = i % 5 === 0;
    const p = 0.2 + 0.6 * rng.next();
    const gap = flip ? -0.2 + 0.1 * rng.normal() : 0.3 + 0.1 * rng.normal();
    recs.push(rec(`s${i}`, 0, [p, (1 - p) / 2, (1 - p) / 2], 0.3 + gap, 0.3, 0.2 * rng.normal()));
    flips.push(flip);
  }
  const m = fitIssueModel(recs, flips, { neutralIndex: 2 });
  assert.ok(m.weights.slice(0, 4).every((w) => w >= 0), `weights ${m.weights}`);
  assert.ok(m.weights[2] > 1 && m.weights[2] > 3 * Math.max(m.weights[0], m.weights[1], m.weights[3]), `gap should dominate: ${m.weights}`);
  const ctx = { neutralIndex: 2, model: m };
  const meanScore = (f: boolean) => recs.filter((_, i) => flips[i] === f).reduce((s, r) => s + issueScore(r, ctx), 0) / flips.filter((x) => x === f).length;
  assert.ok(meanScore(true) > meanScore(false) + 0.5);
});

test('stratified folds are disjoint, cover every sample, balance classes, and follow the seed', () => {
  const rng = new Rng(3);
  const labels = Array.from({ length: 103 }, () => Math.floor(rng.next() ** 2 * 4)); // imbalanced
  const k = 5;
  const a = stratifiedFolds(labels, k, 11);
  assert.deepEqual(a, stratifiedFolds(labels, k, 11));
  assert.notDeepEqual(a, stratifiedFolds(labels, k, 12));
  const folds = foldsOf(a, k);
  const seen = new Set<number>();
  for (const f of folds) {
    for (const i of f.heldOut) {
      assert.ok(!seen.has(i), `sample ${i} held out twice`);
      seen.add(i);
    }
    const held = new Set(f.heldOut);
    assert.ok(f.train.every((i) => !held.has(i)));
    assert.equal(f.train.length + f.heldOut.length, labels.length);
    assert.ok(Math.abs(f.heldOut.length - labels.length / k) <= 1);
  }
  assert.equal(seen.size, labels.length);
  for (let c = 0; c < 4; c++) {
    const counts = folds.map((f) => f.heldOut.filter((i) => labels[i] === c).length);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `class ${c} per fold: ${counts}`);
  }
  assert.throws(() => stratifiedFolds(labels, 1, 0), /k >= 2/);
});

test('crossValidatedRecords puts each held-out record back at its sample', async () => {
  const labels = [0, 1, 0, 1, 0, 1, 0, 1, 2, 2];
  const recs = await crossValidatedRecords(labels, async (fold) => {
    const train = new Set(fold.train);
    assert.ok(fold.heldOut.every((i) => !train.has(i)));
    return fold.heldOut.map((i) => rec(String(i), labels[i], [0.4, 0.3, 0.3], 0, 0, null));
  }, { k: 3, seed: 1 });
  assert.deepEqual(recs.map((r) => r.id), labels.map((_, i) => String(i)));
  await assert.rejects(crossValidatedRecords(labels, async () => [], { k: 2 }), /returned 0 records/);
});

test('end to end: k-fold on synthetic faces ranks deliberately flipped labels above the rest', async () => {
  await initBackend('wasm');
  const dir = await mkdtemp(path.join(tmpdir(), 'kefer-issues-'));
  try {
    await generateSyntheticDataset(dir, { perClass: 36, classes: 7, seed: 4, size: 48 });
    const ds = await loadDataset(`synthetic:${dir}#train`);
    const K = ds.classes.length;
    const rng = new Rng(8);
    const flipIdx = new Set(rng.shuffle(ds.samples.map((_, i) => i)).slice(0, Math.round(0.12 * ds.samples.length)));
    const labels = ds.samples.map((s, i) => (flipIdx.has(i) ? (s.label + 1 + rng.int(K - 1)) % K : s.label));
    const features = await hogFeatures(ds);
    const text = standinTextEmbeddings(ds.classes, ds.classes);
    const records = await crossValidatedRecords(labels, featureHeadFoldTrainer(features, ds.samples, labels, {
      featureDim: HOG_DIM, classes: ds.classes, neutralIndex: ds.classes.indexOf('neutral'), textEmbeddings: text.matrix, epochs: 12, batchSize: 32, seed: 2,
    }), { k: 3, seed: 2 });
    assert.equal(records.length, ds.samples.length);
    assert.deepEqual(records.map((r) => r.id), ds.samples.map((s) => s.id));
    assert.deepEqual(records.map((r) => r.label), labels, 'records carry the labels as given');
    const ctx = issueContext(records);
    const score = records.map((r) => issueScore(r, ctx));
    const mean = (f: boolean) => score.filter((_, i) => flipIdx.has(i) === f).reduce((a, b) => a + b, 0) / score.filter((_, i) => flipIdx.has(i) === f).length;
    const conf = (f: boolean) => records.filter((_, i) => flipIdx.has(i) === f).reduce((a, r) => a + r.probs[r.label], 0) / records.filter((_, i) => flipIdx.has(i) === f).length;
    assert.ok(mean(true) > mean(false), `mean issue score flipped ${mean(true).toFixed(3)} vs unflipped ${mean(false).toFixed(3)}`);
    assert.ok(conf(true) < conf(false), 'out-of-sample p(y|x) is lower for flipped labels');
    // Top-ranked half of the flips' count holds more flips than chance (12%).
    const ranked = rankIssues(records, ctx);
    const top = ranked.slice(0, flipIdx.size);
    const hits = top.filter((r) => flipIdx.has(ds.samples.findIndex((s) => s.id === r.record.id))).length;
    console.log(`# synthetic k-fold: mean issue score flipped ${mean(true).toFixed(3)} vs ${mean(false).toFixed(3)}; p(y|x) ${conf(true).toFixed(3)} vs ${conf(false).toFixed(3)}; precision@${top.length} ${(hits / top.length).toFixed(2)} (chance 0.12)`);
    assert.ok(hits / top.length > 0.24, `precision@${top.length} = ${(hits / top.length).toFixed(2)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
