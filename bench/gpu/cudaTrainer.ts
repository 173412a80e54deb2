// The ResNet-18 KE-FER trainer on the CUDA addon that bench/gpu/cudaStep.ts and cudaEpoch.ts time:
// torchvision-initialised weights from createEncoder (seed 29), F_n, random unit text embeddings.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { CudaPrecision } from '../../src/engine/runtimes/cuda/addon.js';
import { CudaEncoderTrainer, HEAD_PARAMS } from '../../src/engine/runtimes/cuda/encoderTrainer.js';
import { createEncoder, createTransform } from '../../src/engine/model/index.js';
import { readLayout } from '../../src/engine/runtimes/layout.js';
import { Rng } from '../../src/engine/util/rng.js';

export async function buildTrainer(batch: number, size: number, precision: CudaPrecision, classes = 7, neutral = 6): Promise<CudaEncoderTrainer> {
  await tf.setBackend('cpu');
  const rng = new Rng(29);
  const text = new Float32Array(classes * 512).map(() => rng.normal());
  for (let k = 0; k < classes; k++) {
    const row = text.subarray(k * 512, (k + 1) * 512);
    const n = Math.hypot(...row);
    row.forEach((x, i) => (row[i] = x / n));
  }
  const t = CudaEncoderTrainer.create({ backbone: 'resnet18', inputSize: size, batch }, {
    precision, deterministic: process.env.KEFER_CUDA_NONDETERMINISTIC !== '1',
    head: { text, classes, hidden: 128, loss: { neutralIndex: neutral, contrast: 'pairwise', lambdaS: 1, lambdaT: 1, lambdaC: 1, logitScale: 100 } },
  });
  const encoder = createEncoder('resnet18', { seed: 29, inputSize: size });
  for (const p of t.params) t.native.setParam(p.name, await readLayout(encoder.params.get(p.name)!, p.conv));
  const transform = createTransform(29);
  for (const name of HEAD_PARAMS) t.native.setParam(name, await readLayout(transform.params.get(name)!, false));
  encoder.dispose();
  transform.dispose();
  return t;
}
