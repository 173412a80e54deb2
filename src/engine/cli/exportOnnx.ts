// `kefer export-onnx`: one ONNX graph (encoder + F_n + normalised text) for onnxruntime evaluation.
import { parseArgs } from 'node:util';
import { initBackend } from '../backend/index.js';
import { exportCheckpointOnnx } from '../onnx/export.js';
import { UserError } from './errors.js';

export const summary = 'export a checkpoint as one ONNX graph (images NHWC -> logits, v, n) for onnxruntime';

const HELP = `usage: kefer export-onnx --checkpoint DIR [--out FILE.onnx] [--json]
  --out   default DIR/model.onnx (kefer eval then uses onnxruntime by default)
graph: input images float32 [N, S, S, 3] NHWC, mean/std-normalised; outputs logits [N, K], v [N, 512], n [N, 512]`;

export async function run(argv: string[]): Promise<number> {
  const { values: f } = parseArgs({ args: argv, options: { checkpoint: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  if (!f.checkpoint) throw new UserError(`--checkpoint is required\n${HELP}`);
  // Reading the checkpoint needs a tfjs backend; wasm always loads and is enough for data transfer.
  await initBackend('wasm', () => {});
  const t0 = Date.now();
  const r = await exportCheckpointOnnx(f.checkpoint, f.out);
  const ms = Date.now() - t0;
  if (f.json) console.log(JSON.stringify({ ...r, ms }));
  else console.log(`exported ${r.backbone}@${r.inputSize} (${r.classes.length} classes) to ${r.file}: ${(r.bytes / 1e6).toFixed(1)} MB in ${ms} ms`);
  return 0;
}
