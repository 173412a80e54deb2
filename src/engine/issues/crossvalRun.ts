// `kefer issues --cross-val K` as an engine call: every training sample's out-of-fold record (probs,
// simText, simNeutral, gap, align) from one of three fold trainers, resumable per fold.
//   features hog         the KE-FER head (featureHead.ts) on label-free HOG features: fully out-of-sample
//   features checkpoint  the head on the frozen encoder features of a base run (fast; the encoder saw all
//                        labels, so a memorised wrong label is under-ranked: docs/label-issues.md)
//   backbone             the whole KE-FER model (src/engine/train/trainer.ts) trained per fold, the held-out
//                        fold scored from its last checkpoint (slow; the honest one)
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Dataset } from '../data/types.js';
import { evaluateCheckpoint } from '../eval/checkpointEval.js';
import type { SampleRecord } from '../eval/types.js';
import type { BackendReport, EngineEvent } from '../events.js';
import { computeFeatures } from '../onnx/features.js';
import type { TextEmbeddings } from '../text/index.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { train, type TrainConfig } from '../train/trainer.js';
import { crossValidatedRecords, type Fold, type FoldTrainer } from './crossval.js';
import { featureHeadFoldTrainer } from './featureHead.js';
import { hogFeatures, HOG_DIM } from './pixelFeatures.js';

export type CrossValMode =
  | { kind: 'hog'; epochs: number }
  | { kind: 'checkpoint'; dir: string; epochs: number }
  | { kind: 'backbone'; config: TrainConfig; backend: BackendReport };

export type CrossValEvent =
  | { type: 'features'; rows: number; dim: number; seconds: number }
  | { type: 'fold-start'; fold: number; k: number; train: number; heldOut: number }
  | { type: 'fold-done'; fold: number; k: number; seconds: number; resumed: boolean }
  | { type: 'train'; fold: number; event: EngineEvent };

export interface CrossValRunOptions {
  /** The samples to cross-validate, labels as given (relabel overlay already applied). */
  dataset: Dataset;
  mode: CrossValMode;
  /** Text embeddings for the head modes (checkpoint mode uses the checkpoint's own). */
  text?: TextEmbeddings;
  k: number;
  seed: number;
  /** Working folder: per-fold records (and per-fold runs in backbone mode) live here, for resuming. */
  dir: string;
  onEvent?: (e: CrossValEvent) => void;
  signal?: AbortSignal;
}

/** Out-of-fold records of every sample of `dataset`, in dataset order. */
export async function runCrossValidation(opts: CrossValRunOptions): Promise<SampleRecord[]> {
  const { dataset: ds, mode, k, seed, dir } = opts;
  const labels = ds.samples.map((s) => s.label);
  const neutralIndex = ds.classes.indexOf('neutral');
  let trainer: FoldTrainer;
  let tag: string;
  if (mode.kind === 'backbone') {
    tag = `backbone-${mode.config.backbone}`;
    // Per-fold runs keyed like the fold records: another K or seed must not resume a fold of other samples.
    trainer = backboneFoldTrainer(opts, path.join(dir, `${tag}-k${k}-s${seed}-runs`));
  } else {
    const t = performance.now();
    let features: Float32Array;
    let dim: number;
    let textMatrix: Float32Array;
    if (mode.kind === 'hog') {
      if (!opts.text) throw new RangeError('runCrossValidation: hog mode needs text embeddings');
      features = await hogFeatures(ds, undefined, 8);
      dim = HOG_DIM;
      textMatrix = opts.text.matrix;
      tag = 'hog';
    } else {
      const model = await loadCheckpoint(mode.dir);
      try {
        const missing = ds.classes.filter((c) => !model.config.classes.includes(c));
        if (missing.length) throw new RangeError(`${mode.dir}: the checkpoint has no class ${missing.join(', ')}`);
        // Rows in the dataset's class order.
        const D = model.textEmbeddings.length / model.config.classes.length;
        textMatrix = new Float32Array(ds.classes.length * D);
        ds.classes.forEach((c, r) => textMatrix.set(model.textEmbeddings.subarray(model.config.classes.indexOf(c) * D, (model.config.classes.indexOf(c) + 1) * D), r * D));
      } finally {
        model.dispose();
      }
      const r = await computeFeatures(mode.dir, ds, { signal: opts.signal });
      features = r.features;
      dim = r.dim;
      tag = `checkpoint-${r.checkpointSha256.slice(0, 12)}`;
    }
    opts.onEvent?.({ type: 'features', rows: ds.samples.length, dim, seconds: (performance.now() - t) / 1000 });
    trainer = featureHeadFoldTrainer(features, ds.samples, labels, {
      featureDim: dim, classes: ds.classes, neutralIndex, textEmbeddings: textMatrix, epochs: mode.epochs, seed, signal: opts.signal,
    });
    tag += `-e${mode.epochs}`;
  }
  return crossValidatedRecords(labels, trainer, {
    k, seed, dir: path.join(dir, `${tag}-k${k}-s${seed}`), ids: ds.samples.map((s) => s.id),
    onFoldStart: (f) => opts.onEvent?.({ type: 'fold-start', fold: f.index + 1, k, train: f.train.length, heldOut: f.heldOut.length }),
    onFold: (f, seconds, resumed) => opts.onEvent?.({ type: 'fold-done', fold: f.index + 1, k, seconds, resumed }),
  });
}

/** Trains the full model on the fold's training samples (its own run folder, resumable) and scores the held-out ones. */
function backboneFoldTrainer(opts: CrossValRunOptions, dir: string): FoldTrainer {
  const { dataset: ds, mode } = opts;
  if (mode.kind !== 'backbone') throw new Error('unreachable');
  if (!opts.text) throw new RangeError('runCrossValidation: backbone mode needs text embeddings');
  const text = opts.text;
  return async (fold: Fold) => {
    const outDir = path.join(dir, `fold-${fold.index + 1}-of-${fold.k}`);
    const subset = (idx: number[]): Dataset => ({ ...ds, samples: idx.map((i) => ds.samples[i]) });
    // A fold run interrupted mid-way resumes from its last checkpoint (trainer.ts checks the config matches).
    const resume = existsSync(path.join(outDir, 'checkpoints', 'last', 'state.json'));
    const result = await train({ ...mode.config, seed: mode.config.seed + fold.index }, {
      train: subset(fold.train), text, backend: mode.backend, outDir, resume, diagnose: 'none', signal: opts.signal,
      onEvent: (event) => opts.onEvent?.({ type: 'train', fold: fold.index + 1, event }),
    });
    if (result.cancelled) throw new Error('cross-validation cancelled');
    // No validation set (every sample is someone's held-out fold): the last epoch's checkpoint scores.
    const r = await evaluateCheckpoint(result.lastCheckpoint, subset(fold.heldOut), { signal: opts.signal });
    return r.records;
  };
}
