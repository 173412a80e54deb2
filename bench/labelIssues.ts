// Label-issue ranking benchmark: how well each signal, and the combined score, finds labels we flipped.
//   npm run bench:label-issues [-- --n 4000 --k 5 --epochs 10 --flip 0.1 --seed 1]
//   npm run bench:label-issues -- --real fer2013-vs-ferplus [...]: real label noise, bench/labelIssuesReal.ts
// FERPlus train (7 classes), a seeded random subset of n images; a fraction `flip` of their labels is
// changed at random (seeded) to a different class. Out-of-sample records come from k-fold cross-validation
// of a KE-FER head (linear projection + F_n, full KE-FER loss, src/engine/issues/featureHead.ts) on fixed,
// label-free HOG features of the 48x48 images (no trained encoder here: a CPU cannot train one in the
// bench's budget, and a label-free extractor keeps every record fully out-of-sample). Text embeddings are
// the labelled STAND-IN (Warriner VAD norms, not CLIP): gap and align depend on the text side.
// The combined score's logistic weights are cross-fitted: fit on one half of the records (their flips
// known), scored on the other half, and vice versa, so no record is scored by weights fit on its own flip.
import { readFile, writeFile } from 'node:fs/promises';
import { initBackend } from '../src/engine/backend/index.js';
import { loadDataset } from '../src/engine/data/index.js';
import type { SampleRecord } from '../src/engine/eval/types.js';
import {
  crossValidatedRecords, featureHeadFoldTrainer, fitIssueModel, hogFeatures, HOG_DIM, issueScore, normalisedRanks, rankAverage,
  computeSignals, suspicion, SIGNAL_NAMES, DEFAULT_NEUTRAL_INDEX, type IssueModel,
} from '../src/engine/issues/index.js';
import { promptFor, standinTextEmbeddings } from '../src/engine/text/index.js';
import { Rng } from '../src/engine/util/rng.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
function strArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const N = arg('n', 4000), K_FOLDS = arg('k', 5), EPOCHS = arg('epochs', 10), FLIP = arg('flip', 0.1), SEED = arg('seed', 1);
const root = process.env.KEFER_SHARED_DATA ?? '/work/shared/data';
const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(1);

/** FERPlus subset, flipped labels, k-fold out-of-sample records. */
async function outOfSampleRecords(): Promise<{ records: SampleRecord[]; flipped: boolean[] }> {
  const backend = await initBackend('wasm');
  const ds = await loadDataset(`ferplus:${root}/ferplus#train?classes=7`);
  const rng = new Rng(SEED);
  const subset = rng.shuffle(ds.samples.map((_, i) => i)).slice(0, Math.min(N, ds.samples.length)).sort((a, b) => a - b);
  const samples = subset.map((i) => ds.samples[i]);
  const K = ds.classes.length;
  const original = samples.map((s) => s.label);
  // Flip exactly round(FLIP * n) labels, each to a uniformly random different class.
  const flipRng = new Rng(SEED + 1000);
  const flipSet = new Set(flipRng.shuffle(samples.map((_, i) => i)).slice(0, Math.round(FLIP * samples.length)));
  const labels = original.map((y, i) => (flipSet.has(i) ? (y + 1 + flipRng.int(K - 1)) % K : y));
  const flipped = samples.map((_, i) => flipSet.has(i));
  console.log(`backend ${backend.name}; FERPlus train subset ${samples.length} of ${ds.samples.length} images, ${flipSet.size} labels flipped (${(100 * FLIP).toFixed(0)}%, seed ${SEED})`);

  const features = await hogFeatures({ ...ds, samples }, undefined, 8);
  console.log(`[${secs()} s] HOG features ${samples.length} x ${HOG_DIM}`);
  const text = standinTextEmbeddings(ds.classes, ds.classes.map(promptFor));
  const records = await crossValidatedRecords(labels, featureHeadFoldTrainer(features, samples, labels, {
    featureDim: HOG_DIM, classes: ds.classes, neutralIndex: DEFAULT_NEUTRAL_INDEX, textEmbeddings: text.matrix, epochs: EPOCHS, seed: SEED,
  }), { k: K_FOLDS, seed: SEED, onFold: (f, s) => console.log(`[${secs()} s] fold ${f.index + 1}/${f.k}: trained on ${f.train.length}, scored ${f.heldOut.length} in ${s.toFixed(1)} s`) });
  const acc = (ys: number[]) => records.filter((r, i) => r.pred === ys[i]).length / records.length;
  console.log(`out-of-sample accuracy: ${(100 * acc(original)).toFixed(1)}% vs original labels, ${(100 * acc(labels)).toFixed(1)}% vs given (flipped) labels`);
  return { records, flipped };
}

async function main(): Promise<void> {
  const real = strArg('real');
  if (real !== undefined) {
    if (real !== 'fer2013-vs-ferplus') throw new Error(`--real: the one real-noise benchmark is fer2013-vs-ferplus, got '${real}'`);
    const review = strArg('review')?.split(',').map(Number);
    if (review?.some((r) => !Number.isInteger(r) || r < 20)) throw new Error(`--review: expected spot-check sizes >= 20 (whole numbers, comma-separated), got '${strArg('review')}'`);
    const { realBench } = await import('./labelIssuesReal.js');
    await realBench({ n: arg('n', 0), k: K_FOLDS, epochs: arg('epochs', 8), seed: SEED, features: strArg('features') ?? 'hog', work: strArg('work') ?? '.kefer/bench-label-issues', root, closeLoop: arg('close-loop', 0), loopSeeds: strArg('loop-seeds')?.split(',').map(Number),
      review, reviewDraws: arg('review-draws', 5), loopRankings: strArg('loop-rankings')?.split(','), dupConflicts: process.argv.includes('--dup-conflicts') });
    return;
  }
  const load = strArg('load');
  let records: SampleRecord[];
  let flipped: boolean[];
  if (load) {
    // Re-evaluates saved records and their flips without retraining (for work on the combination).
    ({ records, flipped } = JSON.parse(await readFile(load, 'utf8')) as { records: SampleRecord[]; flipped: boolean[] });
    console.log(`loaded ${records.length} records from ${load}`);
  } else {
    ({ records, flipped } = await outOfSampleRecords());
    const save = strArg('save');
    if (save) await writeFile(save, JSON.stringify({ records, flipped }));
  }
  const flips = new Set(flipped.flatMap((f, i) => (f ? [i] : [])));

  // Cross-fitted logistic combination: two halves stratified by flip status.
  const halfRng = new Rng(SEED + 2000);
  const half = new Array<number>(records.length);
  for (const group of [true, false]) {
    const idx = halfRng.shuffle(records.map((_, i) => i).filter((i) => flipped[i] === group));
    idx.forEach((i, j) => (half[i] = j % 2));
  }
  const combined = new Array<number>(records.length);
  const models: IssueModel[] = [];
  for (const h of [0, 1]) {
    const fitIdx = records.map((_, i) => i).filter((i) => half[i] === h);
    const model = fitIssueModel(fitIdx.map((i) => records[i]), fitIdx.map((i) => flipped[i]), { fittedOn: `half ${h}` });
    models.push(model);
    records.forEach((r, i) => {
      if (half[i] !== h) combined[i] = issueScore(r, { neutralIndex: DEFAULT_NEUTRAL_INDEX, model });
    });
  }
  const all = fitIssueModel(records, flipped, { fittedOn: `bench:label-issues FERPlus n=${records.length}, ${flips.size} flips, seed ${SEED}` });

  const signals = records.map((r: SampleRecord) => computeSignals(r));
  const columns = SIGNAL_NAMES.map((n) => signals.map((s) => suspicion(s, n)));
  // Signals alone are ranked by their normalised rank (missing gap / align of neutral labels sit at 0.5).
  const rows: [string, number[]][] = [
    ...SIGNAL_NAMES.map((n, j) => [n === 'selfConfidence' ? 'self-confidence (baseline)' : n === 'margin' ? 'normalised margin' : n === 'gap' ? 'KE-FER gap' : 'KE-FER align', normalisedRanks(columns[j])] as [string, number[]]),
    ['rank average (4 signals, no fit)', rankAverage(columns)],
    ['combined: logistic, cross-fitted', combined],
  ];

  function topK(score: number[], k: number): number {
    const order = score.map((_, i) => i).sort((a, b) => score[b] - score[a] || a - b);
    return order.slice(0, k).filter((i) => flipped[i]).length;
  }
  function auroc(score: number[]): number {
    const r = normalisedRanks(score);
    const pos = r.filter((_, i) => flipped[i]);
    const m = r.length - 1;
    const nPos = pos.length, nNeg = r.length - nPos;
    // Mann-Whitney U from ranks (1-based rank = r * m + 1).
    const sumRanks = pos.reduce((s, x) => s + x * m + 1, 0);
    return (sumRanks - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
  }

  const F = flips.size;
  const ks = [F, 100, 500];
  const base = rows[0][1];
  const baseHits = ks.map((k) => topK(base, k));
  const baseAuc = auroc(base);
  console.log(`\n[${secs()} s] ${records.length} out-of-sample records, ${F} flipped. precision@k = flipped among the top k; recall@k = found / ${F}; ratio = / self-confidence in this run`);
  console.log(`| signal | ${ks.map((k, j) => `P@${k}${j === 0 ? ' (=#flips)' : ''} | R@${k}`).join(' | ')} | AUROC |`);
  console.log(`|---|${ks.map(() => '---|---').join('|')}|---|`);
  for (const [name, score] of rows) {
    const cells = ks.map((k, j) => {
      const hits = topK(score, k);
      const ratio = baseHits[j] ? ` (x${(hits / baseHits[j]).toFixed(2)})` : '';
      return `${(hits / k).toFixed(3)}${ratio} | ${(hits / F).toFixed(3)}`;
    });
    const auc = auroc(score);
    console.log(`| ${name} | ${cells.join(' | ')} | ${auc.toFixed(3)} (x${(auc / baseAuc).toFixed(2)}) |`);
  }
  console.log(`\nlogistic weights [${['selfConfidence', 'margin', 'gap', 'align', 'neutralLabel'].join(', ')}] + bias:`);
  for (const m of [...models, all]) console.log(`  ${m.fittedOn}: [${m.weights.join(', ')}] bias ${m.bias}`);
  console.log(`\nmodel fit on all records (candidate DEFAULT_ISSUE_MODEL):\n${JSON.stringify(all)}`);
  console.log(`\ntotal ${secs()} s`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
