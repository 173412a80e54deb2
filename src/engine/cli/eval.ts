// `kefer eval`: accuracy (WAR), mean class accuracy (UAR), confusion matrix, losses, per-sample records.
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { BACKEND_PREFERENCES, initBackend } from '../backend/index.js';
import { loadDataset } from '../data/index.js';
import { evaluateCheckpoint } from '../eval/checkpointEval.js';
import { defaultRuntime, evaluateCheckpointOnnx, type OnnxEvalResult } from '../onnx/runtime.js';
import { readCheckpointConfig } from '../model/checkpoint.js';
import { RUNTIMES, createEvalEncoder, isRuntimeName } from '../runtimes/registry.js';
import { INT8_CALIBRATION_IMAGES, INT8_CALIBRATION_SEED, PRECISIONS, type CalibrationInfo } from '../onnx/int8.js';
import { calibrationBatches } from '../data/batches.js';
import path from 'node:path';
import { fileSha256 } from '../util/fileHash.js';
import { ONEDNN_INT8_FILE, readInt8Scales, writeInt8Scales } from '../runtimes/onednn/int8Cache.js';
import type { Int8Calibration } from '../runtimes/types.js';
import { createImageCache } from '../data/decode.js';
import { describeDataset } from '../data/types.js';
import type { Normalisation } from '../data/augment.js';
import { num, oneOf } from './args.js';
import { MAX_TTA_VIEWS } from '../eval/tta.js';
import type { EvalSummary } from '../eval/types.js';
import { UserError } from './errors.js';
import { computeMetrics } from '../eval/metrics.js';
import { formatSpec, parseSpec } from '../data/index.js';
import type { SampleRecord } from '../eval/types.js';

export const summary = 'evaluate a checkpoint on a dataset (WAR, UAR, confusion, per-sample records)';

const HELP = `usage: kefer eval --checkpoint DIR --data SPEC [--json] [--per-sample FILE.jsonl] [--runtime onnx|tfjs|onednn|cuda] [--backend NAME] [--batch N]
                  [--precision fp32|int8] [--calibrate SPEC] [--tta N] [--leaks exact|near|none]
  --runtime   default: the runtime that trained the checkpoint when it runs here (onednn, cuda: the
              encoder's inference forward on that addon, BatchNorm folded; F_n and logits on tfjs), else
              onnx when the checkpoint holds model.onnx (onnxruntime-node, CUDA/WebGPU/CPU provider,
              exported again when stale), else tfjs (the training engine's backend)
  --precision fp32 (default) or int8: static int8 quantization, calibrated on 256 images of --calibrate
              SPEC, else of the evaluated images (labels unused); predictions can differ from fp32 on a
              few samples. Runs on onednn when its addon is built (u8/s8 activations, s8 weights per
              channel; scales kept in DIR/onednn.int8.json; the encoder about 2.4x its fp32 speed with
              VNNI, 1.4x on AVX2), else on onnx (DIR/model.int8.onnx, written when missing or stale)
  --tta N     test-time augmentation: average the softmax over N fixed views (1..10: the image, its
              mirror, then shifted crops plain and mirrored); N forward passes per image, so about N
              times the time (printed); runs on --runtime tfjs (the default when N > 1)
  --leaks     also report WAR / UAR without the evaluated images that are copies of the dataset's
              training (or validation) images, side by side with the full split: exact (default:
              same decoded pixels), near (also resized / re-compressed / mirrored / cropped copies;
              slower) or none`;

export function formatSummary(s: EvalSummary): string {
  const w = Math.max(...s.classes.map((c) => c.length), 6);
  const lines = [
    `n ${s.n}   WAR ${(100 * s.accuracy).toFixed(2)}%   UAR ${(100 * s.meanClassAccuracy).toFixed(2)}%`,
    `losses: Ls ${s.losses.ls.toFixed(4)}  Lt ${s.losses.lt.toFixed(4)}  Lc(per-sample) ${s.losses.lcPerSample.toFixed(4)}`,
    '',
    `confusion (rows: true, columns: predicted)`,
    `${''.padEnd(w)} ${s.classes.map((c) => c.slice(0, 5).padStart(6)).join('')}   recall`,
    ...s.confusion.map((row, i) => `${s.classes[i].padEnd(w)} ${row.map((v) => String(v).padStart(6)).join('')}   ${s.perClassAccuracy[i] === null ? '-' : (100 * s.perClassAccuracy[i]!).toFixed(1) + '%'}`),
  ];
  return lines.join('\n');
}

/**
 * The runtime a checkpoint trained on (config.runtime) when it can run here and evaluates natively
 * (onednn, cuda); else onnx when the checkpoint holds model.onnx, else tfjs.
 */
export async function trainedOn(dir: string): Promise<'onnx' | 'tfjs' | 'onednn' | 'cuda'> {
  const trained = (await readCheckpointConfig(dir).catch(() => undefined))?.runtime;
  if (typeof trained === 'string' && isRuntimeName(trained) && (trained === 'onednn' || trained === 'cuda') && RUNTIMES[trained].available().ok) return trained;
  return defaultRuntime(dir);
}

export async function run(argv: string[]): Promise<number> {
  const { values: f } = parseArgs({
    args: argv,
    options: { checkpoint: { type: 'string' }, data: { type: 'string' }, leaks: { type: 'string' }, json: { type: 'boolean' }, 'per-sample': { type: 'string' }, backend: { type: 'string' }, batch: { type: 'string' }, runtime: { type: 'string' }, precision: { type: 'string' }, calibrate: { type: 'string' }, tta: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  if (!f.checkpoint || !f.data) throw new UserError(`--checkpoint and --data are required\n${HELP}`);
  const precision = oneOf(f, 'precision', PRECISIONS, 'fp32');
  const tta = num(f, 'tta', 1, { int: true, min: 1 });
  if (tta > MAX_TTA_VIEWS) throw new UserError(`--tta: at most ${MAX_TTA_VIEWS} views, got ${tta}`);
  if (tta > 1 && ((f.runtime && f.runtime !== 'tfjs') || precision === 'int8')) throw new UserError(`--tta runs on the tfjs runtime: drop --runtime ${f.runtime ?? 'onnx'} / --precision int8`);
  const int8Default = RUNTIMES.onednn.available().ok ? 'onednn' : 'onnx';
  const runtime = oneOf(f, 'runtime', ['onnx', 'tfjs', 'onednn', 'cuda'] as const, precision === 'int8' ? int8Default : tta > 1 ? 'tfjs' : await trainedOn(f.checkpoint));
  if (precision === 'int8' && runtime !== 'onnx' && runtime !== 'onednn') throw new UserError(`--precision int8 runs on onednn or onnx: drop --runtime ${runtime}`);
  if (f.calibrate && precision !== 'int8') throw new UserError('--calibrate only applies with --precision int8');
  const pref = oneOf(f, 'backend', BACKEND_PREFERENCES, 'auto');
  const leakTier = oneOf(f, 'leaks', ['exact', 'near', 'none'] as const, 'exact');
  // With --json only what the checkpoint needed adapting (and warnings) goes to stderr.
  const log = (m: string) => (!f.json || /^(checkpoint|warning)\b/.test(m)) && console.error(m);
  const backend = await initBackend(pref, log);
  const dataset = await loadDataset(f.data);
  const calibration = f.calibrate ? await loadDataset(f.calibrate) : undefined;
  const batchSize = f.batch ? Number(f.batch) : 100;
  const t0 = performance.now();
  const native = runtime === 'onednn' || runtime === 'cuda' ? runtime : undefined;
  let detail = '';
  let calib: CalibrationInfo | undefined;
  const runtimeEncoder = native ? async (enc: Parameters<typeof createEvalEncoder>[1], norm: Normalisation) => {
    let int8: Int8Calibration | undefined;
    if (precision === 'int8') {
      const from = calibration ?? dataset;
      const what = describeDataset(from);
      const batches = calibrationBatches(from, (sub) => createImageCache(sub, enc.inputSize, { maxBytes: 0 }), norm, { images: INT8_CALIBRATION_IMAGES, seed: INT8_CALIBRATION_SEED, what: `${what} (seed ${INT8_CALIBRATION_SEED})` });
      calib = { data: what, images: batches.count, seed: INT8_CALIBRATION_SEED };
      int8 = { ...batches, kept: keptScales(f.checkpoint!, calib, log) };
    }
    const ev = await createEvalEncoder(native, enc, { batchSize: f.batch ? batchSize : undefined, int8 });
    detail = ev.detail;
    return ev;
  } : undefined;
  const result = runtime === 'onnx' ? await evaluateCheckpointOnnx(f.checkpoint, dataset, { batchSize, log, precision, calibration }) : await evaluateCheckpoint(f.checkpoint, dataset, { batchSize, tta, log, runtimeEncoder });
  const msPerImage = (performance.now() - t0) / Math.max(result.summary.n, 1);
  if ('calibration' in result) calib = (result as OnnxEvalResult).calibration;
  const leaks = leakTier === 'none' ? undefined : await withoutLeaks(f.data, result.records, result.summary.classes.length, leakTier, log);
  if (f['per-sample']) {
    await writeFile(f['per-sample'], result.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  if (f.json) {
    const s = result.summary;
    console.log(JSON.stringify({ ...(leaks ? { withoutLeaks: leaks } : {}), accuracy: s.accuracy, meanClassAccuracy: s.meanClassAccuracy, confusion: s.confusion, classes: s.classes, n: s.n, perClassAccuracy: s.perClassAccuracy, losses: s.losses, runtime, precision, tta, msPerImage, ...(calib ? { calibration: calib } : {}), backend, data: f.data, checkpoint: f.checkpoint }));
  } else {
    console.log(runtime === 'onnx' ? `runtime: onnxruntime-node, ${precision}${calib ? ` (calibrated on ${calib.images} images of ${calib.data})` : ''}` : native ? `runtime: ${native} (encoder on ${detail}; F_n and logits on tfjs ${backend.name})` : `backend: ${backend.name} (${backend.detail})`);
    console.log(`${tta > 1 ? `test-time augmentation: ${tta} views (${tta} forward passes per image); ` : ''}${msPerImage.toFixed(1)} ms/image including decoding`);
    console.log(formatSummary(result.summary));
    if (leaks) console.log(`\n${formatLeaks(result.summary, leaks)}`);
  }
  return 0;
}

export interface WithoutLeaks {
  /** The tier that decided what is a copy. */
  tier: 'exact' | 'near';
  /** Evaluated images that are copies of training (or, for test, validation) images: left out. */
  leaked: number;
  /** Up to 10 of them. */
  examples: string[];
  n: number;
  accuracy: number;
  meanClassAccuracy: number;
}

/**
 * The evaluation again without the leaked images: the dataset's other splits are read (the spec without
 * its #split), duplicates found by the tier, and the evaluated images that copy a training image
 * (a test image copying a validation image too) are left out of WAR and UAR.
 */
async function withoutLeaks(data: string, records: SampleRecord[], K: number, tier: 'exact' | 'near', log: (m: string) => void): Promise<WithoutLeaks | undefined> {
  const spec = parseSpec(data);
  const whole = await loadDataset(formatSpec({ ...spec, split: undefined }));
  if (new Set(whole.samples.map((x) => x.split)).size < 2) return undefined;
  const { crossSplitExact, crossSplitOf, findDuplicates } = await import('../dups/index.js');
  const t0 = performance.now();
  const cross = tier === 'exact' ? await crossSplitExact(whole) : crossSplitOf(whole, (await findDuplicates(whole, { tiers: ['near'] })).tiers[0].clusters);
  log(`leaks: ${tier} duplicates of ${whole.samples.length} images found in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const leakedIds = new Set(cross.leaked.map((i) => whole.samples[i].id));
  const kept = records.filter((r) => !leakedIds.has(r.id));
  const m = computeMetrics(kept.map((r) => r.label), kept.map((r) => r.pred), K);
  const leaked = records.filter((r) => leakedIds.has(r.id));
  return { tier, leaked: leaked.length, examples: leaked.slice(0, 10).map((r) => r.id), n: m.n, accuracy: m.accuracy, meanClassAccuracy: m.meanClassAccuracy };
}

export function formatLeaks(s: EvalSummary, w: WithoutLeaks): string {
  const pc = (x: number) => `${(100 * x).toFixed(2)}%`.padStart(10);
  return [
    `leaked images (${w.tier} copies of training / validation images): ${w.leaked} of ${s.n}`,
    `${''.padEnd(6)}${'full'.padStart(10)}${'no leaks'.padStart(10)}${'change'.padStart(10)}`,
    `${'n'.padEnd(6)}${String(s.n).padStart(10)}${String(w.n).padStart(10)}${String(w.n - s.n).padStart(10)}`,
    `${'WAR'.padEnd(6)}${pc(s.accuracy)}${pc(w.accuracy)}${`${((w.accuracy - s.accuracy) * 100).toFixed(2)} pt`.padStart(10)}`,
    `${'UAR'.padEnd(6)}${pc(s.meanClassAccuracy)}${pc(w.meanClassAccuracy)}${`${((w.meanClassAccuracy - s.meanClassAccuracy) * 100).toFixed(2)} pt`.padStart(10)}`,
  ].join('\n');
}

/**
 * The oneDNN int8 activation scales kept beside the checkpoint (runtimes/onednn/int8Cache.ts): read when
 * they match the checkpoint's bytes and the calibration images, written after a calibration. A folder
 * that cannot be written costs only the next call's calibration.
 */
function keptScales(dir: string, key: CalibrationInfo, log: (m: string) => void): NonNullable<Int8Calibration['kept']> {
  const sha = fileSha256(path.join(dir, 'model.safetensors'));
  return {
    async load() {
      const r = await readInt8Scales(dir, await sha, key);
      log(r.scales ? `int8: activation scales from ${path.join(dir, ONEDNN_INT8_FILE)} (calibrated earlier on the same ${key.images} images)` : `int8: calibrating on ${key.images} images of ${key.data} (${r.why})`);
      return r.scales;
    },
    async save(scales) {
      try {
        await writeInt8Scales(dir, await sha, key, scales);
      } catch (e) {
        log(`warning: int8 activation scales not kept (${(e as Error).message}); the next call calibrates again`);
      }
    },
  };
}
