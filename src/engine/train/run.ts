// A training run's state and its files: opening it (new, or resumed from checkpoints/last), the last and
// best checkpoints, and the final run.json. Everything the trainer's steps share lives in `Run`.
import * as tf from '@tensorflow/tfjs-core';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createImageCache, type ImageCache } from '../data/decode.js';
import type { EvalModel, EvalResult } from '../eval/evaluate.js';
import type { EngineEvent } from '../events.js';
import { l2normalize, type LossOptions } from '../losses.js';
import { checkpointTensors, IMAGENET_MEAN, IMAGENET_STD, loadCheckpoint, loadInitWeights, writeCheckpointFiles, type CheckpointConfig } from '../model/checkpoint.js';
import { createEncoder, createTransform, type Encoder, type Transform } from '../model/index.js';
import { Sgd } from '../runtimes/sgd.js';
import type { RuntimeName } from '../runtimes/types.js';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../util/safetensors.js';
import { balancedClassWeights } from './balance.js';
import { sameConfig, type ResumeState, type TrainConfig, type TrainInputs, type TrainResult } from './config.js';
import { TrainTargets } from './labelSchemes.js';

export interface Run {
  cfg: TrainConfig;
  inputs: TrainInputs;
  dir: string;
  lastDir: string;
  bestDir: string;
  runFile: string;
  log(e: EngineEvent): Promise<void>;
  encoder: Encoder;
  transform: Transform;
  sgd: Sgd;
  /** L2-normalised text embeddings [K, D]. */
  textNorm: tf.Tensor2D;
  state: ResumeState;
  /** Wall-clock start, shifted back by a resumed run's elapsed time. */
  t0: number;
  batch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  loss: LossOptions;
  targets: TrainTargets;
  trainLabels: number[];
  trainImages: ImageCache;
  valImages?: ImageCache;
  /** The model as evaluation takes it (the tfjs encoder; a runtime's forward is added per evaluation). */
  evalModel: EvalModel;
  /** Set by createRuntime. */
  runtime?: RuntimeName;
  cancelled: boolean;
}

const NEW_STATE: ResumeState = { epoch: 0, stepInEpoch: 0, globalStep: 0, bestEpoch: -1, bestValAccuracy: null, history: [], elapsedSec: 0 };

/** Checks the inputs, then builds the model (or loads checkpoints/last with --resume) and the run's settings. */
export async function openRun(cfg: TrainConfig, inputs: TrainInputs): Promise<Run> {
  const dir = path.resolve(inputs.outDir);
  const ckptDir = path.join(dir, 'checkpoints');
  const lastDir = path.join(ckptDir, 'last');
  await mkdir(ckptDir, { recursive: true });
  const eventsFile = path.join(dir, 'events.jsonl');
  const log = async (e: EngineEvent) => {
    inputs.onEvent?.(e);
    await appendFile(eventsFile, JSON.stringify({ ...e, time: new Date().toISOString() }) + '\n');
  };
  const classes = inputs.train.classes;
  const neutralIndex = classes.indexOf('neutral');
  if (neutralIndex < 0) throw new Error('the class list has no neutral class: KE-FER needs it as the anchor');
  if (inputs.text.classes.join() !== classes.join()) {
    throw new Error(`text embeddings are for classes [${inputs.text.classes.join(', ')}], the dataset has [${classes.join(', ')}]`);
  }
  const runFile = path.join(dir, 'run.json');
  const model = inputs.resume && existsSync(path.join(lastDir, 'state.json')) ? await resumeModel(cfg, runFile, lastDir, log) : await newModel(cfg, inputs, lastDir, log);
  const textNorm = l2normalize(tf.tensor2d(inputs.text.matrix, [classes.length, inputs.text.dim])) as tf.Tensor2D;
  const nTrain = inputs.train.samples.length;
  const batch = Math.min(cfg.batchSize, nTrain);
  // drop_last: a tiny trailing batch would give BatchNorm meaningless statistics.
  const stepsPerEpoch = Math.max(1, Math.floor(nTrain / batch));
  const trainLabels = inputs.train.samples.map((s) => s.label);
  const classWeights = cfg.balance === 'weights' ? balancedClassWeights(trainLabels, classes.length) : undefined;
  const size = model.encoder.inputSize;
  const norm = { mean: IMAGENET_MEAN, std: IMAGENET_STD };
  return {
    cfg, inputs, dir, lastDir, bestDir: path.join(ckptDir, 'best'), runFile, log, ...model, textNorm,
    t0: Date.now() - model.state.elapsedSec * 1000, batch, stepsPerEpoch,
    totalSteps: Math.min(cfg.epochs * stepsPerEpoch, cfg.maxSteps ?? Infinity),
    loss: { neutralIndex, contrast: cfg.contrast, lambdaS: cfg.lambdaS, lambdaT: cfg.lambdaT, lambdaC: cfg.lambdaC, logitScale: cfg.logitScale, classWeights },
    targets: new TrainTargets(inputs.train, cfg.ferplusLabels ?? 'majority', cfg.seed),
    trainLabels,
    trainImages: inputs.trainImages ?? createImageCache(inputs.train, size),
    valImages: inputs.val ? (inputs.valImages ?? createImageCache(inputs.val, size)) : undefined,
    evalModel: { encoder: model.encoder, transform: model.transform, textNorm, neutralIndex, logitScale: cfg.logitScale, norm, classes },
    cancelled: false,
  };
}

type Model = Pick<Run, 'encoder' | 'transform' | 'sgd' | 'state'>;

async function resumeModel(cfg: TrainConfig, runFile: string, lastDir: string, log: Run['log']): Promise<Model> {
  const prev = JSON.parse(await readFile(runFile, 'utf8')) as { config: TrainConfig };
  const diff = sameConfig(prev.config, cfg);
  if (diff) throw new Error(`${runFile}: cannot resume with a different configuration (${diff})`);
  const { encoder, transform } = await loadCheckpoint(lastDir);
  const state = JSON.parse(await readFile(path.join(lastDir, 'state.json'), 'utf8')) as ResumeState;
  const sgd = new Sgd(cfg.momentum, cfg.weightDecay);
  const { tensors } = await readSafetensors(path.join(lastDir, 'optimizer.safetensors'));
  sgd.import(new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }])));
  await log({ type: 'log', level: 'info', message: `resumed from ${lastDir} at epoch ${state.epoch + 1}, step ${state.globalStep}` });
  return { encoder, transform, sgd, state };
}

async function newModel(cfg: TrainConfig, inputs: TrainInputs, lastDir: string, log: Run['log']): Promise<Model> {
  if (inputs.resume) await log({ type: 'log', level: 'warn', message: `--resume: no checkpoint in ${lastDir}; starting a new run` });
  const encoder = createEncoder(cfg.backbone, { seed: cfg.seed, inputSize: cfg.inputSize });
  const transform = createTransform(cfg.seed);
  if (cfg.init) {
    const n = await loadInitWeights(encoder, cfg.init);
    await log({ type: 'log', level: 'info', message: `initialised ${n} encoder tensors from ${cfg.init}` });
  }
  return { encoder, transform, sgd: new Sgd(cfg.momentum, cfg.weightDecay), state: { ...NEW_STATE, history: [] } };
}

function checkpointConfig(run: Run, extra: Record<string, unknown>): CheckpointConfig {
  const { cfg, inputs, encoder } = run;
  return {
    format: 'kefer-checkpoint', version: 1, backbone: cfg.backbone, classes: [...inputs.train.classes], neutralIndex: run.loss.neutralIndex,
    inputSize: encoder.inputSize, mean: IMAGENET_MEAN, std: IMAGENET_STD, logitScale: cfg.logitScale, prompts: inputs.text.prompts,
    textSource: inputs.text.source, featureDim: encoder.featureDim,
    training: { ...cfg, dataset: inputs.train.root, format: inputs.train.format, synthetic: !!inputs.train.synthetic, backend: inputs.backend },
    // The runtime that trained it: kefer eval runs it there by default.
    runtime: run.runtime,
    ...extra,
  };
}

/**
 * checkpoints/last with the optimizer and the resume state, and with `best` also checkpoints/best (with
 * what selected it): the model's tensors are read once for both. Call the runtime's sync() first.
 */
export async function saveLast(run: Run, stepInEpoch: number, epoch: number, best?: { val?: EvalResult }): Promise<void> {
  const { encoder, transform, inputs, sgd } = run;
  const tensors = await checkpointTensors({ encoder, transform, textEmbeddings: inputs.text.matrix, config: { classes: inputs.train.classes } });
  if (best) {
    const { val } = best;
    const selected = { selectedOn: val ? 'validation' : 'last-epoch', validation: inputs.valDescription ?? null, valAccuracy: val?.summary.accuracy ?? null, valMeanClassAccuracy: val?.summary.meanClassAccuracy ?? null };
    await writeCheckpointFiles(run.bestDir, tensors, checkpointConfig(run, { epoch, step: run.state.globalStep, ...selected }));
  }
  const s: ResumeState = { ...run.state, epoch, stepInEpoch, elapsedSec: (Date.now() - run.t0) / 1000 };
  await writeCheckpointFiles(run.lastDir, tensors, checkpointConfig(run, { epoch, step: run.state.globalStep }));
  const opt = new Map<string, TensorToWrite>();
  for (const [name, b] of await sgd.export()) opt.set(name, { dtype: 'F32', shape: b.shape, data: b.data });
  await writeSafetensors(path.join(run.lastDir, 'optimizer.safetensors'), opt);
  await writeFile(path.join(run.lastDir, 'state.json'), JSON.stringify(s, null, 2) + '\n');
}

/** The final run.json and 'done' event; frees the model. */
export async function finishRun(run: Run, valEval?: EvalResult): Promise<TrainResult> {
  const { state, inputs, cancelled } = run;
  const selectedOn = inputs.val ? 'validation' : 'last-epoch';
  const result: TrainResult = { runDir: run.dir, bestCheckpoint: run.bestDir, lastCheckpoint: run.lastDir, bestEpoch: state.bestEpoch, selectedOn, history: state.history, cancelled, valEval };
  const prev = JSON.parse(await readFile(run.runFile, 'utf8')) as Record<string, unknown>;
  const done = { status: cancelled ? 'cancelled' : 'done', finished: new Date().toISOString(), bestEpoch: state.bestEpoch, selectedOn, validation: inputs.valDescription ?? null, valAccuracy: state.bestValAccuracy, valMeanClassAccuracy: valEval?.summary.meanClassAccuracy ?? null, history: state.history, steps: state.globalStep };
  await writeFile(run.runFile, JSON.stringify({ ...prev, ...done }, null, 2) + '\n');
  await run.log({ type: 'done', runDir: run.dir, bestEpoch: state.bestEpoch, selectedOn, valAccuracy: state.bestValAccuracy, checkpoint: run.bestDir, cancelled });
  closeRun(run);
  return result;
}

export function closeRun(run: Run): void {
  run.textNorm.dispose();
  run.sgd.dispose();
  run.encoder.dispose();
  run.transform.dispose();
}
