// The int8 export of a checkpoint (DIR/model.int8.onnx): activation ranges measured by running the float
// graph with one extra output per quantization point over calibration images, then the QDQ graph written
// with those ranges (quantize.ts). The file's metadata holds the checkpoint's sha256 (stale check) and
// which images calibrated it. Labels are never read: calibration may use the images being evaluated.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createImageCache } from '../data/decode.js';
import { describeDataset, type Dataset } from '../data/types.js';
import { checkExport, exportKeferOnnx, META_CHECKPOINT_SHA, withExportableModel, writeModelFile, type ExportResult } from './export.js';
import { calibrationSubset, evalBatches } from '../data/batches.js';
import { CALIB_PREFIX, updateRanges, type ActivationRanges } from './quantize.js';

export const INT8_FILE = 'model.int8.onnx';
export const META_CALIBRATION = 'kefer.calibration';
export type Precision = 'fp32' | 'int8';
/** Calibration images drawn from a dataset, and their seed: the same on onnxruntime and oneDNN. */
export const INT8_CALIBRATION_IMAGES = 256;
export const INT8_CALIBRATION_SEED = 29;
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

export interface CalibrationInfo {
  /** `<format>:<root>[#split]` of the calibration images. */
  data: string;
  images: number;
  seed: number;
}

export interface Int8Options {
  /** Calibration images drawn (seeded) from the dataset; default 256. */
  images?: number;
  seed?: number;
  out?: string;
  log?: (m: string) => void;
}

/** Min / max of every quantization point over `n` seeded-random images of `ds` (float graph `calibBytes`). */
async function measureRanges(calibBytes: Uint8Array, ds: Dataset, norm: { size: number; mean: [number, number, number]; std: [number, number, number] }, n: number, seed: number): Promise<ActivationRanges> {
  if (ds.samples.length === 0) throw new Error(`int8 calibration: ${describeDataset(ds)} has no images`);
  const session = await ort.InferenceSession.create(calibBytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  try {
    const sub = calibrationSubset(ds, n, seed);
    const ranges: ActivationRanges = {};
    for await (const b of evalBatches(sub, createImageCache(sub, norm.size, { maxBytes: 0 }), norm, 32)) {
      const out = await session.run({ images: new ort.Tensor('float32', b.x, [b.indices.length, norm.size, norm.size, 3]) });
      for (const [name, t] of Object.entries(out)) if (name.startsWith(CALIB_PREFIX)) updateRanges(ranges, name.slice(CALIB_PREFIX.length), t.data as Float32Array);
    }
    return ranges;
  } finally {
    await session.release();
  }
}

/** Calibrates on `calibration` and writes the int8 export (default DIR/model.int8.onnx). */
export async function exportCheckpointInt8(dir: string, calibration: Dataset, opts: Int8Options = {}): Promise<ExportResult & { calibration: CalibrationInfo; points: number }> {
  const out = opts.out ?? path.join(dir, INT8_FILE);
  const seed = opts.seed ?? INT8_CALIBRATION_SEED;
  const n = opts.images ?? INT8_CALIBRATION_IMAGES;
  return withExportableModel(dir, async (model, checkpointSha256) => {
    const { inputSize, mean, std } = model.config;
    const calibBytes = await exportKeferOnnx(model, {}, { kind: 'calibrate' });
    const ranges = await measureRanges(calibBytes, calibration, { size: inputSize, mean, std }, n, seed);
    const info: CalibrationInfo = { data: describeDataset(calibration), images: Math.min(n, calibration.samples.length), seed };
    opts.log?.(`int8: calibrated ${Object.keys(ranges).length} activation ranges on ${info.images} images of ${info.data}`);
    const bytes = await exportKeferOnnx(model, { [META_CHECKPOINT_SHA]: checkpointSha256, [META_CALIBRATION]: JSON.stringify({ ...info, ranges }) }, { kind: 'int8', ranges });
    await writeModelFile(out, bytes);
    return { file: out, bytes: bytes.length, checkpointSha256, backbone: model.config.backbone, inputSize, classes: model.config.classes, calibration: info, points: Object.keys(ranges).length };
  }, opts.log);
}

/**
 * DIR/model.int8.onnx if it matches the checkpoint's bytes; otherwise calibrates on `calibration` and
 * writes it. Without calibration images a missing or stale export is an error that says what to run.
 */
export async function ensureInt8Export(dir: string, calibration: Dataset | undefined, opts: Int8Options = {}): Promise<{ file: string; checkpointSha256: string; calibration: CalibrationInfo; exported: boolean }> {
  const file = path.join(dir, INT8_FILE);
  const { checkpointSha256, fresh, missing } = await checkExport(dir, file);
  if (fresh) {
    const meta = JSON.parse(fresh.get(META_CALIBRATION) ?? '{}') as Partial<CalibrationInfo>;
    return { file, checkpointSha256, calibration: { data: meta.data ?? '?', images: meta.images ?? 0, seed: meta.seed ?? 0 }, exported: false };
  }
  if (!calibration) {
    throw new Error(`${file}: ${missing ? 'missing' : 'stale (made from other checkpoint bytes)'}; create it with: kefer export-onnx --checkpoint ${dir} --int8 --calibrate SPEC`);
  }
  opts.log?.(missing ? `int8: no ${INT8_FILE} yet, calibrating` : `int8: ${file} is stale, calibrating again`);
  const r = await exportCheckpointInt8(dir, calibration, { ...opts, out: file });
  return { file, checkpointSha256, calibration: r.calibration, exported: true };
}
