// Evaluation on the CUDA addon: the encoder's inference forward (BatchNorm on running statistics); F_n and
// the logits stay on tfjs ([batch, 512] x 512 x 128), so the per-sample records are built exactly as on
// every other runtime. Used by `kefer eval --runtime cuda` (a fresh addon from a checkpoint) and by the
// trainer's per-epoch validation (the training addon's own weights: nothing to upload).
import type { Encoder } from '../../model/index.js';
import { readLayout } from '../layout.js';
import type { EvalEncoder } from '../types.js';
import type { NativeCudaEncoder } from './addon.js';
import { CudaEncoderTrainer } from './encoderTrainer.js';

/** `native`'s inference forward (built for `batch` images; smaller batches are padded). */
export function cudaEvalView(encoder: Encoder, native: NativeCudaEncoder, batch: number, featureDim: number): EvalEncoder {
  const per = encoder.inputSize * encoder.inputSize * 3;
  const staging = new Float32Array(batch * per);
  return {
    forward: async (x, n) => {
      if (n > batch) throw new Error(`cuda eval: a batch of ${n} images, the addon is built for ${batch}`);
      staging.fill(0);
      staging.set(x.subarray(0, n * per));
      return native.forward(staging, false).slice(0, n * featureDim);
    },
    batchSize: batch,
    detail: `CUDA addon inference (batch ${batch})`,
    release: () => {},
  };
}

/** A fresh addon holding `encoder`'s weights and running statistics; release() frees the GPU memory. */
export async function createCudaEvalEncoder(encoder: Encoder, batch: number): Promise<EvalEncoder> {
  const t = CudaEncoderTrainer.create({ backbone: encoder.name, inputSize: encoder.inputSize, batch });
  try {
    for (const p of t.params) t.native.setParam(p.name, await readLayout(encoder.params.get(p.name)!, p.conv));
    for (const b of t.batchNorms) {
      for (const s of ['running_mean', 'running_var']) t.native.setBuffer(`${b.name}.${s}`, await readLayout(encoder.buffers.get(`${b.name}.${s}`)!, false));
    }
  } catch (e) {
    t.release();
    throw e;
  }
  return { ...cudaEvalView(encoder, t.native, batch, t.featureDim), release: () => t.release() };
}
