// Real label noise: rank FER2013's ORIGINAL training labels and score every ranker against the FER+
// re-annotation of the same images (src/engine/issues/ferplusTruth.ts).
//   npm run bench:label-issues -- --real fer2013-vs-ferplus [--n N] [--k 5] [--epochs 8] [--seed 1]
//        [--features hog | --features checkpoint:RUN/checkpoints/best | --features backbone:compact] [--work DIR] [--close-loop N [--loop-seeds 1,2,3]]
//        [--review 100,300 [--review-draws 5]] [--loop-rankings calibrated,selfConfidence] [--dup-conflicts]
// Issue = the FER+ majority is another class than FER2013's label, or FER+'s majority is unknown /
// not-a-face (reported separately). Images without a FER+ majority are trained on and ranked but left
// out of the scoring (neither issue nor clean). Out-of-sample records: k-fold cross-validation of the
// KE-FER head (featureHead.ts) on label-free features. The combined score is reported with its shipped
// weights (fit on planted flips, no FER+ information) and refit by fold: for fold f, the logistic
// weights are fit on the other folds' records against FER+ truth and only score fold f.
import path from 'node:path';
import type { SampleRecord } from '../src/engine/eval/types.js';
import { computeFeatures } from '../src/engine/onnx/features.js';
import { readCheckpointConfig } from '../src/engine/model/checkpoint.js';
import { loadDataset } from '../src/engine/data/index.js';
import type { ClassName } from '../src/engine/classes.js';
import {
  auroc, columnStats, crossValidatedRecords, featureHeadFoldTrainer, fitIssueModel, foldsOf, hogRows, HOG_DIM, orderByScore, standardiseWith, trainAndScore, issueContext, issueScoreOfSignals, computeSignals,
  loadFer2013WithFerplusTruth, precisionAt, rankerScores, recallAt, stratifiedFolds, DEFAULT_NEUTRAL_INDEX, RANKER_DESCRIPTIONS, type ColumnStats, type FerplusTruth, type FerplusVerdict, type RankerName,
} from '../src/engine/issues/index.js';
import { initBackend } from '../src/engine/backend/index.js';
import type { Dataset } from '../src/engine/data/types.js';
import { promptFor, standinTextEmbeddings } from '../src/engine/text/index.js';
import { Rng } from '../src/engine/util/rng.js';
import { runCrossValidation } from '../src/engine/issues/crossvalRun.js';
import type { BackboneName } from '../src/engine/model/index.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/engine/train/trainer.js';
import { reviewSection } from './labelIssuesReview.js';
import { findDuplicates } from '../src/engine/dups/index.js';
import { duplicateConflictScores, withDuplicateConflicts } from '../src/engine/issues/index.js';

/** The duplicate-conflict signal on the ranked images: near clusters (exact copies included) whose FER2013 labels differ. */
async function dupConflictSignal(ds: Dataset, truth: FerplusVerdict[], secs: () => string): Promise<number[]> {
  const r = await findDuplicates(ds, { tiers: ['near'] });
  const near = r.tiers[0];
  const share = duplicateConflictScores(ds.samples.length, near.clusters, ds.samples.map((s) => s.label));
  const flagged = share.map((x, i) => (x > 0 ? i : -1)).filter((i) => i >= 0);
  const issues = flagged.filter((i) => truth[i] === 'disagree' || truth[i] === 'unknown' || truth[i] === 'not-a-face').length;
  const scored = flagged.filter((i) => truth[i] !== 'no-majority').length;
  console.log(`[${secs()} s] duplicate conflicts: ${near.clusters.length} near clusters (threshold ${near.threshold.value}) in ${(r.fingerprintSeconds + near.seconds).toFixed(0)} s; ${flagged.length} images in clusters whose FER2013 labels differ; FER+ calls ${issues} of the ${scored} scored ones issues (${(100 * issues / Math.max(scored, 1)).toFixed(1)}%)`);
  return share;
}

export interface RealBenchArgs {
  n: number;
  k: number;
  epochs: number;
  seed: number;
  features: string;
  work: string;
  root: string;
  /** Relabel the top N by FER+ (vs N random), retrain, FERPlus test WAR before / after; 0 = skip. */
  closeLoop: number;
  /** Seeds of the retraining in the closing-the-loop step (default: the run's seed). */
  loopSeeds?: number[];
  /** Only these rankings (name prefixes) in the closing-the-loop step; default all. */
  loopRankings?: string[];
  /** Spot-check sizes for the review-calibrated ranking (labelIssuesReview.ts); empty = skip. */
  review?: number[];
  /** Random spot-checks per size (default 5). */
  reviewDraws?: number;
  /** Add the duplicate-conflict signal (exact + near clusters of the training images, src/engine/dups). */
  dupConflicts?: boolean;
}

const pct = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
const ratio = (x: number, b: number) => (b > 0 && Number.isFinite(x) ? ` (x${(x / b).toFixed(2)})` : '');
const clRatio = (x: number, b: number) => (b > 0 && Number.isFinite(x) ? ` [cl x${(x / b).toFixed(2)}]` : '');

export async function realBench(a: RealBenchArgs): Promise<void> {
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(0);
  const backend = await initBackend('wasm');
  const full = await loadFer2013WithFerplusTruth(path.join(a.root, 'ferplus'), 'train');
  let keep = full.dataset.samples.map((_, i) => i);
  if (a.n > 0 && a.n < keep.length) keep = new Rng(a.seed).shuffle(keep).slice(0, a.n).sort((x, y) => x - y);
  const ds: Dataset = { ...full.dataset, samples: keep.map((i) => full.dataset.samples[i]) };
  const truth = keep.map((i) => full.truth[i]);
  const labels = ds.samples.map((s) => s.label);
  console.log(`backend ${backend.name}; FER2013 train (original labels) ${ds.samples.length} of ${full.dataset.samples.length} images; k=${a.k}, epochs ${a.epochs}, seed ${a.seed}, features ${a.features}`);

  // Fold results are kept for resuming, one folder per feature source, sample count and epoch count.
  const cvDir = path.join(a.work, `cv-${a.features.replace(/[^a-z0-9]+/gi, '_')}-n${ds.samples.length}-e${a.epochs}`);
  const text = standinTextEmbeddings(ds.classes, ds.classes.map(promptFor));
  if (a.features.startsWith('backbone:')) {
    // The whole KE-FER model per fold (kefer issues --cross-val --backbone): the CNN's own out-of-fold
    // probabilities and signals, not a head on fixed features. Same stratified folds as the head modes.
    if (a.closeLoop > 0) throw new Error('--close-loop retrains the head on features: use it with --features hog or checkpoint:DIR');
    const backbone = a.features.slice('backbone:'.length) as BackboneName;
    const config: TrainConfig = {
      ...DEFAULT_TRAIN_CONFIG, backbone, inputSize: backbone === 'compact' ? 48 : 112, epochs: a.epochs, batchSize: 32, lr: 0.02, logitScale: 16,
      warmupEpochs: 0, augment: 'affine', seed: a.seed,
    };
    console.log(`model per fold: ${backbone} ${config.inputSize}px, ${a.epochs} epochs, batch 32, lr 0.02, logit scale 16, --augment affine, stand-in text (the accuracy record's settings, fewer epochs)`);
    const records = await runCrossValidation({
      dataset: ds, mode: { kind: 'backbone', config, backend }, text, k: a.k, seed: a.seed, dir: cvDir,
      onEvent: (e) => {
        if (e.type === 'fold-done') console.log(`[${secs()} s] fold ${e.fold}/${e.k}: ${e.resumed ? 'read back' : `done in ${e.seconds.toFixed(0)} s`}`);
        else if (e.type === 'train' && e.event.type === 'epoch') console.log(`[${secs()} s] fold ${e.fold} epoch ${e.event.epoch}: train loss ${e.event.trainLoss.toFixed(3)}`);
      },
    });
    report(records, truth.map((t) => t.verdict), labels, ds.classes, a, secs, a.dupConflicts ? await dupConflictSignal(ds, truth.map((t) => t.verdict), secs) : undefined);
    return;
  }
  // Raw features, standardised with the training images' statistics (label-free); the test split of the
  // closing-the-loop step gets the same transform.
  let raw: (d: Dataset) => Promise<Float32Array>;
  let dim: number;
  if (a.features === 'hog') {
    raw = (d) => hogRows(d, undefined, 8);
    dim = HOG_DIM;
  } else if (a.features.startsWith('checkpoint:')) {
    const ckpt = a.features.slice('checkpoint:'.length);
    raw = async (d) => (await computeFeatures(ckpt, d, { cacheDir: path.join(a.work, 'feature-cache') })).features;
    dim = (await readCheckpointConfig(ckpt)).featureDim ?? 512;
  } else throw new Error(`--features: expected hog or checkpoint:DIR, got '${a.features}'`);
  const rawTrain = await raw(ds);
  const stats = columnStats(rawTrain, dim);
  const features = standardiseWith(rawTrain, dim, stats);
  console.log(`[${secs()} s] features ${ds.samples.length} x ${dim}`);

  const records = await crossValidatedRecords(labels, featureHeadFoldTrainer(features, ds.samples, labels, {
    featureDim: dim, classes: ds.classes, neutralIndex: DEFAULT_NEUTRAL_INDEX, textEmbeddings: text.matrix, epochs: a.epochs, seed: a.seed,
  }), {
    k: a.k, seed: a.seed, dir: cvDir, ids: ds.samples.map((s) => s.id),
    onFold: (f, s, resumed) => console.log(`[${secs()} s] fold ${f.index + 1}/${f.k}: ${resumed ? 'read back' : `trained on ${f.train.length}, scored ${f.heldOut.length} in ${s.toFixed(0)} s`}`),
  });
  const dupConflict = a.dupConflicts ? await dupConflictSignal(ds, truth.map((t) => t.verdict), secs) : undefined;
  const { rankings } = report(records, truth.map((t) => t.verdict), labels, ds.classes, a, secs, dupConflict);
  if (a.closeLoop > 0) await closeLoop(a, ds, truth, features, stats, raw, dim, rankings, secs);
}

/**
 * Closing the loop, measured: relabel the top N of a ranking by the FER+ majority (a stand-in for a user
 * accepting suggestions; unknown / not-a-face / contempt images are excluded, images without a FER+
 * majority keep their label), retrain the same head on all training images, and score the FERPlus test
 * split (FER+ majority labels, 7 classes). Against: no change, and N random images relabelled the same way.
 */
async function closeLoop(
  a: RealBenchArgs, ds: Dataset, truth: FerplusTruth[], trainF: Float32Array, stats: ColumnStats, raw: (d: Dataset) => Promise<Float32Array>,
  dim: number, rankings: Record<string, number[]>, secs: () => string,
): Promise<void> {
  const test = await loadDataset(`ferplus:${path.join(a.root, 'ferplus')}#test?classes=7`);
  const testF = standardiseWith(await raw(test), dim, stats);
  const N = ds.samples.length;
  const allF = new Float32Array((N + test.samples.length) * dim);
  allF.set(trainF, 0);
  allF.set(testF, N * dim);
  const samples = [...ds.samples, ...test.samples];
  const testIdx = test.samples.map((_, j) => N + j);
  const text = standinTextEmbeddings(ds.classes, ds.classes.map(promptFor));
  const corrected = (i: number): number | null => {
    const t = truth[i];
    if (t.verdict === 'agree' || t.verdict === 'no-majority') return ds.samples[i].label;
    const k = t.majority ? ds.classes.indexOf(t.majority as ClassName) : -1;
    return k >= 0 ? k : null; // unknown, NF, contempt: excluded
  };
  const variants: [string, number[]][] = [
    ['no relabelling (original FER2013 labels)', []],
    ...Object.entries(rankings).filter(([name]) => !a.loopRankings || a.loopRankings.some((p) => name.startsWith(p)))
      .map(([name, score]) => [`top ${a.closeLoop} by ${name}`, orderByScore(score).slice(0, a.closeLoop)] as [string, number[]]),
    [`${a.closeLoop} random`, new Rng(a.seed + 77).shuffle(ds.samples.map((_, i) => i)).slice(0, a.closeLoop)],
  ];
  console.log(`\n[${secs()} s] closing the loop: relabel N = ${a.closeLoop} by FER+, retrain the head (${a.epochs} epochs) on all ${N} training images, FERPlus test (${test.samples.length} images, FER+ labels)`);
  const seeds = a.loopSeeds?.length ? a.loopSeeds : [a.seed];
  console.log(`retraining seeds: ${seeds.join(', ')}`);
  console.log('| training labels | seed | changed | excluded | real issues among the N | test WAR | test UAR |');
  console.log('|---|---|---|---|---|---|---|');
  const base = new Map<number, number>();
  for (const seed of seeds) for (const [name, picked] of variants) {
    const labels = [...ds.samples.map((s) => s.label), ...test.samples.map((s) => s.label)];
    const excluded = new Set<number>();
    let changed = 0;
    for (const i of picked) {
      const c = corrected(i);
      if (c === null) excluded.add(i);
      else if (c !== labels[i]) {
        labels[i] = c;
        changed++;
      }
    }
    const realIssues = picked.filter((i) => truth[i].verdict !== 'agree' && truth[i].verdict !== 'no-majority').length;
    const trainIdx = ds.samples.map((_, i) => i).filter((i) => !excluded.has(i));
    const recs = await trainAndScore(allF, samples, labels, trainIdx, testIdx, {
      featureDim: dim, classes: ds.classes, neutralIndex: DEFAULT_NEUTRAL_INDEX, textEmbeddings: text.matrix, epochs: a.epochs, seed,
    });
    const war = recs.filter((r) => r.pred === r.label).length / recs.length;
    const per = ds.classes.map((_, k) => {
      const inK = recs.filter((r) => r.label === k);
      return inK.length ? inK.filter((r) => r.pred === k).length / inK.length : NaN;
    }).filter(Number.isFinite);
    const uar = per.reduce((s, x) => s + x, 0) / per.length;
    if (!base.has(seed)) base.set(seed, war);
    const d = war - base.get(seed)!;
    console.log(`| ${name} | ${seed} | ${changed} | ${excluded.size} | ${picked.length ? realIssues : '-'} | ${(100 * war).toFixed(2)}% (${d >= 0 ? '+' : ''}${(100 * d).toFixed(2)} pt) | ${(100 * uar).toFixed(2)}% |`);
  }
  console.log(`[${secs()} s] closing the loop done`);
}

export function report(
  records: SampleRecord[], verdicts: FerplusVerdict[], labels: number[], classes: readonly string[], a: Pick<RealBenchArgs, 'k' | 'seed' | 'review' | 'reviewDraws'>, secs: () => string,
  dupConflict?: number[],
): { rankings: Record<string, number[]> } {
  const n = records.length;
  const acc = records.filter((r) => r.pred === r.label).length / n;
  console.log(`out-of-sample accuracy against FER2013's original labels: ${(100 * acc).toFixed(1)}%`);
  const { scores, cl } = rankerScores(records);

  // Combined score refit by fold against FER+ truth: fold f is scored by weights fit on the other folds.
  const folds = foldsOf(stratifiedFolds(labels, a.k, a.seed), a.k);
  const scoredPos = records.map((_, i) => i).filter((i) => verdicts[i] !== 'no-majority');
  const isIssue = verdicts.map((v) => v === 'disagree' || v === 'unknown' || v === 'not-a-face');
  const refit = new Array<number>(n).fill(0);
  const weights: string[] = [];
  for (const f of folds) {
    const fitIdx = f.train.filter((i) => verdicts[i] !== 'no-majority');
    const model = fitIssueModel(fitIdx.map((i) => records[i]), fitIdx.map((i) => isIssue[i]), { fittedOn: `FER+ truth, folds other than ${f.index + 1}` });
    weights.push(`fold ${f.index + 1}: [${model.weights.join(', ')}] bias ${model.bias}`);
    const ctx = issueContext(records, { model });
    for (const i of f.heldOut) refit[i] = issueScoreOfSignals(computeSignals(records[i]), ctx);
  }
  const rows: [string, number[]][] = [
    ...(['selfConfidence', 'margin', 'confidentLearning', 'gap', 'align', 'rankAverage', 'combined'] as RankerName[]).map((r) => [r === 'combined' ? 'combined (shipped weights)' : r, scores[r]] as [string, number[]]),
    ['combined (refit by fold on FER+)', refit],
    ...(dupConflict ? [
      ['duplicate conflict alone (share of near-duplicate mates labelled otherwise)', dupConflict],
      ['self-confidence + duplicate conflict', withDuplicateConflicts(scores.selfConfidence, dupConflict)],
      ['combined (shipped) + duplicate conflict', withDuplicateConflicts(scores.combined, dupConflict)],
      ['combined (refit) + duplicate conflict', withDuplicateConflicts(refit, dupConflict)],
    ] as [string, number[]][] : []),
  ];

  // Scoring: only images with a FER+ majority.
  const sub = (s: number[]) => scoredPos.map((i) => s[i]);
  const truthAll = sub(isIssue.map((x) => (x ? 1 : 0))).map(Boolean);
  const truthDis = scoredPos.map((i) => verdicts[i] === 'disagree');
  const truthUnk = scoredPos.map((i) => verdicts[i] === 'unknown' || verdicts[i] === 'not-a-face');
  const nIssues = truthAll.filter(Boolean).length;
  const kEst = Math.round((cl.estimatedIssues * scoredPos.length) / n);
  const counts = { agree: 0, disagree: 0, unknown: 0, 'not-a-face': 0, 'no-majority': 0 } as Record<string, number>;
  for (const v of verdicts) counts[v]++;
  console.log(`\n[${secs()} s] ${n} ranked; FER+ verdicts: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`scored: ${scoredPos.length} (with a FER+ majority); issues ${nIssues} = disagree ${counts.disagree} + unknown ${counts.unknown} + not-a-face ${counts['not-a-face']} (${(100 * nIssues / scoredPos.length).toFixed(1)}%)`);
  console.log(`confident learning estimates ${cl.estimatedIssues} issues of ${n} (${(100 * cl.estimatedIssues / n).toFixed(1)}%); k_est on the scored set = ${kEst}`);

  const ks = [100, 500, 1000, 2000];
  const base = rows[0][1];
  const cols = (s: number[]) => {
    const ss = sub(s);
    return { p: ks.map((k) => precisionAt(ss, truthAll, k)), r: recallAt(ss, truthAll, kEst), rTrue: recallAt(ss, truthAll, nIssues), auc: auroc(ss, truthAll), aucDis: auroc(ss, truthDis), rUnk: recallAt(ss, truthUnk, kEst) };
  };
  const b = cols(base);
  const clc = cols(scores.confidentLearning);
  console.log(`\nratios: (x...) against self-confidence in this run; [cl x...] against confident learning`);
  console.log(`| ranker | ${ks.map((k) => `P@${k}`).join(' | ')} | R@k_est (${kEst}) | R@#issues (${nIssues}) | AUROC | AUROC disagree only | R@k_est of unknown/NF only |`);
  console.log(`|---|${ks.map(() => '---').join('|')}|---|---|---|---|---|`);
  for (const [name, s] of rows) {
    const c = cols(s);
    const p = c.p.map((x, j) => `${pct(x)}${ratio(x, b.p[j])}${j === 2 ? clRatio(x, clc.p[j]) : ''}`);
    console.log(`| ${name} | ${p.join(' | ')} | ${pct(c.r)}${ratio(c.r, b.r)} | ${pct(c.rTrue)}${ratio(c.rTrue, b.rTrue)} | ${pct(c.auc)}${ratio(c.auc, b.auc)} ${clRatio(c.auc, clc.auc)} | ${pct(c.aucDis)} | ${pct(c.rUnk)} |`);
  }

  console.log(`\nper class (given FER2013 label): measured issue rate (FER+, scored images) vs confident learning's estimated noise rate; AUROC within the class`);
  const names = rows.map((r) => r[0]);
  console.log(`| class | n | measured | CL estimate | CL flagged | ${names.map((x) => `AUROC ${x}`).join(' | ')} |`);
  console.log(`|---|---|---|---|---|${names.map(() => '---').join('|')}|`);
  for (let c = 0; c < classes.length; c++) {
    const inC = scoredPos.filter((i) => labels[i] === c);
    const tr = inC.map((i) => isIssue[i]);
    const measured = tr.filter(Boolean).length / Math.max(inC.length, 1);
    const flagged = records.filter((_, i) => labels[i] === c && cl.isIssue[i]).length;
    const aucs = rows.map(([, s]) => pct(auroc(inC.map((i) => s[i]), tr)));
    console.log(`| ${classes[c]} | ${labels.filter((y) => y === c).length} | ${pct(measured)} | ${pct(cl.noiseRates[c])} | ${flagged} | ${aucs.join(' | ')} |`);
  }
  console.log(`\nconfident learning: thresholds [${cl.thresholds.map((t) => t.toFixed(3)).join(', ')}]; per-class estimated issues [${cl.issueCounts.join(', ')}]`);
  console.log(`combined score refit by fold, weights [selfConfidence, margin, gap, align, neutralLabel] + bias:\n  ${weights.join('\n  ')}`);
  for (const r of Object.keys(RANKER_DESCRIPTIONS) as RankerName[]) console.log(`  ${r}: ${RANKER_DESCRIPTIONS[r]}`);
  const calibrated = a.review?.length ? reviewSection({ records, classes, scoredPos, isIssue, scores, cl, reviewCounts: a.review, draws: a.reviewDraws ?? 5, seed: a.seed }) : undefined;
  console.log(`\n[${secs()} s] ranking done`);
  return { rankings: { 'combined (refit by fold)': refit, selfConfidence: scores.selfConfidence, ...(calibrated ? { [calibrated.name]: calibrated.score } : {}) } };
}
