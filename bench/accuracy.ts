// Accuracy benchmark (issue 6): trains KE-FER on FERPlus train inside a wall-time budget with the
// engine's trainer, selects the checkpoint on FERPlus valid, and reports on FERPlus test against the
// two expression models users can run in Node today (@vladmandic/face-api, @vladmandic/human),
// scored in the same run on the same images. Optional: loss ablation (--ablation, over --seeds), the FER+
// paper's label schemes (--ferplus-labels), class balance (--balance), test-time augmentation (--tta),
// cross-dataset evaluation on the FER2013 original labels. With --classes 8 it reports as the FER+ paper
// does (8 classes, majority test labels) and the same model's 7-class figures beside it.
//   npm run bench:accuracy -- [--budget-min 15] [--subset N] [--ablation] [--peer-samples N|all|auto]
// See bench/README.md "## Accuracy (bench:accuracy)" for every flag and the 2-hour command.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AUGMENT_MODES, type AugmentMode } from '../src/engine/data/augment.js';
import { initBackend, isBackendPreference } from '../src/engine/backend/index.js';
import { createImageCache, loadDataset, type Dataset } from '../src/engine/data/index.js';
import { evaluateCheckpoint } from '../src/engine/eval/checkpointEval.js';
import { computeMetrics, type Metrics } from '../src/engine/eval/metrics.js';
import { resolveTextEmbeddings } from '../src/engine/text/index.js';
import { DEFAULT_TRAIN_CONFIG, resolveTrainRuntime, type TrainConfig } from '../src/engine/train/trainer.js';
import { Rng } from '../src/engine/util/rng.js';
import { BACKBONES, type BackboneName } from '../src/engine/model/index.js';
import { calibrate, epochsForBudget, trainWithBudget, type BudgetRun } from './accuracy/budgetTrain.js';
import { confusionTable, curveTable, metricsTable, pct, ratioLine, type Scored } from './accuracy/format.js';
import { runPeer, sampleIndices } from './accuracy/peerEval.js';
import { loadPeer, PEER_IDS, peersInstalled, type PeerId } from './peers/index.js';
import { pairedVerdict, sevenOfEight, spread, t95 } from './accuracy/seeds.js';
import { FERPLUS_LABEL_SCHEMES } from '../src/engine/train/labelSchemes.js';
import { BALANCE_MODES } from '../src/engine/train/balance.js';
import { FERPLUS_VOTE_RULES } from '../src/engine/data/ferplusVotes.js';
import { MAX_TTA_VIEWS } from '../src/engine/eval/tta.js';

const LS_ONLY = 'Ls only (lambda-t = lambda-c = 0)';
/** Barsoum et al. 2016 (the FER+ paper), FERPlus test, 8 classes, majority-vote test labels, from scratch. */
const FERPLUS_PAPER = [
  { name: 'Barsoum et al. 2016, VGG13, majority-vote training', war: 0.8385 },
  { name: 'Barsoum et al. 2016, VGG13, trained on the label distribution', war: 0.8499 },
];

const USAGE = `npm run bench:accuracy -- [options]
  --budget-min N        training wall-time budget per trained model, minutes (15)
  --epochs N            epochs (default: as many as a 3-step calibration says fit the budget)
  --backbone compact|resnet18 (compact)   --input-size N (48 for compact, 112 for resnet18)
  --lr X (0.01)  --batch N (64)  --warmup-epochs N (0 below 10 epochs, else 1)  --logit-scale X (100)
  --contrast pairwise|per-sample (pairwise)  --seed N (29)  --classes 7|8 (7)
  --lambda-t X --lambda-c X   loss weights (method.md's defaults); 0 and 0 train "Ls only", so one
                        ablation variant can run as its own process beside another
  --subset N            train on N seeded-random FERPlus train images (quick runs)
  --val-subset N        select the checkpoint on N seeded-random FERPlus valid images (default all)
  --test-subset N       report on N seeded-random test images (default all; quick runs only)
  --text standin|auto|clip|file:PATH (standin)
  --peers LIST|none     face-api,human (default both, if installed)
  --peer-samples N|all|auto   test images scored by the peers (auto: all if that takes under
                        --peer-max-min minutes (8) at the measured speed, else 960 seeded-random)
  --ablation            also train Ls only and the other Lc form at the same budget and flags
  --no-other-lc         with --ablation: train Ls only but not the other Lc form (2 variants a seed)
  --seeds LIST          seeds to repeat every variant with (e.g. 29,30,31; default: --seed); the
                        ablation then reports mean and spread and a paired verdict per loss
  --ferplus-labels S    majority (default) | crossentropy | probability | multitarget (FER+ paper)
  --train-keep R        which FER+ rule keeps train images: majority, or the scheme's own (default:
                        the scheme's: crossentropy/probability keep 27,947, multitarget 27,667)
  --balance MODE        none (default) | sampler | weights (class imbalance; see UAR)
  --tta N               also evaluate the checkpoint with N test-time views (1..10), cost reported
  --no-cross            skip the FER2013-original-labels evaluation
  --augment standard|light|affine|none (standard = the released code's; light drops random erasing;
                        affine = the FER+ paper's random affine + flip)
  --onnx-threads N      onnxruntime intra-op threads when the encoder trains on onnxruntime (default: one per core)
  --backend auto|wasm|tensorflow|webgpu (auto)  --out DIR (.kefer/bench/accuracy-<time>)`;

const { values: f } = parseArgs({
  options: {
    'budget-min': { type: 'string' }, epochs: { type: 'string' }, backbone: { type: 'string' }, 'input-size': { type: 'string' },
    lr: { type: 'string' }, batch: { type: 'string' }, 'warmup-epochs': { type: 'string' }, 'logit-scale': { type: 'string' },
    contrast: { type: 'string' }, seed: { type: 'string' }, classes: { type: 'string' }, subset: { type: 'string' },
    peers: { type: 'string' }, 'peer-samples': { type: 'string' }, 'peer-max-min': { type: 'string' },
    ablation: { type: 'boolean' }, 'no-other-lc': { type: 'boolean' }, 'no-cross': { type: 'boolean' }, backend: { type: 'string' }, out: { type: 'string' }, 'onnx-threads': { type: 'string' }, 'lambda-t': { type: 'string' }, 'lambda-c': { type: 'string' },
    text: { type: 'string' }, augment: { type: 'string' }, seeds: { type: 'string' }, 'ferplus-labels': { type: 'string' },
    'train-keep': { type: 'string' }, balance: { type: 'string' }, tta: { type: 'string' }, 'val-subset': { type: 'string' }, 'test-subset': { type: 'string' }, help: { type: 'boolean' },
  },
});

function num(name: string, def: number, int = false): number {
  const raw = (f as Record<string, unknown>)[name];
  if (raw === undefined) return def;
  const x = Number(raw);
  if (!Number.isFinite(x) || (int && !Number.isInteger(x)) || x < 0) throw new Error(`--${name}: expected a ${int ? 'non-negative integer' : 'non-negative number'}, got '${String(raw)}'`);
  return x;
}

function augmentMode(raw: string | undefined): AugmentMode {
  if (raw === undefined) return 'standard';
  if (!AUGMENT_MODES.includes(raw as AugmentMode)) throw new Error(`--augment: expected one of ${AUGMENT_MODES.join(', ')}, got '${raw}'`);
  return raw as AugmentMode;
}

const lines: string[] = [];
/** Prints and keeps the line for report.md. */
const out = (s = '') => { console.log(s); lines.push(s); };
const progress = (s: string) => console.log(s);

interface Evaluated { metrics: Metrics; preds: number[]; probs: number[][]; labels: number[]; sec: number }
async function evalCheckpoint(dir: string, ds: Dataset, tta = 1): Promise<Evaluated> {
  const t0 = performance.now();
  const r = await evaluateCheckpoint(dir, ds, { batchSize: 100, tta });
  return { metrics: { n: r.summary.n, accuracy: r.summary.accuracy, meanClassAccuracy: r.summary.meanClassAccuracy, confusion: r.summary.confusion, perClassAccuracy: r.summary.perClassAccuracy }, preds: r.records.map((x) => x.pred), probs: r.records.map((x) => x.probs), labels: r.records.map((x) => x.label), sec: (performance.now() - t0) / 1000 };
}

function oneOfFlag<T extends string>(name: string, allowed: readonly T[], def: T): T {
  const raw = (f as Record<string, unknown>)[name];
  if (raw === undefined) return def;
  if (!allowed.includes(raw as T)) throw new Error(`--${name}: expected one of ${allowed.join(', ')}, got '${String(raw)}'`);
  return raw as T;
}

function subsetMetrics(ds: Dataset, preds: number[], idx: readonly number[]): Metrics {
  return computeMetrics(idx.map((i) => ds.samples[i].label), idx.map((i) => preds[i]), ds.classes.length);
}

interface PeerScore extends Scored { secPerImage: number; description: string }

/** Scores every peer on `idx` of `ds`; decides 'auto' sample counts from the first peer batches. */
async function scorePeers(ids: PeerId[], ds: Dataset, what: string, samplesOpt: string, maxMin: number, seed: number): Promise<{ scores: PeerScore[]; idx: number[]; note: string }> {
  const images = createImageCache(ds, 48);
  const peers = [];
  for (const id of ids) {
    try {
      peers.push(await loadPeer(id));
    } catch (e) {
      out(`peer ${id}: could not load (${e instanceof Error ? e.message : String(e)}); left out`);
    }
  }
  const n = ds.samples.length;
  let k: number;
  let note: string;
  if (samplesOpt === 'all') { k = n; note = 'all images'; }
  else if (samplesOpt !== 'auto') { k = Math.min(n, Number(samplesOpt)); note = `${k} seeded-random images (seed ${seed})`; }
  else {
    // Time 64 images per peer, then extrapolate to the full set.
    const probe = sampleIndices(n, 64, seed + 1);
    let sec = 0;
    for (const p of peers) sec += (await runPeer(p, ds, images, probe)).secPerImage;
    const fullMin = (sec * n) / 60;
    k = fullMin <= maxMin ? n : Math.min(n, 960);
    note = k === n ? `all images (estimated ${fullMin.toFixed(1)} min for the peers)` : `960 seeded-random images (seed ${seed}; the full set would take ~${fullMin.toFixed(0)} min at ${(sec * 1000).toFixed(0)} ms/image for all peers)`;
  }
  const idx = sampleIndices(n, k, seed);
  const scores: PeerScore[] = [];
  for (const p of peers) {
    progress(`scoring peer ${p.id} on ${what} (${idx.length} images) ...`);
    let last = 0;
    const r = await runPeer(p, ds, images, idx, {
      onProgress: (done, total, spi) => {
        if (done - last >= 320 || done === total) { last = done; progress(`  ${p.id}: ${done}/${total}, ${(spi * 1000).toFixed(0)} ms/image`); }
      },
    });
    scores.push({ name: p.id, metrics: r.metrics, secPerImage: r.secPerImage, description: p.description });
    p.dispose();
  }
  return { scores, idx, note };
}

async function main(): Promise<void> {
  if (f.help) { console.log(USAGE); return; }
  const shared = process.env.KEFER_SHARED_DATA ?? path.resolve(__dirname, '../../shared/data');
  const ferplusRoot = path.join(shared, 'ferplus');
  const fer2013Root = path.join(shared, 'fer2013', 'test');
  if (!existsSync(ferplusRoot)) {
    console.log(`SKIP bench:accuracy: FERPlus not found at ${ferplusRoot} (set KEFER_SHARED_DATA to the folder holding ferplus/)`);
    return;
  }
  const budgetMin = num('budget-min', 15);
  const backbone = (f.backbone ?? 'compact') as BackboneName;
  if (!BACKBONES.includes(backbone)) throw new Error(`--backbone: expected one of ${BACKBONES.join(', ')}`);
  const nClasses = num('classes', 7, true);
  if (nClasses !== 7 && nClasses !== 8) throw new Error('--classes: expected 7 or 8');
  const seed = num('seed', 29, true);
  const contrast = f.contrast ?? 'pairwise';
  if (contrast !== 'pairwise' && contrast !== 'per-sample') throw new Error('--contrast: expected pairwise or per-sample');
  const backendPref = f.backend ?? 'auto';
  if (!isBackendPreference(backendPref)) throw new Error(`--backend: unknown '${backendPref}'`);
  const peerIds: PeerId[] = f.peers === 'none' ? [] : ((f.peers ?? PEER_IDS.join(',')).split(',').map((s) => s.trim()) as PeerId[]);
  for (const p of peerIds) if (!PEER_IDS.includes(p)) throw new Error(`--peers: unknown peer '${p}' (known: ${PEER_IDS.join(', ')})`);
  const outDir = path.resolve(f.out ?? path.join('.kefer', 'bench', `accuracy-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  await mkdir(outDir, { recursive: true });

  const scheme = oneOfFlag('ferplus-labels', FERPLUS_LABEL_SCHEMES, 'majority');
  const balance = oneOfFlag('balance', BALANCE_MODES, 'none');
  const schemeRule = scheme === 'probability' ? 'crossentropy' : scheme;
  const trainKeep = oneOfFlag('train-keep', FERPLUS_VOTE_RULES, schemeRule);
  const tta = num('tta', 1, true);
  if (tta < 1 || tta > MAX_TTA_VIEWS) throw new Error(`--tta: expected 1..${MAX_TTA_VIEWS}`);
  const seeds = f.seeds ? f.seeds.split(',').map((x) => Number(x.trim())) : [seed];
  if (seeds.some((x) => !Number.isInteger(x) || x < 0)) throw new Error(`--seeds: expected non-negative integers, got '${f.seeds}'`);

  const backend = await initBackend(backendPref, progress);
  // Validation and test are always under majority vote (the FER+ paper's protocol); train by --train-keep.
  const spec = (split: string) => `ferplus:${ferplusRoot}#${split}?classes=${nClasses}${split === 'train' && trainKeep !== 'majority' ? `&keep=${trainKeep}` : ''}`;
  // Seeded subsets for quick runs; labelled in the report.
  const cut = (ds: Dataset, flag: string, salt: number): Dataset => {
    const k = (f as Record<string, unknown>)[flag] !== undefined ? num(flag, 0, true) : 0;
    return k > 0 && k < ds.samples.length ? { ...ds, samples: new Rng(seed + salt).shuffle([...ds.samples]).slice(0, k) } : ds;
  };
  const fullTrain = await loadDataset(spec('train'));
  const fullVal = await loadDataset(spec('valid'));
  const fullTest = await loadDataset(spec('test'));
  const fullTrainN = fullTrain.samples.length;
  const trainSet = cut(fullTrain, 'subset', 0);
  const valSet = cut(fullVal, 'val-subset', 1);
  const testSet = cut(fullTest, 'test-subset', 2);
  const text = await resolveTextEmbeddings(f.text ?? 'standin', trainSet.classes, { log: progress });

  const inputSize = num('input-size', backbone === 'compact' ? 48 : 112, true);
  const batch = num('batch', 64, true);
  const base: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG, backbone, inputSize, batchSize: batch, lr: num('lr', 0.01), seed, contrast,
    logitScale: num('logit-scale', DEFAULT_TRAIN_CONFIG.logitScale),
    augment: augmentMode(f.augment), ferplusLabels: scheme, balance,
    lambdaT: num('lambda-t', DEFAULT_TRAIN_CONFIG.lambdaT), lambdaC: num('lambda-c', DEFAULT_TRAIN_CONFIG.lambdaC),
    ...(f['onnx-threads'] !== undefined ? { onnxThreads: num('onnx-threads', 1, true) } : {}),
  };

  out(`# bench:accuracy — ${new Date().toISOString()}`);
  out();
  const runtimeName = resolveTrainRuntime(base.runtime, backend.name, base.workers);
  out(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (shared machine); backend: ${backend.name} (${backend.detail}); encoder training runtime: ${runtimeName === 'onnx' ? 'onnxruntime-node (native CPU; F_n + losses on tfjs)' : runtimeName === 'onednn' ? 'oneDNN addon (native CPU; F_n + losses on tfjs)' : `tfjs ${backend.name}`}`);
  out(`budget: ${budgetMin} min of training per model, ${seeds.length > 1 ? `${seeds.length} seeds (${seeds.join(', ')}) x ` : ''}${f.ablation ? (f['no-other-lc'] ? '2 loss variants' : '3 loss variants') : '1 variant'}; no GPU`);
  out(`training targets: --ferplus-labels ${scheme} (train images kept by the ${trainKeep} rule), --balance ${balance}, --augment ${base.augment}${tta > 1 ? `; test-time augmentation: ${tta} views (reported beside the plain evaluation)` : ''}`);
  out(`train: FERPlus train, ${trainKeep === 'majority' ? 'majority vote' : `the FER+ ${trainKeep} rule (labels: the top of the vote distribution)`}, ${nClasses} classes, ${trainSet.samples.length}${trainSet.samples.length < fullTrainN ? ` of ${fullTrainN} (seeded subset)` : ''} images; checkpoint selected on FERPlus valid (${valSet.samples.length}${valSet !== fullVal ? ` of ${fullVal.samples.length}, seeded subset` : ''}); reported on FERPlus test (${testSet.samples.length}${testSet !== fullTest ? ` of ${fullTest.samples.length}, seeded subset — NOT the full test set` : ''})`);
  out(`text embeddings: ${text.source.description}`);
  if (text.source.kind !== 'clip') out('NOTE: with the stand-in text embeddings the knowledge part of KE-FER (CLIP text features of the class prompts) is absent: the text side is a fixed 512-d class code built from valence/arousal/dominance norms.');
  out('no pretrained weights: the encoder starts from random initialisation.');
  out();

  // ---- peers on FERPlus test
  const peerMaxMin = num('peer-max-min', 8);
  const peerOpt = f['peer-samples'] ?? 'auto';
  let peerTest: Awaited<ReturnType<typeof scorePeers>> | undefined;
  const usePeers = peerIds.length > 0 && peersInstalled();
  if (peerIds.length > 0 && !usePeers) out('peers: @vladmandic/face-api / @vladmandic/human not installed (npm install -D, see bench/README.md); left out');
  if (usePeers) peerTest = await scorePeers(peerIds, testSet, 'FERPlus test', peerOpt, peerMaxMin, seed);

  // ---- KE-FER training inside the budget
  const trainImages = createImageCache(trainSet, inputSize);
  const valImages = createImageCache(valSet, inputSize);
  const calibDir = path.join(outDir, 'calibration');
  progress('calibrating step time ...');
  const secPerStep = await calibrate({ ...base, warmupEpochs: 0 }, trainSet, text, backend, calibDir, trainImages);
  const epochs = f.epochs !== undefined ? num('epochs', 1, true) : epochsForBudget(budgetMin * 60, secPerStep, trainSet.samples.length, batch, valSet.samples.length);
  const warmupEpochs = f['warmup-epochs'] !== undefined ? num('warmup-epochs', 0, true) : epochs >= 10 ? 1 : 0;
  const cfg: TrainConfig = { ...base, epochs, warmupEpochs };
  out(`calibration: ${secPerStep.toFixed(2)} s/step at batch ${batch} (${(batch / secPerStep).toFixed(1)} img/s) -> ${epochs} epoch(s) in ${budgetMin} min${f.epochs !== undefined ? ' (--epochs given)' : ''}`);

  const lsOnly = cfg.lambdaT === 0 && cfg.lambdaC === 0;
  const mainName = lsOnly ? LS_ONLY : `KE-FER (Ls+Lt+Lc, ${contrast}${cfg.lambdaT !== DEFAULT_TRAIN_CONFIG.lambdaT || cfg.lambdaC !== DEFAULT_TRAIN_CONFIG.lambdaC ? `, lambda-t ${cfg.lambdaT}, lambda-c ${cfg.lambdaC}` : ''})`;
  const variants: { name: string; cfg: TrainConfig }[] = [];
  for (const s of seeds) {
    const c = { ...cfg, seed: s };
    variants.push({ name: mainName, cfg: c });
    if (f.ablation) {
      variants.push({ name: LS_ONLY, cfg: { ...c, lambdaT: 0, lambdaC: 0 } });
      if (!f['no-other-lc']) variants.push({ name: `Ls+Lt+Lc, ${contrast === 'pairwise' ? 'per-sample' : 'pairwise'} Lc`, cfg: { ...c, contrast: contrast === 'pairwise' ? 'per-sample' : 'pairwise' } });
    }
  }
  const results: { name: string; run: BudgetRun; test: Evaluated }[] = [];
  for (const [i, v] of variants.entries()) {
    progress(`training ${v.name} (seed ${v.cfg.seed}): ${v.cfg.backbone} ${v.cfg.inputSize}px, batch ${v.cfg.batchSize}, lr ${v.cfg.lr}, ${v.cfg.epochs} epochs, budget ${budgetMin} min ...`);
    const run = await trainWithBudget(v.cfg, { train: trainSet, val: valSet, valDescription: 'ferplus#valid', text, backend, outDir: path.join(outDir, `run${i}`), trainImages, valImages }, budgetMin * 60, secPerStep, progress);
    progress(`evaluating ${run.checkpoint} on FERPlus test ...`);
    results.push({ name: v.name, run, test: await evalCheckpoint(run.checkpoint, testSet) });
  }
  const main0 = results[0];

  // ---- report: FERPlus test
  const peerScores = peerTest?.scores ?? [];
  out('## FERPlus test (majority vote)');
  out();
  const r0 = main0.run;
  out(`${mainName}: ${r0.config.backbone} ${r0.config.inputSize}px, batch ${r0.config.batchSize}, lr ${r0.config.lr}, ${r0.config.epochs} epoch(s) planned, ${r0.curve.length} completed, ${r0.stepsDone} steps, training wall time ${(r0.trainSec / 60).toFixed(1)} min${r0.stoppedByBudget ? ' (stopped by the budget)' : ''}; checkpoint: ${r0.selectedOn === 'validation' ? `epoch ${r0.bestEpoch}, best FERPlus-valid WAR` : 'partial first epoch (budget hit before any validation)'}`);
  out();
  const rows: { name: string; metrics: Metrics; extra?: string }[] = [{ name: `${lsOnly ? 'Ls only' : 'KE-FER'} (all test images)`, metrics: main0.test.metrics }];
  if (peerTest && peerTest.idx.length < testSet.samples.length) rows.push({ name: 'KE-FER (peer images)', metrics: subsetMetrics(testSet, main0.test.preds, peerTest.idx), extra: 'same images as the peers' });
  for (const p of peerScores) rows.push({ name: p.name, metrics: p.metrics, extra: `${(p.secPerImage * 1000).toFixed(0)} ms/image; ${p.description}` });
  out(metricsTable(rows, peerScores));
  out();
  if (peerTest) {
    out(`peers scored on ${peerTest.note}; ratios compare KE-FER on those same images:`);
    const same = peerTest.idx.length < testSet.samples.length ? subsetMetrics(testSet, main0.test.preds, peerTest.idx) : main0.test.metrics;
    out(`- ${ratioLine('KE-FER', 'WAR', same.accuracy, peerScores)}`);
    out(`- ${ratioLine('KE-FER', 'UAR', same.meanClassAccuracy, peerScores)}`);
    out();
  }
  out('Confusion matrix, KE-FER on all FERPlus test images (rows = true, columns = predicted):');
  out();
  out(confusionTable(testSet.classes, main0.test.metrics));
  out();
  out('Learning curve (FERPlus valid after each epoch):');
  out();
  out(curveTable(r0.curve));
  out();

  // ---- test-time augmentation: same checkpoint, N views, cost as a ratio to the plain evaluation
  let ttaResult: Evaluated | undefined;
  if (tta > 1) {
    progress(`evaluating ${main0.run.checkpoint} on FERPlus test with ${tta} test-time views ...`);
    ttaResult = await evalCheckpoint(main0.run.checkpoint, testSet, tta);
    out(`## Test-time augmentation (${tta} views: image, mirror, shifted crops; softmax averaged)`);
    out();
    out('| evaluation | n | WAR | UAR | eval time | ms/image |');
    out('|---|---:|---:|---:|---:|---:|');
    out(`| plain (1 view) | ${main0.test.metrics.n} | ${pct(main0.test.metrics.accuracy)} | ${pct(main0.test.metrics.meanClassAccuracy)} | 1.00x (${main0.test.sec.toFixed(1)} s) | ${((1000 * main0.test.sec) / main0.test.metrics.n).toFixed(1)} |`);
    out(`| TTA ${tta} views | ${ttaResult.metrics.n} | ${pct(ttaResult.metrics.accuracy)} | ${pct(ttaResult.metrics.meanClassAccuracy)} | ${(ttaResult.sec / main0.test.sec).toFixed(2)}x (${ttaResult.sec.toFixed(1)} s) | ${((1000 * ttaResult.sec) / ttaResult.metrics.n).toFixed(1)} |`);
    out();
  }

  // ---- the FER+ paper's protocol: 8 classes, majority-vote test labels; the same model's 7-class figures
  const paperRows: Record<string, unknown> = {};
  if (nClasses === 8) {
    // The claimed figure is the evaluation chosen before the run (--tta given or not), never the better of the two on test.
    const best = ttaResult ? { e: ttaResult, how: `TTA ${tta}` } : { e: main0.test, how: 'plain' };
    const seven = sevenOfEight(main0.test.labels, main0.test.probs);
    const claimed7 = sevenOfEight(best.e.labels, best.e.probs);
    out('## Record table: FERPlus test as the FER+ paper reports it (8 classes, majority-vote test labels, no pretrained weights)');
    out();
    const ours = best.e.metrics.accuracy;
    const ratio = (x: number) => (x > 0 ? `${(ours / x).toFixed(3)}x` : 'n/a');
    out(`| model | n | 8-class WAR | claimed KE-FER (${best.how}) / this | 7-class WAR | 7-class UAR |`);
    out('|---|---:|---:|---:|---:|---:|');
    out(`| KE-FER (this run, ${r0.config.backbone} ${r0.config.inputSize}px, ${scheme} labels, plain eval) | ${main0.test.metrics.n} | ${pct(main0.test.metrics.accuracy, 2)} | ${ratio(main0.test.metrics.accuracy)} | ${pct(seven.accuracy, 2)} | ${pct(seven.meanClassAccuracy, 2)} |`);
    if (ttaResult) {
      const s7 = sevenOfEight(ttaResult.labels, ttaResult.probs);
      out(`| KE-FER (same checkpoint, TTA ${tta}) | ${ttaResult.metrics.n} | ${pct(ttaResult.metrics.accuracy, 2)} | ${ratio(ttaResult.metrics.accuracy)} | ${pct(s7.accuracy, 2)} | ${pct(s7.meanClassAccuracy, 2)} |`);
    }
    for (const p of FERPLUS_PAPER) out(`| ${p.name} (reported, not run here) | 3137 | ${pct(p.war, 2)} | ${ratio(p.war)} | n/a | n/a |`);
    for (const p of peerScores) out(`| ${p.name} (this run; no contempt output) | ${p.metrics.n} | ${pct(p.metrics.accuracy, 2)} | ${ratio(p.metrics.accuracy)} | n/a | n/a |`);
    out();
    out(`7-class columns: the same 8-class model on the ${seven.n} test images not labelled contempt, predicting the most probable of the 7 basic classes. Targets: 8-class WAR >= 85.0% and 7-class UAR >= 70%: ${best.e.metrics.accuracy >= 0.85 ? 'WAR met' : 'WAR not met'} (${best.how} ${pct(best.e.metrics.accuracy, 2)}), ${claimed7.meanClassAccuracy >= 0.7 ? 'UAR met' : 'UAR not met'} (${pct(claimed7.meanClassAccuracy, 2)}); the claimed evaluation is the one chosen by the flags (${best.how}).`);
    out();
    Object.assign(paperRows, { war8: main0.test.metrics.accuracy, seven, tta: ttaResult?.metrics, paper: FERPLUS_PAPER });
  }

  // ---- ablation
  const ablation: Record<string, unknown> = {};
  if (results.length > 1) {
    out(`## Ablation (same harness, ${budgetMin}-min budget each, ${trainSet.samples.length} train images, text: ${text.source.kind}, seeds ${seeds.join(', ')})`);
    out();
    out('| variant | seed | epochs done | best epoch | val WAR (best) | test WAR | test UAR | train min |');
    out('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      const b = r.run.curve.find((c) => c.epoch === r.run.bestEpoch);
      out(`| ${r.name} | ${r.run.config.seed} | ${r.run.curve.length} | ${r.run.bestEpoch || 'partial'} | ${pct(b?.valWar)} | ${pct(r.test.metrics.accuracy)} | ${pct(r.test.metrics.meanClassAccuracy)} | ${(r.run.trainSec / 60).toFixed(1)} |`);
    }
    out();
    const names = [...new Set(results.map((r) => r.name))];
    const metric = (name: string, key: 'accuracy' | 'meanClassAccuracy') => seeds.map((sd) => results.find((r) => r.name === name && r.run.config.seed === sd)!.test.metrics[key]);
    out(`Over ${seeds.length} seed(s): mean ± sample sd (min..max); paired differences against ${LS_ONLY} (same seed); verdict: "helps" if the mean difference exceeds t(n-1) standard errors (paired t-test at 95%; ${t95(seeds.length - 1).toFixed(2)} for ${seeds.length} seeds), "does not help" if below minus that, else "within noise".`);
    out();
    out('| variant | test WAR | test UAR | WAR - Ls only | verdict (WAR) | UAR - Ls only | verdict (UAR) |');
    out('|---|---:|---:|---:|---|---:|---|');
    const fmt = (x: ReturnType<typeof spread>) => `${pct(x.mean, 2)} ± ${(100 * x.sd).toFixed(2)} (${pct(x.min)}..${pct(x.max)})`;
    for (const name of names) {
      const w = metric(name, 'accuracy'), u = metric(name, 'meanClassAccuracy');
      const base = name === LS_ONLY || !names.includes(LS_ONLY) ? undefined : { w: pairedVerdict(w, metric(LS_ONLY, 'accuracy')), u: pairedVerdict(u, metric(LS_ONLY, 'meanClassAccuracy')) };
      const d = (x: ReturnType<typeof spread>) => `${x.mean >= 0 ? '+' : ''}${(100 * x.mean).toFixed(2)} ± ${(100 * x.sd).toFixed(2)}`;
      out(`| ${name} | ${fmt(spread(w))} | ${fmt(spread(u))} | ${base ? d(base.w.diff) : '—'} | ${base?.w.verdict ?? '—'} | ${base ? d(base.u.diff) : '—'} | ${base?.u.verdict ?? '—'} |`);
      ablation[name] = { war: spread(w), uar: spread(u), vsLsOnly: base };
    }
    out();
    out(`text-embedding source for every variant: ${text.source.description}${text.source.kind !== 'clip' ? ' — the knowledge (CLIP) part of the method is absent' : ''}.`);
    out();
  }

  // ---- cross-dataset: FER2013 original labels
  const cross: Record<string, unknown> = {};
  if (!f['no-cross']) {
    if (!existsSync(fer2013Root) || nClasses !== 7) {
      out(`## Cross-dataset: skipped (${nClasses !== 7 ? 'FER2013 has 7 classes; run with --classes 7' : `${fer2013Root} not found`})`);
    } else {
      const all = await loadDataset(`folder:${fer2013Root}`);
      // PublicTest images are FERPlus valid, which selected the checkpoint: keep PrivateTest only.
      const fer = cut({ ...all, samples: all.samples.filter((s) => /PrivateTest_/.test(s.id)) }, 'test-subset', 3);
      progress(`evaluating on FER2013 PrivateTest original labels (${fer.samples.length}) ...`);
      const k = await evalCheckpoint(main0.run.checkpoint, fer);
      const pc = usePeers ? await scorePeers(peerIds, fer, 'FER2013 PrivateTest', peerOpt, peerMaxMin, seed) : undefined;
      out('## Cross-dataset: FERPlus-trained model on FER2013 PrivateTest, original 7-class labels');
      out();
      out(`${fer.samples.length} images (folder:${fer2013Root}, PrivateTest_* only: PublicTest = FERPlus valid chose the checkpoint). human's model was trained on FER2013 train with these label semantics; KE-FER and face-api were not.`);
      out();
      const crows: { name: string; metrics: Metrics; extra?: string }[] = [{ name: 'KE-FER (all images)', metrics: k.metrics }];
      if (pc && pc.idx.length < fer.samples.length) crows.push({ name: 'KE-FER (peer images)', metrics: subsetMetrics(fer, k.preds, pc.idx), extra: 'same images as the peers' });
      for (const p of pc?.scores ?? []) crows.push({ name: p.name, metrics: p.metrics, extra: `${(p.secPerImage * 1000).toFixed(0)} ms/image` });
      out(metricsTable(crows, pc?.scores ?? []));
      out();
      out(confusionTable(fer.classes, k.metrics));
      out();
      Object.assign(cross, { n: fer.samples.length, kefer: k.metrics, peers: pc?.scores, peerNote: pc?.note });
    }
  }

  const json = {
    date: new Date().toISOString(), backend, loadavg: os.loadavg(), budgetMin, trainImages: trainSet.samples.length, calibrationSecPerStep: secPerStep,
    text: text.source, peers: peerTest ? { note: peerTest.note, scores: peerTest.scores, kefer: subsetMetrics(testSet, main0.test.preds, peerTest.idx) } : null,
    scheme, trainKeep, balance, seeds, paper: paperRows, ablation, ttaViews: tta, ttaTest: ttaResult ? { metrics: ttaResult.metrics, sec: ttaResult.sec, plainSec: main0.test.sec } : null,
    runs: results.map((r) => ({ name: r.name, config: r.run.config, trainSec: r.run.trainSec, stoppedByBudget: r.run.stoppedByBudget, bestEpoch: r.run.bestEpoch, selectedOn: r.run.selectedOn, checkpoint: r.run.checkpoint, curve: r.run.curve, test: r.test.metrics })),
    cross,
  };
  await writeFile(path.join(outDir, 'results.json'), JSON.stringify(json, null, 2) + '\n');
  await writeFile(path.join(outDir, 'report.md'), lines.join('\n') + '\n');
  console.log(`\nwrote ${path.join(outDir, 'report.md')} and results.json`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // Print the message only: the wasm runtime's own handlers would otherwise dump its source.
    console.error(`bench:accuracy failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
