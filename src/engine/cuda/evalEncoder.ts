// Evaluation on the CUDA addon: the encoder's inference forward (BatchNorm on running statistics) behind
// the Encoder interface evaluate() already uses, so the per-sample records are built exactly as on every
// other runtime (F_n and the logits stay on tfjs: [batch, 512] x 512 x 128). Used by `kefer eval --runtime
// cuda` (a fresh addon from a checkpoint) and by the trainer's per-epoch validation (the training addon's
// own weights: nothing to upload).
import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '../model/index.js';
import { readLayout } from '../train/headStep.js';
import type { NativeCudaEncoder } from './addon.js';
import { CudaEncoderTrainer } from './encoderTrainer.js';

/** `encoder` with apply(x, false) run by `native` (built for `batch` images; smaller batches are padded). */
export function cudaEncoderView(encoder: Encoder, native: NativeCudaEncoder, batch: number, featureDim: number): Encoder {
  const per = encoder.inputSize * encoder.inputSize * 3;
  const staging = new Float32Array(batch * per);
  return {
    ...encoder,
    apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
      if (training) throw new Error('the CUDA evaluation encoder runs inference only');
      const n = x.shape[0];
      if (n > batch) throw new Error(`cuda eval: a batch of ${n} images, the addon is built for ${batch}`);
      staging.fill(0);
      staging.set(x.dataSync() as Float32Array);
      const v = native.forward(staging, false);
      return tf.tensor2d(v.subarray(0, n * featureDim), [n, featureDim]);
    },
  };
}

/** A fresh addon holding `encoder`'s weights and running statistics; release() frees the GPU memory. */
export async function createCudaEvalEncoder(encoder: Encoder, batch: number): Promise<Encoder & { release(): void }> {
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
  return { ...cudaEncoderView(encoder, t.native, batch, t.featureDim), release: () => t.release() };
}
