// Head-only retraining (`kefer train --mode head`): the checkpoint's encoder is frozen and its features for
// the whole dataset come from onnxruntime through the on-disk cache (onnx/features.ts). Only a projection
// head v' = v W + b (512 -> 512, initialised to the identity, so step 0 reproduces the checkpoint) and F_n
// train, with the full KE-FER loss, on the labels as given (the caller applies the relabel overlay).
// The whole dataset is then re-scored into records.jsonl. Seconds, not hours, after a label change.
//
// The new checkpoint keeps loadCheckpoint's format: for `compact` the head is folded into head.conv /
// head.bn (exact: global pooling commutes with the affine 1x1 conv + BN); for `resnet18`, which ends in
// ReLU + pooling, it is stored as extra tensors encoder.proj.weight [out, in] / encoder.proj.bias and
// config.encoderProjection = true (the ONNX export and loadCheckpoint apply it).
// The base checkpoint is read once as raw tensors: a ResNet-18 encoder is never built in tfjs here (that
// took ~1 s of a RAF-scale retrain); its tensors are copied into the new file as they are.
// Every tensor read is `await data()`: on WebGPU in Node a synchronous read throws.
import * as tf from '@tensorflow/tfjs-core';
import '../backend/gradients.js';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { initBackend } from '../backend/index.js';
import type { Dataset } from '../data/types.js';
import { alignClasses } from '../eval/checkpointEval.js';
import type { EvalSummary } from '../eval/types.js';
import type { EngineEvent } from '../events.js';
import { DEFAULT_LOSS_OPTIONS, keferLoss, l2normalize, type ContrastVariant } from '../losses.js';
import { BN_EPS } from '../model/layers.js';
import { computeFeatures } from '../onnx/features.js';
import type { EncoderProjection } from '../onnx/export.js';
import { RecordBuilder } from '../eval/records.js';
import { createOnnxSession, type OnnxProvider } from '../onnx/runtime.js';
import { headGraph } from '../onnx/headGraph.js';
import * as ort from 'onnxruntime-node';
import { Rng } from '../util/rng.js';
import type { SafeTensor, TensorToWrite } from '../util/safetensors.js';
import { CheckpointError, loadCheckpoint, readCheckpointConfig, readStateDict, saveCheckpoint, writeCheckpointFiles, type LoadedModel } from '../model/checkpoint.js';

export interface HeadTrainOptions {
  /** Base checkpoint directory (its encoder is frozen). Retrain from the same base each time to keep the feature cache warm. */
  checkpoint: string;
  /** Labels as given (relabel overlay already applied). Classes are matched to the checkpoint's by name. */
  dataset: Dataset;
  /** Run directory: writes OUT/checkpoints/best and OUT/records.jsonl. */
  out: string;
  /** Splits trained on (default: 'train' when the dataset has it, else every sample). All samples are re-scored. */
  trainSplits?: string[];
  epochs?: number;
  /** Cap on optimiser steps (bounds the time at AffectNet scale). Default: 76,800 samples' worth (150 at batch 512). */
  maxSteps?: number;
  /** Default 512. */
  batchSize?: number;
  /** Adam learning rate (Adam: few epochs, no schedule to tune). Default 1e-3. */
  lr?: number;
  contrast?: ContrastVariant;
  lambdaS?: number;
  lambdaT?: number;
  lambdaC?: number;
  seed?: number;
  /** Precomputed features [N, 512] in dataset order (skips onnxruntime and the cache; benches, tests). */
  features?: Float32Array;
  cacheDir?: string;
  providers?: OnnxProvider[];
  onEvent?: (e: EngineEvent) => void;
  signal?: AbortSignal;
}

export interface HeadTrainResult {
  checkpoint: string;
  records: string;
  summary: EvalSummary;
  steps: number;
  /** Wall seconds per phase. */
  seconds: { features: number; train: number; rescore: number; save: number };
  features: { hits: number; computed: number };
}

const FN_TENSORS = ['MLP.fc1.weight', 'MLP.fc1.bias', 'MLP.fc2.weight', 'MLP.fc2.bias'];

/** A tensor of the base checkpoint, or a CheckpointError naming it (and the shape when it differs). */
function baseTensor(file: string, tensors: Map<string, SafeTensor>, name: string, shape?: number[]): SafeTensor {
  const t = tensors.get(name);
  if (!t) throw new CheckpointError(`${file}: missing tensor '${name}'`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new CheckpointError(`${file}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return t;
}

/** [rows, cols] row-major -> [cols, rows] (PyTorch Linear [out, in] <-> tfjs [in, out]). */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** Head (identity, or an existing projection) + F_n variables from the base checkpoint's tensors. */
function trainables(file: string, tensors: Map<string, SafeTensor>, proj: EncoderProjection | undefined, D: number): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  vars.set('head.weight', tf.variable(proj ? tf.tensor2d(proj.weight, [D, D]) : tf.eye(D), true, 'head.weight'));
  vars.set('head.bias', tf.variable(proj ? tf.tensor1d(proj.bias) : tf.zeros([D]), true, 'head.bias'));
  for (const name of FN_TENSORS) {
    const t = baseTensor(file, tensors, name);
    const init = t.shape.length === 2 ? tf.tensor2d(transpose2d(t.data, t.shape[0], t.shape[1]), [t.shape[1], t.shape[0]]) : tf.tensor1d(t.data);
    vars.set(name, tf.variable(init, true, `fn.${name}`));
  }
  if (vars.get('MLP.fc1.weight')!.shape[0] !== D) throw new CheckpointError(`${file}: MLP.fc1.weight does not take ${D}-d features`);
  return vars;
}

/** All trained values, read asynchronously (WebGPU in Node has no synchronous read). */
async function readVars(vars: Map<string, tf.Variable>): Promise<Map<string, Float32Array>> {
  const vals = await Promise.all([...vars.values()].map((v) => v.data() as Promise<Float32Array>));
  return new Map([...vars.keys()].map((k, i) => [k, vals[i]]));
}

/** v (P, c) then (W, b) as one affine map: (P W, c W + b); P, W [in, out]. */
function compose(P: EncoderProjection, W: Float32Array, b: Float32Array, D: number): EncoderProjection {
  const out = new Float32Array(D * D);
  const bias = Float32Array.from(b);
  for (let i = 0; i < D; i++) {
    for (let k = 0; k < D; k++) {
      const p = P.weight[i * D + k];
      if (p === 0) continue;
      for (let o = 0; o < D; o++) out[i * D + o] += p * W[k * D + o];
    }
  }
  for (let k = 0; k < D; k++) for (let o = 0; o < D; o++) bias[o] += P.bias[k] * W[k * D + o];
  return { weight: out, bias };
}

function forward(vars: Map<string, tf.Variable>, f: tf.Tensor2D): { v: tf.Tensor2D; n: tf.Tensor2D } {
  const lin = (x: tf.Tensor2D, name: string) => tf.add(tf.matMul(x, vars.get(`${name}.weight`)!), vars.get(`${name}.bias`)!) as tf.Tensor2D;
  const v = lin(f, 'head');
  return { v, n: lin(tf.relu(lin(v, 'MLP.fc1')), 'MLP.fc2') };
}

/**
 * Folds v' = v W + b into compact's last 1x1 conv + BN: with a = gamma / sqrt(var + eps), c = beta - mean a,
 * v = a * (Wc^T m) + c for pooled m, so v' = (Wc diag(a) W)^T m + (c W + b): a new conv weight, and a BN
 * reduced to scale 1 (mean 0, var 1, gamma sqrt(1 + eps)) with beta = c W + b.
 */
function foldIntoCompactHead(model: LoadedModel, W: Float32Array, b: Float32Array, D: number): void {
  const enc = model.encoder;
  const get = (m: Map<string, tf.Variable>, k: string) => m.get(k)!;
  tf.tidy(() => {
    const wc = get(enc.params, 'head.conv.weight'); // [1, 1, Cin, D]
    const cin = wc.shape[2] as number;
    const a = tf.div(get(enc.params, 'head.bn.weight'), tf.sqrt(tf.add(get(enc.buffers, 'head.bn.running_var'), BN_EPS)));
    const c = tf.sub(get(enc.params, 'head.bn.bias'), tf.mul(get(enc.buffers, 'head.bn.running_mean'), a));
    const Wt = tf.tensor2d(W, [D, D]);
    const newW = tf.matMul(tf.mul(tf.reshape(wc, [cin, D]), a), Wt);
    const newB = tf.add(tf.matMul(tf.reshape(c, [1, D]), Wt), tf.tensor2d(b, [1, D]));
    wc.assign(tf.reshape(newW, [1, 1, cin, D]));
    get(enc.params, 'head.bn.weight').assign(tf.fill([D], Math.sqrt(1 + BN_EPS)));
    get(enc.params, 'head.bn.bias').assign(tf.reshape(newB, [D]));
    get(enc.buffers, 'head.bn.running_mean').assign(tf.zeros([D]));
    get(enc.buffers, 'head.bn.running_var').assign(tf.ones([D]));
  });
}

/** encoder.proj.* of a checkpoint as [in, out] (tfjs layout). */
function projectionOf(file: string, tensors: Map<string, SafeTensor>, D: number): EncoderProjection {
  const w = baseTensor(file, tensors, 'encoder.proj.weight', [D, D]);
  const b = baseTensor(file, tensors, 'encoder.proj.bias', [D]);
  return { weight: transpose2d(w.data, D, D), bias: Float32Array.from(b.data) };
}

/** Runs head-only retraining; see the module comment. Needs no tfjs backend set up (initialises wasm when none is). */
export async function trainHead(opts: HeadTrainOptions): Promise<HeadTrainResult> {
  const emit = opts.onEvent ?? (() => {});
  const log = (message: string) => emit({ type: 'log', level: 'info', message });
  let backend: { name: string; detail: string };
  try {
    backend = { name: tf.getBackend(), detail: 'already initialised' };
  } catch {
    backend = await initBackend('wasm', () => {});
  }
  if (!backend.name) backend = await initBackend('wasm', () => {});

  const cfg = await readCheckpointConfig(opts.checkpoint);
  const baseFile = path.join(opts.checkpoint, 'model.safetensors');
  const { tensors: baseTensors } = await readStateDict(baseFile);
  const vars: Map<string, tf.Variable>[] = [];
  try {
    const ds = alignClasses(opts.dataset, cfg.classes, opts.checkpoint);
    const N = ds.samples.length;
    const K = cfg.classes.length;
    const D = cfg.featureDim ?? 512;
    const textEmbeddings = baseTensor(baseFile, baseTensors, 'text_embeddings', [K, D]).data;

    // Plan first, so 'start' goes out before the (possibly long) feature pass.
    const splits = opts.trainSplits ?? (ds.samples.some((s) => s.split === 'train') ? ['train'] : undefined);
    const trainIdx = ds.samples.map((_, i) => i).filter((i) => !splits || splits.includes(ds.samples[i].split));
    if (trainIdx.length === 0) throw new Error(`no training samples (splits ${splits?.join(', ') ?? 'all'})`);
    // Batch 512 (was 256), same Adam lr: ~20% less CPU per sample on wasm (fewer, larger kernels), and on
    // the bench's features the head's held-out accuracy was no worse (3 seeds; bench/README.md).
    const bs = Math.min(opts.batchSize ?? 512, trainIdx.length);
    const stepsPerEpoch = Math.max(1, Math.floor(trainIdx.length / bs));
    // 2 passes (was 3): a RAF-scale retrain took 12.3 s with 3 and 10.0 s with 2 here; head quality at 2 not re-measured.
    const epochs = opts.epochs ?? 2;
    // The cap is a sample budget (300 steps of 256 before), so AffectNet-scale retrains see as many samples.
    const totalSteps = Math.min(epochs * stepsPerEpoch, opts.maxSteps ?? Math.ceil(76800 / bs));
    emit({ type: 'start', runDir: opts.out, backend, textSource: cfg.textSource?.description ?? 'checkpoint', textKind: cfg.textSource?.kind ?? 'file', dataset: `${ds.format}:${ds.root}`, nTrain: trainIdx.length, nVal: N - trainIdx.length, epochs: Math.ceil(totalSteps / stepsPerEpoch), stepsPerEpoch, backbone: `${cfg.backbone} (head only)`, synthetic: !!ds.synthetic });

    // 1. Features (frozen encoder; the existing projection of a head-trained resnet18 base is the head's init).
    let t = performance.now();
    let features = opts.features;
    let hits = N, computed = 0;
    if (!features) {
      const r = await computeFeatures(opts.checkpoint, ds, { cacheDir: opts.cacheDir, providers: opts.providers, signal: opts.signal, log });
      ({ features, hits, computed } = r);
    }
    if (features.length !== N * D) throw new Error(`features: expected ${N} x ${D} values, got ${features.length}`);
    // A resnet18 base that already has a projection P: the ONNX features include it, so the head starts
    // from identity and the saved projection is P followed by the head. Given features are pre-projection.
    const existing = baseTensors.has('encoder.proj.weight') ? projectionOf(baseFile, baseTensors, D) : undefined;
    const featuresProjected = cfg.backbone === 'resnet18' && !opts.features;
    const baseProj = featuresProjected ? undefined : existing;
    const secFeatures = (performance.now() - t) / 1000;
    log(`features: ${N} x ${D} (${hits} cached, ${computed} computed) in ${secFeatures.toFixed(2)} s`);

    // 2. Train head + F_n on the training split.

    t = performance.now();
    const v0 = trainables(baseFile, baseTensors, baseProj, D);
    vars.push(v0);
    const textNorm = tf.tidy(() => l2normalize(tf.tensor2d(textEmbeddings, [K, D])));
    const lossOpts = { ...DEFAULT_LOSS_OPTIONS, neutralIndex: cfg.neutralIndex, logitScale: cfg.logitScale, contrast: opts.contrast ?? DEFAULT_LOSS_OPTIONS.contrast, lambdaS: opts.lambdaS ?? 1, lambdaT: opts.lambdaT ?? 1, lambdaC: opts.lambdaC ?? 1 };
    const optimizer = tf.train.adam(opts.lr ?? 1e-3);
    const rng = new Rng(opts.seed ?? 29);
    const order = trainIdx.slice();
    const fb = new Float32Array(bs * D);
    const yb = new Int32Array(bs);
    let step = 0, epoch = 0, lossSum = 0, lossN = 0;
    const labelsAll = ds.samples.map((s) => s.label);
    while (step < totalSteps) {
      epoch++;
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (let s = 0; s < stepsPerEpoch && step < totalSteps; s++) {
        if (opts.signal?.aborted) throw new Error('head training cancelled');
        for (let r = 0; r < bs; r++) {
          const i = order[s * bs + r];
          fb.set(features.subarray(i * D, (i + 1) * D), r * D);
          yb[r] = labelsAll[i];
        }
        const terms: tf.Scalar[] = [];
        const f = tf.tensor2d(fb, [bs, D]);
        const y = tf.tensor1d(yb, 'int32');
        const total = optimizer.minimize(() => {
          const { v, n } = forward(v0, f);
          const l = keferLoss(v, n, textNorm, y, lossOpts);
          terms.push(tf.keep(l.ls), tf.keep(l.lt), tf.keep(l.lc), tf.keep(tf.mean(tf.cast(tf.equal(tf.argMax(l.logits, 1), y), 'float32')) as tf.Scalar));
          return l.total;
        }, true, [...v0.values()]);
        f.dispose();
        y.dispose();
        step++;
        const last = step === totalSteps || s === stepsPerEpoch - 1;
        // Reading values back waits for the step; do it every 10 steps and at epoch ends only.
        if (step % 10 === 0 || last) {
          const [loss, ls, lt, lc, acc] = (await Promise.all([total!, ...terms].map((x) => x.data()))).map((d) => d[0]);
          lossSum += loss;
          lossN++;
          const el = (performance.now() - t) / 1000;
          emit({ type: 'step', step, epoch, totalSteps, loss, ls, lt, lc, lr: opts.lr ?? 1e-3, imgPerSec: (step * bs) / el, etaSec: (el / step) * (totalSteps - step), trainAcc: acc });
        }
        total?.dispose();
        terms.forEach((x) => x.dispose());
      }
    }
    optimizer.dispose();
    const secTrain = (performance.now() - t) / 1000;

    // 3. Re-score the whole dataset from the features (onnxruntime: see headGraph.ts).
    t = performance.now();
    const builder = new RecordBuilder({ classes: cfg.classes, neutralIndex: cfg.neutralIndex, textEmbeddings, featureDim: D, total: N });
    const trained = await readVars(v0);
    const dat = (name: string) => trained.get(name)!;
    const graph = headGraph({ headW: dat('head.weight'), headB: dat('head.bias'), fc1W: dat('MLP.fc1.weight'), fc1B: dat('MLP.fc1.bias'), fc2W: dat('MLP.fc2.weight'), fc2B: dat('MLP.fc2.bias'), textEmbeddings, K, D, logitScale: cfg.logitScale });
    const { session } = await createOnnxSession(graph, { providers: ['cpu'] }); // small GEMMs: CPU beats a device round trip
    try {
      const RB = 4096;
      for (let start = 0; start < N; start += RB) {
        const m = Math.min(RB, N - start);
        const o = await session.run({ features: new ort.Tensor('float32', features.slice(start * D, (start + m) * D), [m, D]) });
        const idx = Array.from({ length: m }, (_, i) => start + i);
        builder.add(idx.map((i) => ds.samples[i]), idx.map((i) => labelsAll[i]), idx, o.logits.data as Float32Array, o.v.data as Float32Array, o.n.data as Float32Array);
      }
    } finally {
      await session.release();
    }
    textNorm.dispose();
    const result = builder.finish();
    await mkdir(opts.out, { recursive: true });
    const recordsFile = path.join(opts.out, 'records.jsonl');
    await writeFile(recordsFile, result.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const secRescore = (performance.now() - t) / 1000;
    const valRecords = result.records.filter((r) => !splits || !splits.includes(r.split));
    const valAcc = valRecords.length ? valRecords.filter((r) => r.pred === r.label).length / valRecords.length : null;
    emit({ type: 'epoch', epoch, step, trainLoss: lossN ? lossSum / lossN : 0, valAccuracy: valAcc, valMeanClassAccuracy: null, valLoss: null, best: true, checkpoint: path.join(opts.out, 'checkpoints', 'best') });

    // 4. The new checkpoint: F_n trained, head folded (compact) or stored as encoder.proj (resnet18).
    t = performance.now();
    const ckDir = path.join(opts.out, 'checkpoints', 'best');
    await mkdir(path.dirname(ckDir), { recursive: true });
    const provenance = { base: path.resolve(opts.checkpoint), steps: step, epochs: epoch, trainSplits: splits ?? 'all', valAccuracy: valAcc, selectedOn: 'last-step' };
    if (cfg.backbone === 'compact') {
      // The compact encoder is small: build it in tfjs to fold the head into head.conv / head.bn.
      const model = await loadCheckpoint(opts.checkpoint);
      try {
        for (const [name, p] of model.transform.params) p.assign(v0.get(name)!);
        foldIntoCompactHead(model, dat('head.weight'), dat('head.bias'), D);
        await saveCheckpoint(ckDir, { ...model, config: { ...cfg, headRetrain: provenance } });
      } finally {
        model.dispose();
      }
    } else {
      // The base file's tensors as they are, F_n replaced, the head as encoder.proj (after an existing one).
      const proj = featuresProjected && existing ? compose(existing, dat('head.weight'), dat('head.bias'), D) : { weight: dat('head.weight'), bias: dat('head.bias') };
      const out = new Map<string, TensorToWrite>();
      for (const [k, v] of baseTensors) out.set(k, { dtype: v.dtype === 'I64' ? 'I64' : 'F32', shape: v.shape, data: v.data } as TensorToWrite);
      for (const name of FN_TENSORS) {
        const [rows, cols] = v0.get(name)!.shape;
        out.set(name, cols === undefined ? { dtype: 'F32', shape: [rows], data: dat(name) } : { dtype: 'F32', shape: [cols, rows], data: transpose2d(dat(name), rows, cols) });
      }
      out.set('encoder.proj.weight', { dtype: 'F32', shape: [D, D], data: transpose2d(proj.weight, D, D) });
      out.set('encoder.proj.bias', { dtype: 'F32', shape: [D], data: proj.bias });
      await writeCheckpointFiles(ckDir, out, { ...cfg, encoderProjection: true, headRetrain: provenance });
    }
    const secSave = (performance.now() - t) / 1000;
    emit({ type: 'done', runDir: opts.out, bestEpoch: epoch, selectedOn: 'last-epoch', valAccuracy: valAcc, checkpoint: ckDir, cancelled: false });
    return { checkpoint: ckDir, records: recordsFile, summary: result.summary, steps: step, seconds: { features: secFeatures, train: secTrain, rescore: secRescore, save: secSave }, features: { hits, computed } };
  } finally {
    for (const m of vars) for (const v of m.values()) v.dispose();
  }
}
