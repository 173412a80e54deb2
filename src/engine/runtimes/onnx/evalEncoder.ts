// Validation and evaluation on onnxruntime: the encoder exported as an inference graph (onnx/export.ts:
// BatchNorm folded into the convolutions) from the model's current weights. F_n and the logits stay on
// tfjs, as on every runtime.
import type { Encoder } from '../../model/index.js';
import { createTransform } from '../../model/index.js';
import { exportKeferOnnx } from '../../onnx/export.js';
import { createOnnxSession, runBatch } from '../../onnx/runtime.js';
import type { EvalEncoder } from '../types.js';

export async function onnxEvalEncoder(encoder: Encoder, opts: { batchSize?: number; threads?: number } = {}): Promise<EvalEncoder> {
  // The export carries F_n and the logits too; a throwaway F_n and one text row keep that part small.
  const transform = createTransform(0, encoder.featureDim);
  let bytes: Uint8Array;
  try {
    const config = {
      format: 'kefer-checkpoint' as const, version: 1 as const, backbone: encoder.name, classes: ['x'], neutralIndex: 0, inputSize: encoder.inputSize,
      mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number], logitScale: 1, prompts: [],
      textSource: { kind: 'standin' as const, model: 'none', description: 'evaluation encoder' }, featureDim: encoder.featureDim,
    };
    bytes = await exportKeferOnnx({ config, encoder, transform, textEmbeddings: new Float32Array(encoder.featureDim).fill(1) });
  } finally {
    transform.dispose();
  }
  const { session, provider } = await createOnnxSession(bytes, { providers: ['cpu'], threads: opts.threads });
  return {
    forward: async (x, n) => (await runBatch(session, x, n, encoder.inputSize)).v,
    batchSize: opts.batchSize ?? 100,
    detail: `onnxruntime-node ${provider} inference (BatchNorm folded)`,
    release: () => void session.release(),
  };
}
