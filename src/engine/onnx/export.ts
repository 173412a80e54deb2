// Exports a KE-FER checkpoint (encoder F_e, transformation F_n, fixed normalised text embeddings) as ONE
// ONNX graph for onnxruntime:
//   input   images  float32 [N, S, S, 3]  NHWC, already mean/std-normalised (as the tfjs engine takes it);
//                                           a Transpose to NCHW is the graph's first node
//   outputs logits  [N, K]  = logitScale * cos(v, t_k)
//           v       [N, 512] encoder embedding
//           n       [N, 512] F_n(v), the neutral counterpart
// BatchNorm (eval mode, running statistics) is folded into the preceding conv's weights and bias.
// The graph mirrors src/engine/model/encoders.ts; the onnx tests compare both on real images.
import type * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { fileSha256 } from '../util/fileHash.js';
import { onnx } from 'onnx-proto';
import path from 'node:path';
import { ensureTfBackend } from '../backend/index.js';
import { normaliseRows } from '../eval/records.js';
import type { Encoder, Transform } from '../model/index.js';
import { BN_EPS, type ParamStore } from '../model/layers.js';
import { loadCheckpoint, readStateDict, type CheckpointConfig } from '../model/checkpoint.js';
import { LAYOUT } from '../model/layout.js';
import { GraphBuilder } from './graph.js';
import { QuantWriter, type QuantMode } from './quantize.js';

/** File name of the export inside a checkpoint directory (`kefer export-onnx` without --out writes it there). */
export const ONNX_FILE = 'model.onnx';
/** Model metadata keys. */
export const META_CHECKPOINT_SHA = 'kefer.checkpoint_sha256';
export const META_CONFIG = 'kefer.config';

/**
 * Optional linear map after global pooling (v' = v W + b), what head-only retraining of a ResNet-18
 * checkpoint adds. Stored in a checkpoint as `encoder.proj.weight` [out, in] and `encoder.proj.bias`.
 */
export interface EncoderProjection {
  /** [in, out] (tfjs layout). */
  weight: Float32Array;
  bias: Float32Array;
}

export interface ExportableModel {
  config: CheckpointConfig;
  encoder: Encoder;
  transform: Transform;
  /** [K, D] as stored (not normalised). */
  textEmbeddings: Float32Array;
  projection?: EncoderProjection;
  /** loadCheckpoint's notes and warnings (how the file was adapted on loading). */
  notes?: string[];
  warnings?: string[];
}

/** Every tensor's values, read up front with `await data()` (WebGPU in Node has no synchronous read). */
type Values = Map<tf.Tensor, Float32Array>;
async function readValues(stores: ParamStore[]): Promise<Values> {
  const ts = stores.flatMap((st) => [...st.params.values(), ...st.buffers.values()]);
  const vals = await Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
  return new Map(ts.map((t, i) => [t, vals[i]]));
}

function data(values: Values, store: ParamStore, key: string, buffer = false): { values: Float32Array; shape: number[] } {
  const v = (buffer ? store.buffers : store.params).get(key);
  if (!v) throw new Error(`export: missing tensor ${key}`);
  return { values: values.get(v)!, shape: v.shape };
}

/** Conv weight HWIO (tfjs) folded with the BN that follows it -> OIHW weight and bias. */
function foldConvBn(values: Values, enc: Encoder, convName: string, bnName: string): { w: Float32Array; b: Float32Array; k: number; cin: number; cout: number } {
  const { values: hwio, shape } = data(values, enc, `${convName}.weight`);
  const [k, kw, cin, cout] = shape;
  if (k !== kw) throw new Error(`export: non-square kernel in ${convName}`);
  const gamma = data(values, enc, `${bnName}.weight`).values;
  const beta = data(values, enc, `${bnName}.bias`).values;
  const mean = data(values, enc, `${bnName}.running_mean`, true).values;
  const variance = data(values, enc, `${bnName}.running_var`, true).values;
  const w = new Float32Array(cout * cin * k * k);
  const b = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    const scale = gamma[o] / Math.sqrt(variance[o] + BN_EPS);
    b[o] = beta[o] - mean[o] * scale;
    for (let i = 0; i < cin; i++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++) w[((o * cin + i) * k + y) * k + x] = hwio[((y * k + x) * cin + i) * cout + o] * scale;
      }
    }
  }
  return { w, b, k, cin, cout };
}

/**
 * Builds the ONNX model bytes. `metadata` lands in the model's metadata_props. `quant` (quantize.ts):
 * 'calibrate' adds one output per activation quantization point; 'int8' writes the QDQ model.
 */
export async function exportKeferOnnx(model: ExportableModel, metadata: Record<string, string> = {}, quant: QuantMode = { kind: 'float' }): Promise<Uint8Array> {
  const { config, encoder, transform } = model;
  const values = await readValues([encoder, transform]);
  const layout = LAYOUT[encoder.name];
  const S = encoder.inputSize;
  const D = encoder.featureDim;
  const K = config.classes.length;
  const g = new GraphBuilder();
  // Quantization points (no-ops in a float export) mark each activation a conv or Add reads.
  const q = new QuantWriter(g, quant);

  const convBn = (x: string, convName: string, bnName: string, stride: number, relu: boolean): string => {
    const f = foldConvBn(values, encoder, convName, bnName);
    const [w, b] = q.convParams(x, convName, f.w, f.b, [f.cout, f.cin, f.k, f.k]);
    const p = Math.floor(f.k / 2); // PyTorch-style symmetric padding, as layers.ts conv() uses
    const y = g.op('Conv', [x, w, b], { kernel_shape: [f.k, f.k], strides: [stride, stride], pads: [p, p, p, p] });
    return q.point(relu ? g.op('Relu', [y]) : y, convName);
  };

  let h = q.point(g.op('Transpose', [g.input('images', ['N', S, S, 3])], { perm: [0, 3, 1, 2] }), 'input');
  h = convBn(h, 'conv1', 'bn1', layout.stemStride, true);
  // Max-pooling keeps the stem's quantization (same scale in and out: onnxruntime then pools in uint8).
  if (layout.maxPool) h = q.point(g.op('MaxPool', [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }), 'conv1');
  layout.blocks.forEach((count, s) => {
    for (let i = 0; i < count; i++) {
      const name = `layer${s + 1}.${i}`;
      const stride = i === 0 ? layout.strides[s] : 1;
      const y = convBn(convBn(h, `${name}.conv1`, `${name}.bn1`, stride, true), `${name}.conv2`, `${name}.bn2`, 1, false);
      const shortcut = encoder.params.has(`${name}.downsample.0.weight`) ? convBn(h, `${name}.downsample.0`, `${name}.downsample.1`, stride, false) : h;
      h = q.point(g.op('Relu', [g.op('Add', [y, shortcut])]), `${name}.out`);
    }
  });
  if (layout.head) h = convBn(h, 'head.conv', 'head.bn', 1, false);
  const pooled = g.op('GlobalAveragePool', [h]);
  let v: string;
  if (model.projection) {
    const flat = g.op('Flatten', [pooled], { axis: 1 });
    const pw = g.constant('encoder.proj.weight', model.projection.weight, [D, D]);
    const pb = g.constant('encoder.proj.bias', model.projection.bias, [D]);
    v = g.op('Add', [g.op('MatMul', [flat, pw]), pb], {}, 'v');
  } else {
    v = g.op('Flatten', [pooled], { axis: 1 }, 'v');
  }

  // F_n: fc2(relu(fc1(v))), weights [in, out] as transform.ts keeps them.
  const fc = (x: string, name: string, out?: string) => {
    const w = data(values, transform, `${name}.weight`);
    const b = data(values, transform, `${name}.bias`);
    return g.op('Add', [g.op('MatMul', [x, g.constant(`${name}.weight`, w.values, w.shape)]), g.constant(`${name}.bias`, b.values, b.shape)], {}, out);
  };
  fc(g.op('Relu', [fc(v, 'MLP.fc1')]), 'MLP.fc2', 'n');

  // logits = s * normalise(v) . normalise(t)^T; the normalised text is a constant, stored transposed [D, K].
  const tNorm = normaliseRows(model.textEmbeddings, K);
  const tT = new Float32Array(D * K);
  for (let k = 0; k < K; k++) for (let j = 0; j < D; j++) tT[j * K + k] = tNorm[k * D + j];
  const norm = g.op('Max', [g.op('ReduceL2', [v], { axes: [1], keepdims: 1 }), g.constant('eps', new Float32Array([1e-8]), [1])]);
  const cos = g.op('MatMul', [g.op('Div', [v, norm]), g.constant('text_norm_t', tT, [D, K])]);
  g.op('Mul', [cos, g.constant('logit_scale', new Float32Array([config.logitScale]), [1])], {}, 'logits');

  g.output('logits', ['N', K]);
  g.output('v', ['N', D]);
  g.output('n', ['N', D]);
  return g.encode(`kefer-${encoder.name}`, { [META_CONFIG]: JSON.stringify(config), ...metadata });
}

/** Reads `encoder.proj.*` (written by head-only retraining of ResNet-18 checkpoints), if present. */
export async function readEncoderProjection(dir: string): Promise<EncoderProjection | undefined> {
  const { tensors } = await readStateDict(path.join(dir, 'model.safetensors'));
  const w = tensors.get('encoder.proj.weight');
  const b = tensors.get('encoder.proj.bias');
  if (!w || !b) return undefined;
  const [out, inp] = w.shape;
  const weight = new Float32Array(inp * out);
  // PyTorch Linear [out, in] -> [in, out]
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) weight[i * out + o] = w.data[o * inp + i];
  return { weight, bias: Float32Array.from(b.data) };
}

export interface ExportResult {
  file: string;
  bytes: number;
  checkpointSha256: string;
  backbone: string;
  inputSize: number;
  classes: string[];
  /** How the checkpoint was adapted on loading, and warnings (loadCheckpoint's notes and warnings). */
  notes?: string[];
}

/**
 * Loads the checkpoint in `dir` (on tfjs's active backend, wasm if none) with its projection and hands it to
 * `use` with the sha256 of its model.safetensors; disposes it afterwards.
 */
export async function withExportableModel<T>(dir: string, use: (model: ExportableModel, checkpointSha256: string) => Promise<T>, log?: (message: string) => void): Promise<T> {
  const checkpointSha256 = await fileSha256(path.join(dir, 'model.safetensors'));
  await ensureTfBackend();
  const model = await loadCheckpoint(dir, { log });
  try {
    const projection = await readEncoderProjection(dir);
    return await use({ ...model, projection }, checkpointSha256);
  } finally {
    model.dispose();
  }
}

/** Writes then renames, so a concurrent reader never sees half a model. */
export async function writeModelFile(out: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, out);
}

/**
 * Writes the checkpoint's ONNX export to `out` (default DIR/model.onnx). The checkpoint's sha256 goes
 * into the metadata so a stale export is detected later (runtime.ts re-exports then).
 */
export async function exportCheckpointOnnx(dir: string, out = path.join(dir, ONNX_FILE), log?: (message: string) => void): Promise<ExportResult> {
  return withExportableModel(dir, async (model, checkpointSha256) => {
    const bytes = await exportKeferOnnx(model, { [META_CHECKPOINT_SHA]: checkpointSha256 });
    await writeModelFile(out, bytes);
    return { file: out, bytes: bytes.length, checkpointSha256, backbone: model.config.backbone, inputSize: model.config.inputSize, classes: model.config.classes, notes: [...(model.notes ?? []), ...(model.warnings ?? [])] };
  }, log);
}

/** All metadata of an .onnx file (empty when unreadable). */
async function readOnnxMetadataMap(file: string): Promise<Map<string, string>> {
  try {
    const m = onnx.ModelProto.decode(await readFile(file));
    return new Map(m.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
  } catch {
    return new Map();
  }
}

/** Reads one metadata value from an .onnx file (undefined when absent or unreadable). */
export async function readOnnxMetadata(file: string, key: string): Promise<string | undefined> {
  return (await readOnnxMetadataMap(file)).get(key);
}

/**
 * The sha256 of DIR/model.safetensors and, when the export `file` exists and was made from those bytes,
 * its metadata (undefined when it is missing or stale). `missing` tells the two apart for messages.
 */
export async function checkExport(dir: string, file: string): Promise<{ checkpointSha256: string; fresh?: Map<string, string>; missing: boolean }> {
  const checkpointSha256 = await fileSha256(path.join(dir, 'model.safetensors'));
  if (!existsSync(file)) return { checkpointSha256, missing: true };
  const meta = await readOnnxMetadataMap(file);
  return { checkpointSha256, fresh: meta.get(META_CHECKPOINT_SHA) === checkpointSha256 ? meta : undefined, missing: false };
}
