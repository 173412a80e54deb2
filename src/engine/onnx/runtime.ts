// Evaluation through onnxruntime-node: the checkpoint's ONNX export (re-exported when missing or stale)
// runs on the best execution provider available, while the next batch's images decode on libuv's pool.
// Produces the same EvalResult / SampleRecord as src/engine/eval/evaluate.ts (see records.ts).
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createImageCache } from '../data/decode.js';
import type { Dataset } from '../data/types.js';
import { alignClasses } from '../eval/checkpointEval.js';
import type { EvalOptions, EvalResult } from '../eval/evaluate.js';
import { readCheckpointConfig, readStateDict, type CheckpointConfig } from '../model/checkpoint.js';
import { checkExport, exportCheckpointOnnx, ONNX_FILE, readOnnxMetadata } from './export.js';
import { ensureInt8Export, type CalibrationInfo, type Precision } from './int8.js';
import { evalBatches } from '../data/batches.js';
import { RecordBuilder } from '../eval/records.js';
import { usableAdapter } from '../backend/webgpu.js';

export { readOnnxMetadata };

export type OnnxProvider = 'cuda' | 'webgpu' | 'cpu';
export const DEFAULT_PROVIDERS: readonly OnnxProvider[] = ['cuda', 'webgpu', 'cpu'];

/** Providers from $KEFER_ORT_PROVIDERS (comma list, e.g. "cpu") or the default order. */
export function providersFromEnv(env: NodeJS.ProcessEnv = process.env): OnnxProvider[] {
  const raw = env.KEFER_ORT_PROVIDERS?.trim();
  if (!raw) return [...DEFAULT_PROVIDERS];
  const list = raw.split(',').map((s) => s.trim());
  for (const p of list) if (!(DEFAULT_PROVIDERS as readonly string[]).includes(p)) throw new Error(`KEFER_ORT_PROVIDERS: unknown provider '${p}' (expected ${DEFAULT_PROVIDERS.join(', ')})`);
  return list as OnnxProvider[];
}

export interface OnnxSession {
  session: ort.InferenceSession;
  provider: OnnxProvider;
}

export interface SessionOptions {
  /** Tried in order; the first that creates a session wins. Default: providersFromEnv(). */
  providers?: readonly OnnxProvider[];
  log?: (msg: string) => void;
  /** onnxruntime intra-op threads (default: onnxruntime's, the physical cores). */
  threads?: number;
}

/**
 * The CUDA provider is a separate download (onnxruntime-node's install script, skipped here); without its
 * library, probing it only makes onnxruntime print an error, so look for the file first.
 */
export function cudaProviderInstalled(): boolean {
  try {
    const root = path.dirname(require.resolve('onnxruntime-node/package.json')); // CommonJS build: require exists
    const dir = path.join(root, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(path.join(dir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

/** Creates a session on the first provider that works (CUDA, WebGPU, CPU by default) and logs which. */
export async function createOnnxSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<OnnxSession> {
  const log = opts.log ?? (() => {});
  const reasons: string[] = [];
  for (const provider of opts.providers ?? providersFromEnv()) {
    if (provider === 'webgpu' && !(await usableAdapter())) {
      // A software Vulkan device (lavapipe) runs the model far slower than the CPU provider.
      reasons.push('webgpu: no hardware adapter');
      log('onnxruntime: webgpu skipped (no hardware WebGPU adapter; KEFER_WEBGPU_ALLOW_SOFTWARE=1 allows a software one)');
      continue;
    }
    if (provider === 'cuda' && !cudaProviderInstalled()) {
      reasons.push('cuda: not installed');
      log('onnxruntime: cuda unavailable (libonnxruntime_providers_cuda not installed next to onnxruntime-node)');
      continue;
    }
    try {
      // Probing an absent provider makes onnxruntime print an error; only fatal logs while probing.
      const so: ort.InferenceSession.SessionOptions = { executionProviders: [provider], graphOptimizationLevel: 'all', logSeverityLevel: provider === 'cpu' ? 2 : 4 };
      if (opts.threads) so.intraOpNumThreads = opts.threads;
      const session = typeof model === 'string' ? await ort.InferenceSession.create(model, so) : await ort.InferenceSession.create(model, so);
      log(`onnxruntime: ${provider} execution provider`);
      return { session, provider };
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 160);
      reasons.push(`${provider}: ${reason}`);
      log(`onnxruntime: ${provider} unavailable (${reason})`);
    }
  }
  throw new Error(`onnxruntime: no execution provider worked: ${reasons.join('; ')}`);
}

/**
 * Returns DIR/model.onnx, exporting it first when it is missing or was made from other checkpoint bytes
 * (its metadata holds the sha256 of model.safetensors).
 */
export async function ensureOnnxExport(dir: string, log: (m: string) => void = () => {}): Promise<{ file: string; checkpointSha256: string; exported: boolean }> {
  const file = path.join(dir, ONNX_FILE);
  const { checkpointSha256, fresh, missing } = await checkExport(dir, file);
  if (fresh) return { file, checkpointSha256, exported: false };
  log(missing ? `onnx: exporting ${file}` : `onnx: ${file} is stale, re-exporting`);
  await exportCheckpointOnnx(dir, file, log);
  return { file, checkpointSha256, exported: true };
}

/** The runtime `kefer eval` should use when --runtime is not given: onnx when the checkpoint holds model.onnx. */
export function defaultRuntime(checkpointDir: string): 'onnx' | 'tfjs' {
  return existsSync(path.join(checkpointDir, ONNX_FILE)) ? 'onnx' : 'tfjs';
}

export interface PrecisionOptions {
  /** 'fp32' (default: model.onnx, equal to the tfjs engine to 1e-4) or 'int8' (model.int8.onnx, QDQ). */
  precision?: Precision;
  /** Images that calibrate model.int8.onnx when it is missing or stale (labels unused). */
  calibration?: Dataset;
  /** Calibration images drawn from `calibration` (default 256). */
  calibrationImages?: number;
}

export interface OnnxEvalOptions extends EvalOptions, SessionOptions, PrecisionOptions {
  /** Images decoded at once per batch (sharp, libuv pool). Default 8. */
  decodeConcurrency?: number;
}

export interface OnnxEvalResult extends EvalResult {
  provider: OnnxProvider;
  precision: Precision;
  /** int8 only: the images that calibrated the activation ranges. */
  calibration?: CalibrationInfo;
}

/** Runs one normalised NHWC batch; returns logits, v, n as Float32Arrays. */
export async function runBatch(session: ort.InferenceSession, x: Float32Array, batch: number, size: number): Promise<{ logits: Float32Array; v: Float32Array; n: Float32Array }> {
  const out = await session.run({ images: new ort.Tensor('float32', x, [batch, size, size, 3]) });
  return { logits: out.logits.data as Float32Array, v: out.v.data as Float32Array, n: out.n.data as Float32Array };
}

export interface OnnxCheckpoint {
  config: CheckpointConfig;
  textEmbeddings: Float32Array;
  session: OnnxSession;
  checkpointSha256: string;
  precision: Precision;
  calibration?: CalibrationInfo;
  release(): Promise<void>;
}

/** Opens a checkpoint for onnxruntime inference (exporting, and for int8 calibrating, if needed). */
export async function openOnnxCheckpoint(dir: string, opts: SessionOptions & PrecisionOptions = {}): Promise<OnnxCheckpoint> {
  const log = opts.log ?? (() => {});
  const config = await readCheckpointConfig(dir);
  const precision = opts.precision ?? 'fp32';
  let exported: { file: string; checkpointSha256: string; calibration?: CalibrationInfo };
  if (precision === 'int8') {
    exported = await ensureInt8Export(dir, opts.calibration, { images: opts.calibrationImages, log });
  } else {
    exported = await ensureOnnxExport(dir, log);
  }
  const { file, checkpointSha256, calibration } = exported;
  const { tensors } = await readStateDict(path.join(dir, 'model.safetensors'));
  const te = tensors.get('text_embeddings');
  if (!te) throw new Error(`${dir}: checkpoint has no text_embeddings`);
  const session = await createOnnxSession(file, opts);
  return { config, textEmbeddings: te.data, session, checkpointSha256, precision, calibration, release: () => session.session.release() };
}

/** `evaluateCheckpoint` on onnxruntime: same records, same summary. Opens (and releases) the session. */
export async function evaluateCheckpointOnnx(dir: string, dataset: Dataset, opts: OnnxEvalOptions = {}): Promise<OnnxEvalResult> {
  const ck = await openOnnxCheckpoint(dir, { ...opts, calibration: opts.calibration ?? dataset });
  try {
    return await evaluateOnnx(ck, alignClasses(dataset, ck.config.classes, dir), opts);
  } finally {
    await ck.release();
  }
}

/**
 * Evaluates on an open checkpoint (keep one open across evaluations to skip hashing, loading and session
 * creation). The dataset's classes must already be the checkpoint's (alignClasses).
 */
export async function evaluateOnnx(ck: OnnxCheckpoint, ds: Dataset, opts: OnnxEvalOptions = {}): Promise<OnnxEvalResult> {
  const { config } = ck;
  const images = createImageCache(ds, config.inputSize, { maxBytes: 0, concurrency: opts.decodeConcurrency ?? 8 });
  const builder = new RecordBuilder({ classes: config.classes, neutralIndex: config.neutralIndex, textEmbeddings: ck.textEmbeddings, featureDim: config.featureDim ?? 512, keepEmbeddings: opts.keepEmbeddings, total: ds.samples.length });
  const N = ds.samples.length;
  for await (const b of evalBatches(ds, images, { mean: config.mean, std: config.std }, opts.batchSize ?? 100, opts.signal)) {
    const { logits, v, n } = await runBatch(ck.session.session, b.x, b.indices.length, config.inputSize);
    const samples = b.indices.map((i) => ds.samples[i]);
    builder.add(samples, samples.map((s) => s.label), b.indices, logits, v, n);
    opts.onProgress?.(b.start + b.indices.length, N);
  }
  return { ...builder.finish(), provider: ck.session.provider, precision: ck.precision, calibration: ck.calibration };
}
