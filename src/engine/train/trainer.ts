// The KE-FER training loop: seeded, cancellable, checkpointed every epoch, resumable to the same
// result as an uninterrupted run (data order and augmentation are derived from (seed, epoch, step)).
import * as tf from '@tensorflow/tfjs-core';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createImageCache, sampleFile, type ImageCache } from '../data/decode.js';
import { prefetchBatches, type BatchJob } from '../data/prefetch.js';
import type { DataCheckRecord } from '../data/preflight.js';
import { describeDataset, type Dataset } from '../data/types.js';
import { evaluate, type EvalModel, type EvalResult } from '../eval/evaluate.js';
import { pca2d } from '../eval/projection.js';
import { EmbeddingSampler } from '../eval/embeddingSample.js';
import type { BackendReport, EngineEvent } from '../events.js';
import { keferLoss, l2normalize, softTargets, type ContrastVariant, type SoftTargetRows } from '../losses.js';
import { createEncoder, createTransform, type BackboneName, type Encoder, type Transform } from '../model/index.js';
import type { TextEmbeddings } from '../text/types.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../util/safetensors.js';
import { augmentInto, type AugmentMode } from './augment.js';
import { IMAGENET_MEAN, IMAGENET_STD, loadCheckpoint, loadInitWeights, saveCheckpoint, type CheckpointConfig } from './checkpoint.js';
import { lrForEpoch } from './schedule.js';
import { Sgd } from './sgd.js';
import { OnnxTrainStep } from './onnxStep.js';
import { OnednnTrainStep } from './onednnStep.js';
import { loadOnednn } from '../onednn/addon.js';
import { CudaTrainStep } from './cudaStep.js';
import { cudaAvailability, describeCuda, type CudaPrecision } from '../cuda/addon.js';
import { createCudaEvalEncoder } from '../cuda/evalEncoder.js';
import { startParallel } from './parallel.js';
import { TrainTargets, type FerplusLabelScheme } from './labelSchemes.js';
import { balancedClassWeights, balancedOrder, type BalanceMode } from './balance.js';

export type TrainRuntime = 'auto' | 'tfjs' | 'onnx' | 'onednn' | 'cuda';
export const TRAIN_RUNTIMES: readonly TrainRuntime[] = ['auto', 'tfjs', 'onnx', 'onednn', 'cuda'];

/**
 * 'auto' without data-parallel workers: the CUDA addon when a CUDA device, its driver and cuDNN are there
 * (train/cudaStep.ts); else, when tfjs would run the encoder on wasm (a CPU), oneDNN when its addon is
 * built (1.4-2.8x PyTorch, bench:train), else onnxruntime-node; on a GPU tfjs backend (tensorflow,
 * webgpu) tfjs keeps it. `hasOnednn` and `hasCuda` are injectable for tests.
 */
export function resolveTrainRuntime(runtime: TrainRuntime | undefined, backend: string, workers = 1, hasOnednn = () => !!loadOnednn().addon, hasCuda = () => cudaAvailability().ok): Exclude<TrainRuntime, 'auto'> {
  if (runtime && runtime !== 'auto') return runtime;
  if (workers > 1) return 'tfjs';
  if (hasCuda()) return 'cuda';
  if (backend !== 'wasm') return 'tfjs';
  return hasOnednn() ? 'onednn' : 'onnx';
}

export interface TrainConfig {
  backbone: BackboneName;
  inputSize?: number;
  epochs: number;
  /** Stop after this many optimizer steps in total (bounded runs, tests). */
  maxSteps?: number;
  batchSize: number;
  lr: number;
  warmupLr: number;
  warmupEpochs: number;
  momentum: number;
  weightDecay: number;
  contrast: ContrastVariant;
  lambdaS: number;
  lambdaT: number;
  lambdaC: number;
  logitScale: number;
  seed: number;
  /** torchvision-named ResNet-18 safetensors to start the encoder from. */
  init?: string;
  /** Training augmentation: the released code's ('standard'), without random erasing ('light'), or none. */
  augment?: AugmentMode;
  /** Data-parallel replicas on worker threads, the calling thread included (wasm only; 1 = single thread). See parallel.ts. */
  workers?: number;
  /**
   * Where the encoder's forward/backward runs: 'tfjs' (the active tfjs backend), 'onnx' (onnxruntime-node's
   * native CPU kernels; train/onnxStep.ts), 'onednn' (the oneDNN addon; train/onednnStep.ts) or 'auto'
   * (default: resolveTrainRuntime). With the native runtimes F_n and the losses stay on tfjs.
   */
  runtime?: TrainRuntime;
  /** Threads of the native runtime, 'onnx' or 'onednn' (default: one per core). */
  onnxThreads?: number;
  /**
   * oneDNN's convolution algorithm with runtime 'onednn': 'auto' (default; Winograd for the 3x3 stride-1
   * layers where oneDNN expects a gain, on AVX-512 CPUs) or 'direct' (PyTorch's, slower, closest numerics).
   */
  convAlgorithm?: 'auto' | 'direct';
  /**
   * Training targets from the annotators' votes (FER+ paper's schemes, labelSchemes.ts): 'majority' (default,
   * the label one-hot), 'probability', 'crossentropy', 'multitarget'. The others need Sample.votes.
   */
  ferplusLabels?: FerplusLabelScheme;
  /** Class imbalance: 'none' (default), 'sampler' (class-balanced sampling) or 'weights' (Ls class weights); balance.ts. */
  balance?: BalanceMode;
  /**
   * Runtime 'cuda': 'fp32' (default; no TF32, as PyTorch with TF32 off), 'tf32' (cuDNN's default math, as
   * PyTorch's default) or 'amp' (fp16 NHWC convolutions on tensor cores, fp32 master weights, BN and head).
   */
  precision?: CudaPrecision;
  /**
   * Decode + augment each batch on this many worker threads, a few batches ahead (data/prefetch.ts), instead
   * of on the training thread; plain 8-bit PNG datasets (FERPlus, FER2013 folders). 0 (default): off.
   */
  loaderWorkers?: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  backbone: 'resnet18',
  epochs: 50,
  batchSize: 64,
  lr: 0.002,
  warmupLr: 1e-4,
  warmupEpochs: 1,
  momentum: 0.9,
  weightDecay: 5e-4,
  contrast: 'pairwise',
  lambdaS: 1,
  lambdaT: 1,
  lambdaC: 1,
  logitScale: 100,
  seed: 29,
};

export interface TrainInputs {
  train: Dataset;
  /** Selects the checkpoint; never the test split. */
  val?: Dataset;
  /** Describes where `val` came from, e.g. "ferplus#valid" or "10% held out of train". */
  valDescription?: string;
  text: TextEmbeddings;
  backend: BackendReport;
  outDir: string;
  resume?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: EngineEvent) => void;
  /** Per-sample diagnostics after training: none, the validation set, or train + validation. */
  diagnose?: 'none' | 'val' | 'all';
  /** The data pre-flight's findings (problems dropped with --skip-bad), recorded in run.json and events. */
  dataCheck?: DataCheckRecord;
  /** Optional shared image caches (tests and the CLI reuse decoded images). */
  trainImages?: ImageCache;
  valImages?: ImageCache;
}

export interface EpochHistory {
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  ls: number;
  lt: number;
  lc: number;
  trainAccuracy: number;
  valAccuracy: number | null;
  valMeanClassAccuracy: number | null;
  valLoss: number | null;
  seconds: number;
}

interface ResumeState {
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  bestEpoch: number;
  bestValAccuracy: number | null;
  history: EpochHistory[];
  elapsedSec: number;
}

export interface TrainResult {
  runDir: string;
  bestCheckpoint: string;
  lastCheckpoint: string;
  bestEpoch: number;
  selectedOn: 'validation' | 'last-epoch';
  history: EpochHistory[];
  cancelled: boolean;
  valEval?: EvalResult;
}

const textNormOf = (text: TextEmbeddings) => l2normalize(tf.tensor2d(text.matrix, [text.classes.length, text.dim]));

function checkpointConfig(cfg: TrainConfig, enc: Encoder, inputs: TrainInputs, extra: Record<string, unknown>): CheckpointConfig {
  return {
    format: 'kefer-checkpoint',
    version: 1,
    backbone: cfg.backbone,
    classes: [...inputs.train.classes],
    neutralIndex: inputs.train.classes.indexOf('neutral'),
    inputSize: enc.inputSize,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    logitScale: cfg.logitScale,
    prompts: inputs.text.prompts,
    textSource: inputs.text.source,
    featureDim: enc.featureDim,
    training: { ...cfg, dataset: inputs.train.root, format: inputs.train.format, synthetic: !!inputs.train.synthetic, backend: inputs.backend },
    ...extra,
  };
}

async function saveOptimizer(dir: string, sgd: Sgd, state: ResumeState): Promise<void> {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, b] of await sgd.export()) tensors.set(name, { dtype: 'F32', shape: b.shape, data: b.data });
  await writeSafetensors(path.join(dir, 'optimizer.safetensors'), tensors);
  await writeFile(path.join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n');
}

function sameConfig(a: TrainConfig, b: TrainConfig): string | undefined {
  // Options added later default as train() treats them absent, so older runs still resume.
  const withDefaults = (c: TrainConfig) => ({ ...c, ferplusLabels: c.ferplusLabels ?? 'majority', balance: c.balance ?? 'none', augment: c.augment ?? 'standard' });
  [a, b] = [withDefaults(a), withDefaults(b)];
  for (const key of ['backbone', 'batchSize', 'lr', 'epochs', 'seed', 'contrast', 'lambdaS', 'lambdaT', 'lambdaC', 'weightDecay', 'momentum', 'ferplusLabels', 'balance', 'augment'] as const) {
    if (a[key] !== b[key]) return `${key} was ${String(a[key])}, now ${String(b[key])}`;
  }
  return undefined;
}

export async function train(cfg: TrainConfig, inputs: TrainInputs): Promise<TrainResult> {
  const emit = inputs.onEvent ?? (() => {});
  const runDir = path.resolve(inputs.outDir);
  const ckptDir = path.join(runDir, 'checkpoints');
  const lastDir = path.join(ckptDir, 'last');
  const bestDir = path.join(ckptDir, 'best');
  await mkdir(ckptDir, { recursive: true });
  const eventsFile = path.join(runDir, 'events.jsonl');
  const log = async (e: EngineEvent) => {
    emit(e);
    await appendFile(eventsFile, JSON.stringify({ ...e, time: new Date().toISOString() }) + '\n');
  };

  const classes = inputs.train.classes;
  const neutralIndex = classes.indexOf('neutral');
  if (neutralIndex < 0) throw new Error('the class list has no neutral class: KE-FER needs it as the anchor');
  if (inputs.text.classes.join() !== classes.join()) {
    throw new Error(`text embeddings are for classes [${inputs.text.classes.join(', ')}], the dataset has [${classes.join(', ')}]`);
  }

  let encoder: Encoder;
  let transform: Transform;
  let state: ResumeState = { epoch: 0, stepInEpoch: 0, globalStep: 0, bestEpoch: -1, bestValAccuracy: null, history: [], elapsedSec: 0 };
  const sgd = new Sgd(cfg.momentum, cfg.weightDecay);
  const runFile = path.join(runDir, 'run.json');

  if (inputs.resume && existsSync(path.join(lastDir, 'state.json'))) {
    const prev = JSON.parse(await readFile(runFile, 'utf8')) as { config: TrainConfig };
    const diff = sameConfig(prev.config, cfg);
    if (diff) throw new Error(`${runFile}: cannot resume with a different configuration (${diff})`);
    const loaded = await loadCheckpoint(lastDir);
    encoder = loaded.encoder;
    transform = loaded.transform;
    state = JSON.parse(await readFile(path.join(lastDir, 'state.json'), 'utf8')) as ResumeState;
    const { tensors } = await readSafetensors(path.join(lastDir, 'optimizer.safetensors'));
    sgd.import(new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }])));
    await log({ type: 'log', level: 'info', message: `resumed from ${lastDir} at epoch ${state.epoch + 1}, step ${state.globalStep}` });
  } else {
    if (inputs.resume) await log({ type: 'log', level: 'warn', message: `--resume: no checkpoint in ${lastDir}; starting a new run` });
    encoder = createEncoder(cfg.backbone, { seed: cfg.seed, inputSize: cfg.inputSize });
    transform = createTransform(cfg.seed);
    if (cfg.init) {
      const n = await loadInitWeights(encoder, cfg.init);
      await log({ type: 'log', level: 'info', message: `initialised ${n} encoder tensors from ${cfg.init}` });
    }
  }
  const params = new Map<string, tf.Variable>([...[...encoder.params].map(([k, v]) => [`encoder.${k}`, v] as const), ...transform.params]);
  const textNorm = textNormOf(inputs.text);
  const size = encoder.inputSize;
  const norm = { mean: IMAGENET_MEAN, std: IMAGENET_STD };
  const trainImages = inputs.trainImages ?? createImageCache(inputs.train, size);
  const valImages = inputs.val ? (inputs.valImages ?? createImageCache(inputs.val, size)) : undefined;
  const nTrain = inputs.train.samples.length;
  const bs = Math.min(cfg.batchSize, nTrain);
  // drop_last: a tiny trailing batch would give BatchNorm meaningless statistics.
  const stepsPerEpoch = Math.max(1, Math.floor(nTrain / bs));
  const totalSteps = Math.min(cfg.epochs * stepsPerEpoch, cfg.maxSteps ?? Infinity);
  const evalModel: EvalModel = { encoder, transform, textNorm, neutralIndex, logitScale: cfg.logitScale, norm, classes };

  const runtime = resolveTrainRuntime(cfg.runtime, inputs.backend.name, cfg.workers);
  if (runtime !== 'tfjs' && (cfg.workers ?? 1) > 1) throw new Error(`--runtime ${runtime} uses its own threads; it cannot be combined with --workers`);
  const targets = new TrainTargets(inputs.train, cfg.ferplusLabels ?? 'majority', cfg.seed);
  const trainLabels = inputs.train.samples.map((s) => s.label);
  const classWeights = cfg.balance === 'weights' ? balancedClassWeights(trainLabels, classes.length) : undefined;
  const loss = { neutralIndex, contrast: cfg.contrast, lambdaS: cfg.lambdaS, lambdaT: cfg.lambdaT, lambdaC: cfg.lambdaC, logitScale: cfg.logitScale, classWeights };
  // the CUDA addon computes Ls on one-hot labels without class weights (native/cuda_encoder.cu)
  if (runtime === 'cuda' && (targets.scheme !== 'majority' || classWeights)) throw new Error(`--runtime cuda trains on majority labels without class weights for now: drop ${targets.scheme !== 'majority' ? `--ferplus-labels ${targets.scheme}` : '--balance weights'} or pick another runtime`);
  if (cfg.precision && cfg.precision !== 'fp32' && runtime !== 'cuda') throw new Error(`--precision ${cfg.precision} needs --runtime cuda (the runtime is ${runtime})`);
  const nativeInputs = { encoder, transform, sgd, textNorm, batch: bs, threads: cfg.onnxThreads, convolution: cfg.convAlgorithm, loss };
  const nativeStep =
    runtime === 'onnx' ? await OnnxTrainStep.create(nativeInputs)
      : runtime === 'onednn' ? await OnednnTrainStep.create(nativeInputs)
        : runtime === 'cuda' ? await CudaTrainStep.create({ ...nativeInputs, precision: cfg.precision })
          : undefined;
  const threadsText = cfg.onnxThreads ? `${cfg.onnxThreads} thread(s)` : 'one thread per core';
  const head = `F_n + losses on tfjs ${inputs.backend.name} (${inputs.backend.detail})`;
  const onednnInfo = nativeStep instanceof OnednnTrainStep ? nativeStep.trainer.info() : undefined;
  const notCuda = (cfg.runtime ?? 'auto') === 'auto' && runtime !== 'cuda' && (cfg.workers ?? 1) <= 1 ? `; cuda not used: ${cudaAvailability().why}` : '';
  const notOnednn = (cfg.runtime !== 'onnx' && runtime === 'onnx' ? `; onednn not used: ${loadOnednn().why}` : '') + notCuda;
  // What actually runs the model, for the log, the UI and run.json: with a native runtime the encoder is not on tfjs.
  const cudaInfo = nativeStep instanceof CudaTrainStep ? nativeStep.trainer.info() : undefined;
  const backendUsed: BackendReport = cudaInfo
    ? { name: 'cuda', detail: `encoder, F_n and losses on CUDA: ${describeCuda(cudaInfo)}` }
    : onednnInfo
    ? { name: 'onednn', detail: `encoder on oneDNN ${onednnInfo.version} (convolutions ${cfg.convAlgorithm ?? 'auto'}: ${onednnInfo.convolution}; ${onednnInfo.threads} thread(s)); ${head}${notCuda}` }
    : runtime === 'onnx'
      ? { name: 'onnxruntime', detail: `encoder on onnxruntime-node CPU (${threadsText}); ${head}${notOnednn}` }
      : inputs.backend;
  await writeFile(runFile, JSON.stringify({ status: 'running', config: cfg, runtime, backend: backendUsed, textSource: inputs.text.source, dataset: { format: inputs.train.format, root: inputs.train.root, split: inputs.train.split, n: nTrain, synthetic: !!inputs.train.synthetic }, validation: inputs.valDescription ?? null, dataCheck: inputs.dataCheck ?? null, started: new Date().toISOString() }, null, 2) + '\n');
  await log({
    type: 'start', runDir, backend: backendUsed, textSource: inputs.text.source.description, textKind: inputs.text.source.kind,
    dataset: describeDataset(inputs.train),
    nTrain, nVal: inputs.val?.samples.length ?? 0, epochs: cfg.epochs, stepsPerEpoch, backbone: cfg.backbone, synthetic: !!inputs.train.synthetic,
  });
  for (const [check, where] of [[inputs.dataCheck, 'dataCheck'], [inputs.dataCheck?.val, 'dataCheck.val']] as const) {
    if (!check?.dropped.length) continue;
    const kinds = Object.entries(check.byKind).map(([k, n]) => `${n} ${k}`).join(', ');
    await log({ type: 'log', level: 'warn', message: `--skip-bad: ${where === 'dataCheck' ? 'trained' : 'validated'} without ${check.dropped.length} problem line(s)/file(s) of ${check.spec} (${kinds}); each is listed in run.json ${where}.dropped` });
  }

  const x = new Float32Array(bs * size * size * 3);
  const per = size * size * 3;
  let cancelled = false;
  let ema = 0;
  const t0 = Date.now() - state.elapsedSec * 1000;
  let epoch = state.epoch;
  const saveLast = async (stepInEpoch: number, ep: number) => {
    nativeStep?.sync();
    const s: ResumeState = { ...state, epoch: ep, stepInEpoch, elapsedSec: (Date.now() - t0) / 1000 };
    await saveCheckpoint(lastDir, { encoder, transform, textEmbeddings: inputs.text.matrix, config: checkpointConfig(cfg, encoder, inputs, { epoch: ep, step: state.globalStep }) });
    await saveOptimizer(lastDir, sgd, s);
  };

  const par = (cfg.workers ?? 1) > 1 ? await startParallel({ workers: cfg.workers, encoder, transform, sgd, textNorm, batchSize: bs, loss }) : undefined;
  /**
   * One optimizer step on this thread. Values are read back with `await data()` after the step:
   * WebGPU in Node has no synchronous read (no OffscreenCanvas, no blocking buffer map).
   */
  const localStep = async (labelsArr: number[], lr: number, soft?: SoftTargetRows): Promise<{ terms: number[]; correct: number }> => {
    const out = tf.tidy(() => {
      const xb = tf.tensor4d(x, [bs, size, size, 3]);
      const labels = tf.tensor1d(labelsArr, 'int32');
      const q = softTargets(soft, bs, classes.length);
      let kept: tf.Tensor[] = [];
      const { grads } = tf.variableGrads(() => {
        const v = encoder.apply(xb, true);
        const n = transform.apply(v);
        const t = keferLoss(v, n, textNorm, labels, loss, q);
        kept = [tf.keep(tf.stack([t.ls, t.lt, t.lc])), tf.keep(tf.argMax(t.logits, 1))];
        return t.total;
      }, [...params.values()]);
      const named: Record<string, tf.Tensor> = {};
      for (const [name, v] of params) named[name] = grads[v.name];
      sgd.step(params, named, lr);
      return kept;
    });
    const [terms, preds] = await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);
    let correct = 0;
    for (let i = 0; i < bs; i++) if (preds[i] === labelsArr[i]) correct++;
    return { terms: Array.from(terms), correct };
  };
  if (targets.scheme !== 'majority') await log({ type: 'log', level: 'info', message: `training targets: --ferplus-labels ${targets.scheme} (${targets.withVotes} samples on their votes, ${targets.relabeled} relabeled ones on their label, ${nTrain - targets.withVotes - targets.relabeled} without usable votes on their label)` });
  if (cfg.balance && cfg.balance !== 'none') await log({ type: 'log', level: 'info', message: `class balance: ${cfg.balance}${classWeights ? ` (Ls weights ${classWeights.map((w) => w.toFixed(2)).join(', ')})` : ''}` });
  // Worker threads must go even when a step throws.
  try {
    epochs: for (; epoch < cfg.epochs && state.globalStep < totalSteps; epoch++) {
      const lr = lrForEpoch(epoch, cfg);
      const orderRng = new Rng(deriveSeed(cfg.seed, epoch));
      const order = cfg.balance === 'sampler' ? balancedOrder(trainLabels, classes.length, nTrain, orderRng) : orderRng.shuffle(Array.from({ length: nTrain }, (_, i) => i));
      const sums = { loss: 0, ls: 0, lt: 0, lc: 0, correct: 0, seen: 0 };
      const epochStart = Date.now();
      const firstStep = epoch === state.epoch ? state.stepInEpoch : 0;
      // With loader workers, this epoch's batches are built ahead on worker threads, from the same seeds.
      let prefetched: AsyncGenerator<{ job: BatchJob; x: Float32Array }> | undefined;
      if ((cfg.loaderWorkers ?? 0) > 0) {
        if (inputs.train.samples.some((smp) => smp.pixels)) throw new Error('--loader-workers decodes image files; this dataset holds its pixels in memory (FER2013 CSV): drop --loader-workers');
        const jobs: BatchJob[] = [];
        for (let s = firstStep; s < stepsPerEpoch; s++) {
          const idx = order.slice(s * bs, (s + 1) * bs);
          jobs.push({ files: idx.map((i) => sampleFile(inputs.train, inputs.train.samples[i])), labels: idx.map((i) => inputs.train.samples[i].label), epoch, step: s });
        }
        prefetched = prefetchBatches(jobs, { size, norm, augment: cfg.augment ?? 'standard', seed: cfg.seed, workers: cfg.loaderWorkers });
      }
      try {
        for (let s = firstStep; s < stepsPerEpoch; s++) {
          if (inputs.signal?.aborted) {
            cancelled = true;
            await saveLast(s, epoch);
            break epochs;
          }
          const stepStart = Date.now();
          const idx = order.slice(s * bs, (s + 1) * bs);
          if (prefetched) {
            const next = await prefetched.next();
            if (next.done) throw new Error(`loader workers ended before step ${s + 1}`);
            x.set(next.value.x);
          } else {
            const raw = await trainImages.getBatch(idx);
            const rng = new Rng(deriveSeed(cfg.seed, epoch, s, 1));
            for (let i = 0; i < idx.length; i++) augmentInto(raw.subarray(i * per, (i + 1) * per), size, norm, rng, x, i * per, cfg.augment ?? 'standard');
          }
          const { labels: labelsArr, soft } = targets.batch(idx, epoch, s);
          const stats = par ? await par.step(x, labelsArr, lr, soft) : nativeStep ? await nativeStep.step(x, labelsArr, lr, soft) : await localStep(labelsArr, lr, soft);
          const [ls, lt, lc] = stats.terms;
          const loss = cfg.lambdaS * ls + cfg.lambdaT * lt + cfg.lambdaC * lc;
          if (!Number.isFinite(loss)) throw new Error(`training diverged at epoch ${epoch + 1}, step ${s + 1}: loss is ${loss}`);
          sums.loss += loss; sums.ls += ls; sums.lt += lt; sums.lc += lc; sums.correct += stats.correct; sums.seen += bs;
          state.globalStep++;
          const ips = (bs * 1000) / Math.max(Date.now() - stepStart, 1);
          ema = ema ? 0.9 * ema + 0.1 * ips : ips;
          const remaining = totalSteps - state.globalStep;
          await log({ type: 'step', step: state.globalStep, epoch: epoch + 1, totalSteps, loss, ls, lt, lc, lr, imgPerSec: ema, etaSec: (remaining * bs) / Math.max(ema, 1e-6), trainAcc: stats.correct / bs });
          if (state.globalStep >= totalSteps && s + 1 < stepsPerEpoch) {
            // A step budget ends mid-epoch: treat it as the end of this (short) epoch.
            break;
          }
        }
      } finally {
        // Stops the loader workers (also on cancel and errors).
        await prefetched?.return(undefined);
      }
      const steps = Math.max(1, sums.seen / bs);
      let val: EvalResult | undefined;
      nativeStep?.sync();
      // With cuda, validation runs the encoder on the training addon itself (tfjs on a CPU would take minutes).
      const cudaEval = nativeStep instanceof CudaTrainStep ? { encoder: nativeStep.evalEncoder(), batchSize: bs } : undefined;
      if (inputs.val && valImages) val = await evaluate(cudaEval ? { ...evalModel, encoder: cudaEval.encoder } : evalModel, inputs.val, valImages, { signal: inputs.signal, batchSize: cudaEval?.batchSize });
      const entry: EpochHistory = {
        epoch: epoch + 1, step: state.globalStep, lr, trainLoss: sums.loss / steps, ls: sums.ls / steps, lt: sums.lt / steps, lc: sums.lc / steps,
        trainAccuracy: sums.seen ? sums.correct / sums.seen : 0,
        valAccuracy: val?.summary.accuracy ?? null, valMeanClassAccuracy: val?.summary.meanClassAccuracy ?? null,
        valLoss: val ? val.summary.losses.ls : null, seconds: (Date.now() - epochStart) / 1000,
      };
      state.history.push(entry);
      const isBest = !val || state.bestValAccuracy === null || val.summary.accuracy > state.bestValAccuracy;
      if (isBest) {
        state.bestEpoch = epoch + 1;
        state.bestValAccuracy = val?.summary.accuracy ?? null;
        await saveCheckpoint(bestDir, { encoder, transform, textEmbeddings: inputs.text.matrix, config: checkpointConfig(cfg, encoder, inputs, { epoch: epoch + 1, step: state.globalStep, selectedOn: val ? 'validation' : 'last-epoch', validation: inputs.valDescription ?? null, valAccuracy: val?.summary.accuracy ?? null, valMeanClassAccuracy: val?.summary.meanClassAccuracy ?? null }) });
      }
      await saveLast(0, epoch + 1);
      await log({ type: 'epoch', epoch: epoch + 1, step: state.globalStep, trainLoss: entry.trainLoss, valAccuracy: entry.valAccuracy, valMeanClassAccuracy: entry.valMeanClassAccuracy, valLoss: entry.valLoss, best: isBest, checkpoint: isBest ? bestDir : lastDir });
    }

  } finally {
    await par?.close();
    await nativeStep?.dispose();
  }
  const selectedOn = inputs.val ? 'validation' : 'last-epoch';
  let valEval: EvalResult | undefined;
  const diagnose = inputs.diagnose ?? 'val';
  if (!cancelled && diagnose !== 'none' && existsSync(bestDir)) {
    const best = await loadCheckpoint(bestDir);
    const cudaBest = runtime === 'cuda' ? await createCudaEvalEncoder(best.encoder, 100) : undefined;
    const bestModel: EvalModel = { ...evalModel, encoder: cudaBest ?? best.encoder, transform: best.transform };
    const lines: string[] = [];
    const scatter: { id: string; x: number; y: number }[] = [];
    const sampler = new EmbeddingSampler(encoder.featureDim);
    const addScatter = (r: EvalResult) => {
      sampler.add(r.records.map((rec) => rec.id), r.embeddings!);
      const xy = pca2d(r.embeddings!, r.records.length, encoder.featureDim);
      r.records.forEach((rec, i) => scatter.push({ id: rec.id, x: Math.round(xy[2 * i] * 1e4) / 1e4, y: Math.round(xy[2 * i + 1] * 1e4) / 1e4 }));
    };
    if (inputs.val && valImages) {
      valEval = await evaluate(bestModel, inputs.val, valImages, { signal: inputs.signal, keepEmbeddings: true });
      lines.push(...valEval.records.map((r) => JSON.stringify(r)));
      addScatter(valEval);
      await writeFile(path.join(runDir, 'eval-val.json'), JSON.stringify(valEval.summary, null, 2) + '\n');
    }
    if (diagnose === 'all') {
      const tr = await evaluate(bestModel, inputs.train, trainImages, { signal: inputs.signal, keepEmbeddings: true });
      lines.push(...tr.records.map((r) => JSON.stringify(r)));
      addScatter(tr);
      await writeFile(path.join(runDir, 'eval-train.json'), JSON.stringify(tr.summary, null, 2) + '\n');
    }
    await writeFile(path.join(runDir, 'records.jsonl'), lines.join('\n') + (lines.length ? '\n' : ''));
    // 2-D PCA of each sample's embedding v (per evaluated set) for the scatter view.
    await writeFile(path.join(runDir, 'scatter.json'), JSON.stringify(scatter) + '\n');
    // a seeded sample of the embeddings themselves, for the panel's UMAP view (embeddingSample.ts)
    if (scatter.length) await sampler.write(runDir);
    cudaBest?.release();
    best.dispose();
  }
  const result: TrainResult = { runDir, bestCheckpoint: bestDir, lastCheckpoint: lastDir, bestEpoch: state.bestEpoch, selectedOn, history: state.history, cancelled, valEval };
  const run = JSON.parse(await readFile(runFile, 'utf8')) as Record<string, unknown>;
  await writeFile(runFile, JSON.stringify({ ...run, status: cancelled ? 'cancelled' : 'done', finished: new Date().toISOString(), bestEpoch: state.bestEpoch, selectedOn, validation: inputs.valDescription ?? null, valAccuracy: state.bestValAccuracy, valMeanClassAccuracy: valEval?.summary.meanClassAccuracy ?? null, history: state.history, steps: state.globalStep }, null, 2) + '\n');
  await log({ type: 'done', runDir, bestEpoch: state.bestEpoch, selectedOn, valAccuracy: state.bestValAccuracy, checkpoint: bestDir, cancelled });
  textNorm.dispose();
  sgd.dispose();
  encoder.dispose();
  transform.dispose();
  return result;
}
