// Checkpoints: a directory with model.safetensors (PyTorch names and layouts) and config.json.
//   encoder.<torchvision resnet18 state-dict name>  conv [out, in, kh, kw], BN incl. running stats
//   MLP.fc1.weight|bias, MLP.fc2.weight|bias        Linear [out, in]
//   text_embeddings                                  [K, D]
import * as tf from '@tensorflow/tfjs-core';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createEncoder, createTransform, type BackboneName, type Encoder, type Transform } from './index.js';
import type { ParamStore } from './layers.js';
import type { TextSourceInfo } from '../text/types.js';
import { readSafetensors, writeSafetensors, type SafeTensor, type TensorToWrite } from '../util/safetensors.js';

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

export interface CheckpointConfig {
  format: 'kefer-checkpoint';
  version: 1;
  backbone: BackboneName;
  classes: string[];
  neutralIndex: number;
  inputSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  logitScale: number;
  prompts: string[];
  textSource: TextSourceInfo;
  featureDim: number;
  /** Free-form provenance: epoch, step, metrics, which split selected it, hyper-parameters. */
  [extra: string]: unknown;
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface LoadedModel {
  config: CheckpointConfig;
  encoder: Encoder;
  transform: Transform;
  /** [K, D] as stored (not normalised). */
  textEmbeddings: Float32Array;
  /** How the file was adapted on loading (see readStateDict), e.g. counters filled in, dtypes cast. */
  notes: string[];
  /** Tensors the model has no place for (ignored). */
  warnings: string[];
  dispose(): void;
}

/** tfjs layout -> PyTorch layout, chosen by rank (rank 4 = conv, rank 2 = linear). */
async function toTorch(t: tf.Tensor): Promise<{ shape: number[]; data: Float32Array }> {
  const out = tf.tidy(() => (t.rank === 4 ? tf.transpose(t, [3, 2, 0, 1]) : t.rank === 2 ? tf.transpose(t) : tf.clone(t)));
  // Async read: WebGPU in Node cannot read synchronously.
  const data = (await out.data()) as Float32Array;
  const shape = out.shape;
  out.dispose();
  return { shape, data };
}

/** PyTorch layout -> tfjs layout, or a CheckpointError naming the tensor and both shapes. */
function fromTorch(file: string, name: string, st: SafeTensor, target: tf.Variable): tf.Tensor {
  const want = target.rank === 4 ? [target.shape[3], target.shape[2], target.shape[0], target.shape[1]] : target.rank === 2 ? [target.shape[1], target.shape[0]] : target.shape;
  const got = st.shape;
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new CheckpointError(`${file}: tensor '${name}' has shape [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
  for (let i = 0; i < st.data.length; i++) {
    if (!Number.isFinite(st.data[i])) throw new CheckpointError(`${file}: tensor '${name}' holds a non-finite value at index ${i}`);
  }
  return tf.tidy(() => {
    const t = tf.tensor(st.data, got);
    return t.rank === 4 ? tf.transpose(t, [2, 3, 1, 0]) : t.rank === 2 ? tf.transpose(t) : tf.reshape(t, target.shape);
  });
}

async function collect(prefix: string, store: ParamStore, into: Map<string, TensorToWrite>): Promise<void> {
  for (const [name, v] of [...store.params, ...store.buffers]) {
    const { shape, data } = await toTorch(v);
    into.set(prefix + name, { dtype: name.endsWith('num_batches_tracked') ? 'I64' : 'F32', shape, data });
  }
}

/**
 * Loads named tensors into a store; `strict` requires every parameter/buffer to be present, except
 * BatchNorm `num_batches_tracked` counters, which PyTorch's BatchNorm fills in too when a state dict
 * lacks them (torchvision's ImageNet weights have none; evaluation never reads them). The names of the
 * counters left at 0 are pushed to `missingCounters`; `used` collects the tensor names consumed.
 */
function assign(file: string, prefix: string, store: ParamStore, tensors: Map<string, SafeTensor>, strict: boolean, used?: Set<string>, missingCounters?: string[]): number {
  let n = 0;
  for (const [name, v] of [...store.params, ...store.buffers]) {
    const st = tensors.get(prefix + name);
    if (!st) {
      if (name.endsWith('.num_batches_tracked') && missingCounters) {
        missingCounters.push(prefix + name);
        v.assign(tf.zerosLike(v));
        continue;
      }
      if (strict) throw new CheckpointError(`${file}: missing tensor '${prefix + name}'`);
      continue;
    }
    const t = fromTorch(file, prefix + name, st, v);
    v.assign(t);
    t.dispose();
    used?.add(prefix + name);
    n++;
  }
  return n;
}

export interface StateDict {
  /** Tensors under the checkpoint's own names, every value widened to float32. */
  tensors: Map<string, SafeTensor>;
  /** What was adapted on the way, one line each (prefix stripped, dtypes cast, fc.* ignored). */
  notes: string[];
}

const FLOAT_CASTS = new Set(['F16', 'BF16', 'F64']);

/**
 * Reads a model.safetensors as PyTorch's load_state_dict would take it: a `module.` prefix from
 * DataParallel / DDP is stripped, half-precision (F16, BF16) and F64 tensors are cast to float32,
 * integer counters are widened, and torchvision's classifier (`fc.*`, `encoder.fc.*`) is dropped:
 * the KE-FER head replaces it. Each adaptation is listed in `notes`.
 */
export async function readStateDict(file: string): Promise<StateDict> {
  const { tensors: raw } = await readSafetensors(file);
  const tensors = new Map<string, SafeTensor>();
  const notes: string[] = [];
  let prefixed = 0;
  const ignored: string[] = [];
  const casts = new Map<string, number>();
  for (const [name, t] of raw) {
    const bare = name.replace(/^(module\.)+/, '');
    if (bare !== name) prefixed++;
    if (tensors.has(bare)) throw new CheckpointError(`${file}: tensor '${bare}' appears twice (with and without the 'module.' prefix)`);
    if (/^(encoder\.)?fc\./.test(bare)) {
      ignored.push(bare);
      continue;
    }
    if (FLOAT_CASTS.has(t.dtype)) casts.set(t.dtype, (casts.get(t.dtype) ?? 0) + 1);
    tensors.set(bare, t);
  }
  if (prefixed) notes.push(`stripped the DataParallel/DDP 'module.' prefix from ${prefixed} tensor names`);
  for (const [dtype, n] of casts) notes.push(`cast ${n} ${dtype} tensor${n === 1 ? '' : 's'} to float32`);
  if (ignored.length) notes.push(`ignored the torchvision classifier (${ignored.join(', ')}): the KE-FER head replaces it`);
  return { tensors, notes };
}

/** Up to `max` names, then how many more. */
function nameList(names: string[], max = 8): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** Writes the checkpoint atomically: a temporary sibling directory renamed over `dir`. */
export async function saveCheckpoint(dir: string, model: { encoder: Encoder; transform: Transform; textEmbeddings: Float32Array; config: CheckpointConfig }): Promise<void> {
  await writeCheckpointFiles(dir, await checkpointTensors(model), model.config);
}

/** A model's tensors in PyTorch names and layouts, as model.safetensors holds them (for several writes). */
export async function checkpointTensors(model: { encoder: Encoder; transform: Transform; textEmbeddings: Float32Array; config: Pick<CheckpointConfig, 'classes'> }): Promise<Map<string, TensorToWrite>> {
  const tensors = new Map<string, TensorToWrite>();
  await collect('encoder.', model.encoder, tensors);
  await collect('', model.transform, tensors);
  const k = model.config.classes.length;
  tensors.set('text_embeddings', { dtype: 'F32', shape: [k, model.textEmbeddings.length / k], data: model.textEmbeddings });
  return tensors;
}

/**
 * Writes model.safetensors (tensors already in PyTorch names and layouts) and config.json atomically:
 * a temporary sibling directory renamed over `dir`. The head retrainer uses it to write a ResNet-18
 * checkpoint straight from the base file's tensors, without building the encoder in tfjs.
 */
export async function writeCheckpointFiles(dir: string, tensors: Map<string, TensorToWrite>, config: CheckpointConfig): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeSafetensors(path.join(tmp, 'model.safetensors'), tensors, { format: 'pt', producer: 'kefer-studio' });
  await writeFile(path.join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const old = `${dir}.old-${process.pid}`;
  if (existsSync(dir)) await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

export async function readCheckpointConfig(dir: string): Promise<CheckpointConfig> {
  const file = path.join(dir, 'config.json');
  let cfg: CheckpointConfig;
  try {
    cfg = JSON.parse(await readFile(file, 'utf8')) as CheckpointConfig;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CheckpointError(`${file}: ${code === 'ENOENT' ? 'not found (is this a checkpoint directory?)' : 'not valid JSON'}`);
  }
  for (const field of ['backbone', 'classes', 'neutralIndex', 'inputSize', 'mean', 'std', 'logitScale'] as const) {
    if (cfg[field] === undefined) throw new CheckpointError(`${file}: missing field '${field}'`);
  }
  if (cfg.backbone !== 'resnet18' && cfg.backbone !== 'compact' && !isOnnxOnlyBackbone(cfg.backbone)) throw new CheckpointError(`${file}: unknown backbone '${String(cfg.backbone)}'`);
  return cfg;
}

/**
 * Backbones trained on PyTorch only (python/kefer_torch): this engine has no layers for them, so their
 * checkpoints run through the model.onnx the PyTorch trainer writes beside model.safetensors.
 */
export const ONNX_ONLY_BACKBONES: readonly string[] = ['swin_t'];

export function isOnnxOnlyBackbone(backbone: string): boolean {
  return ONNX_ONLY_BACKBONES.includes(backbone);
}

/**
 * Adds a linear projection after the pooled features (v' = v W + b), as head-only retraining of a
 * ResNet-18 stores it (`encoder.proj.weight` [out, in], `encoder.proj.bias`); its parameters join
 * the encoder's so checkpoints save and load them like any other tensor.
 */
export function withProjection(encoder: Encoder): Encoder {
  const dim = encoder.featureDim;
  const w = tf.variable(tf.eye(dim), true);
  const b = tf.variable(tf.zeros([dim]), true);
  encoder.params.set('proj.weight', w);
  encoder.params.set('proj.bias', b);
  const base = encoder.apply;
  return {
    ...encoder,
    apply: (x, training) => tf.tidy(() => tf.add(tf.matMul(base(x, training), w), b) as tf.Tensor2D),
  };
}

export interface LoadOptions {
  /** Receives each note and warning (also kept in LoadedModel.notes / warnings). */
  log?: (message: string) => void;
}

/**
 * Loads a checkpoint directory, accepting what PyTorch's load_state_dict(strict=True) accepts (see
 * readStateDict; missing BatchNorm counters are set to 0). A missing weight or a wrong shape is a
 * CheckpointError naming the tensor; tensors the model has no place for are listed as a warning.
 */
export async function loadCheckpoint(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const config = await readCheckpointConfig(dir);
  if (isOnnxOnlyBackbone(config.backbone)) {
    throw new CheckpointError(`${dir}: a ${config.backbone} checkpoint (trained on PyTorch) runs through its ONNX export, and model.onnx beside it is missing or was made from other weights: write it with 'python -m kefer_torch export-onnx ${dir}' (PYTHONPATH=<kefer-studio>/python)`);
  }
  const file = path.join(dir, 'model.safetensors');
  const { tensors, notes } = await readStateDict(file);
  let encoder = createEncoder(config.backbone, { inputSize: config.inputSize });
  if (tensors.has('encoder.proj.weight')) encoder = withProjection(encoder);
  const transform = createTransform(0, config.featureDim ?? 512);
  const used = new Set<string>(['text_embeddings']);
  const missingCounters: string[] = [];
  try {
    assign(file, 'encoder.', encoder, tensors, true, used, missingCounters);
    assign(file, '', transform, tensors, true, used, missingCounters);
  } catch (err) {
    encoder.dispose();
    transform.dispose();
    throw err;
  }
  if (missingCounters.length) {
    notes.push(`${missingCounters.length} BatchNorm num_batches_tracked counter${missingCounters.length === 1 ? '' : 's'} missing (e.g. '${missingCounters[0]}'), set to 0 as PyTorch does; evaluation does not use them`);
  }
  const warnings: string[] = [];
  const extra = [...tensors.keys()].filter((k) => !used.has(k));
  if (extra.length) warnings.push(`${file}: ${extra.length} unexpected tensor${extra.length === 1 ? '' : 's'} ignored: ${nameList(extra)}`);
  const te = tensors.get('text_embeddings');
  const k = config.classes.length;
  if (!te) {
    encoder.dispose();
    transform.dispose();
    throw new CheckpointError(`${file}: missing tensor 'text_embeddings'`);
  }
  if (te.shape.length !== 2 || te.shape[0] !== k || te.shape[1] !== encoder.featureDim) {
    encoder.dispose();
    transform.dispose();
    throw new CheckpointError(`${file}: tensor 'text_embeddings' has shape [${te.shape.join(', ')}], expected [${k}, ${encoder.featureDim}]`);
  }
  for (const n of notes) opts.log?.(`checkpoint ${file}: ${n}`);
  for (const w of warnings) opts.log?.(`warning: ${w}`);
  return {
    config,
    encoder,
    transform,
    textEmbeddings: te.data,
    notes,
    warnings,
    dispose() {
      encoder.dispose();
      transform.dispose();
    },
  };
}

/**
 * Loads a torchvision-named ResNet-18 state dict (e.g. exported with safetensors.torch.save_file)
 * as pretrained backbone weights. Accepts keys with or without an `encoder.` / `module.` prefix;
 * `fc.*` is ignored. Returns the number of tensors loaded.
 */
export async function loadInitWeights(encoder: Encoder, file: string): Promise<number> {
  const { tensors } = await readSafetensors(file);
  const renamed = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) {
    const bare = name.replace(/^(module\.|encoder\.)+/, '');
    if (!bare.startsWith('fc.')) renamed.set(bare, t);
  }
  const n = assign(file, '', encoder, renamed, false);
  const missing = [...encoder.params.keys()].filter((k) => !renamed.has(k));
  if (missing.length > 0) {
    throw new CheckpointError(`${file}: not a ${encoder.name} state dict: missing ${missing.length} tensors, e.g. '${missing[0]}'`);
  }
  return n;
}
