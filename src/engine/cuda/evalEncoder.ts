// `kefer eval --runtime cuda`: the encoder's inference forward (BatchNorm on running statistics) on the
// CUDA addon, behind the Encoder interface evaluate() already uses, so the per-sample records are built
// exactly as on every other runtime (F_n and the logits stay on tfjs: [batch, 512] x 512 x 128).
import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '../model/index.js';
import { readLayout } from '../train/headStep.js';
import { CudaEncoderTrainer } from './encoderTrainer.js';

/** An Encoder whose apply(x, false) runs on the GPU; batches smaller than `batch` are padded. release() frees the GPU memory. */
export async function createCudaEvalEncoder(encoder: Encoder, batch: number): Promise<Encoder & { release(): void; detail: string }> {
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
  const S = encoder.inputSize, D = t.featureDim, per = S * S * 3;
  const staging = new Float32Array(batch * per);
  const i = t.info();
  return {
    ...encoder,
    detail: `encoder forward on CUDA: ${i.gpu}, cuDNN ${i.cudnn}, precision ${i.precision}`,
    apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
      if (training) throw new Error('the CUDA evaluation encoder runs inference only');
      const n = x.shape[0];
      if (n > batch) throw new Error(`cuda eval: a batch of ${n} images, built for ${batch}`);
      staging.fill(0);
      staging.set(x.dataSync() as Float32Array);
      const v = t.native.forward(staging, false);
      return tf.tensor2d(v.subarray(0, n * D), [n, D]);
    },
    release: () => t.release(),
  };
}
