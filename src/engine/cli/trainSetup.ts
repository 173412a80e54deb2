// What `kefer train` and `kefer train --engine torch` share: the training flags as a TrainConfig, the
// data check before the first step, and the store's relabel overlay.
import { dropListing, preflightDataset } from '../data/preflight.js';
import type { Dataset } from '../data/types.js';
import { AUGMENT_MODES } from '../data/augment.js';
import { BACKBONES } from '../model/index.js';
import { CUDA_PRECISIONS } from '../runtimes/cuda/addon.js';
import type { Store } from '../store/index.js';
import { BALANCE_MODES } from '../train/balance.js';
import { FERPLUS_LABEL_SCHEMES } from '../train/labelSchemes.js';
import { DEFAULT_TRAIN_CONFIG, TRAIN_RUNTIMES, type TrainConfig } from '../train/trainer.js';
import { num, oneOf } from './args.js';
import { rel } from './data.js';
import { withOverlay } from './storeLink.js';

export function parseTrainConfig(f: Record<string, unknown>): TrainConfig {
  const d = DEFAULT_TRAIN_CONFIG;
  return {
    backbone: oneOf(f, 'backbone', BACKBONES, d.backbone),
    inputSize: f['input-size'] !== undefined ? num(f, 'input-size', 0, { int: true, min: 16 }) : undefined,
    epochs: num(f, 'epochs', d.epochs, { int: true, min: 1 }),
    maxSteps: f['max-steps'] !== undefined ? num(f, 'max-steps', 0, { int: true, min: 1 }) : undefined,
    batchSize: num(f, 'batch', d.batchSize, { int: true, min: 2 }),
    lr: num(f, 'lr', d.lr, { min: 0 }),
    warmupLr: num(f, 'warmup-lr', d.warmupLr, { min: 0 }),
    warmupEpochs: num(f, 'warmup-epochs', d.warmupEpochs, { int: true, min: 0 }),
    momentum: num(f, 'momentum', d.momentum, { min: 0 }),
    weightDecay: num(f, 'weight-decay', d.weightDecay, { min: 0 }),
    contrast: oneOf(f, 'contrast', ['pairwise', 'per-sample'] as const, d.contrast),
    lambdaS: num(f, 'lambda-s', d.lambdaS, { min: 0 }),
    lambdaT: num(f, 'lambda-t', d.lambdaT, { min: 0 }),
    lambdaC: num(f, 'lambda-c', d.lambdaC, { min: 0 }),
    logitScale: num(f, 'logit-scale', d.logitScale, { min: 0 }),
    seed: num(f, 'seed', d.seed, { int: true, min: 0 }),
    init: f.init as string | undefined,
    augment: oneOf(f, 'augment', AUGMENT_MODES, 'standard'),
    workers: f.workers !== undefined ? num(f, 'workers', 1, { int: true, min: 1 }) : undefined,
    runtime: oneOf(f, 'runtime', TRAIN_RUNTIMES, 'auto'),
    onnxThreads: f['onnx-threads'] !== undefined ? num(f, 'onnx-threads', 1, { int: true, min: 1 }) : undefined,
    convAlgorithm: oneOf(f, 'conv-algorithm', ['auto', 'direct'] as const, 'auto'),
    ferplusLabels: oneOf(f, 'ferplus-labels', FERPLUS_LABEL_SCHEMES, 'majority'),
    balance: oneOf(f, 'balance', BALANCE_MODES, 'none'),
    precision: f.precision !== undefined ? oneOf(f, 'precision', CUDA_PRECISIONS, 'fp32') : undefined,
    loaderWorkers: f['loader-workers'] !== undefined ? num(f, 'loader-workers', 0, { int: true, min: 0 }) : undefined,
  };
}

/** Checks the dataset before the first step: refuses it with the check's report, or drops and lists the bad samples. */
export async function preflight(spec: string, skipBad: boolean, log: (m: string) => void, flag = '--data') {
  const pre = await preflightDataset(spec, { skipBad, flag }, rel);
  if (pre.record.dropped.length) {
    log(`--skip-bad: training without ${pre.record.dropped.length} problem line(s)/file(s) found by the data check:`);
    for (const line of dropListing(pre.result.problems, rel, 50)) log(line);
  } else {
    log(`data check: ${spec}: no problems (${pre.dataset.samples.length} samples)`);
  }
  return pre;
}

/** The dataset with the store's relabel overlay applied, saying what changed. */
export function overlaid(store: Store, dataset: Dataset, storePath: string, log: (m: string) => void): Dataset {
  const o = withOverlay(store, dataset);
  log(`label overlay from ${storePath}: ${o.relabeled} relabeled, ${o.excluded} excluded (original label files untouched)`);
  return o.dataset;
}

