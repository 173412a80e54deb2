// `kefer export-onnx`: one ONNX graph (encoder + F_n + normalised text) for onnxruntime evaluation.
import { parseArgs } from 'node:util';
import { initBackend } from '../backend/index.js';
import { loadDataset } from '../data/index.js';
import { exportCheckpointOnnx } from '../onnx/export.js';
import { exportCheckpointInt8, type CalibrationInfo } from '../onnx/int8.js';
import { UserError } from './errors.js';

export const summary = 'export a checkpoint as one ONNX graph (images NHWC -> logits, v, n) for onnxruntime';

const HELP = `usage: kefer export-onnx --checkpoint DIR [--out FILE.onnx] [--json] [--int8 --calibrate SPEC [--calib-images N]]
  --out     default DIR/model.onnx (kefer eval then uses onnxruntime by default), DIR/model.int8.onnx with --int8
  --int8    static int8 quantization (QDQ: onnxruntime runs QLinearConv/QLinearAdd): activation ranges
            measured on --calib-images (256) seeded-random images of --calibrate SPEC (labels unused);
            kefer eval --precision int8 uses it
graph: input images float32 [N, S, S, 3] NHWC, mean/std-normalised; outputs logits [N, K], v [N, 512], n [N, 512]`;

export async function run(argv: string[]): Promise<number> {
  const { values: f } = parseArgs({ args: argv, options: { checkpoint: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, int8: { type: 'boolean' }, calibrate: { type: 'string' }, 'calib-images': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  if (!f.checkpoint) throw new UserError(`--checkpoint is required\n${HELP}`);
  if (f.int8 && !f.calibrate) throw new UserError(`--int8 needs --calibrate SPEC (images whose activation ranges set the int8 scales)\n${HELP}`);
  if (!f.int8 && (f.calibrate || f['calib-images'])) throw new UserError('--calibrate and --calib-images only apply with --int8');
  const images = f['calib-images'] !== undefined ? Number(f['calib-images']) : undefined;
  if (images !== undefined && !(Number.isInteger(images) && images > 0)) throw new UserError(`--calib-images: expected a positive integer, got '${f['calib-images']}'`);
  // Reading the checkpoint needs a tfjs backend; wasm always loads and is enough for data transfer.
  await initBackend('wasm', () => {});
  const t0 = Date.now();
  // How the checkpoint was adapted (counters filled in, dtypes cast) and ignored tensors: stderr, so --json stays one object.
  const log = (m: string) => console.error(m);
  const r = f.int8 ? await exportCheckpointInt8(f.checkpoint, await loadDataset(f.calibrate!), { out: f.out, images, log }) : await exportCheckpointOnnx(f.checkpoint, f.out, log);
  const ms = Date.now() - t0;
  const c = 'calibration' in r ? (r.calibration as CalibrationInfo) : undefined;
  const calib = c ? ` (int8, calibrated on ${c.images} images of ${c.data})` : '';
  if (f.json) console.log(JSON.stringify({ ...r, ms }));
  else console.log(`exported ${r.backbone}@${r.inputSize} (${r.classes.length} classes) to ${r.file}${calib}: ${(r.bytes / 1e6).toFixed(1)} MB in ${ms} ms`);
  return 0;
}
