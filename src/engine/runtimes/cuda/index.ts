// The CUDA runtime: encoder, F_n, the losses and SGD on the GPU in the addon built from
// native/cuda_encoder.cu (cuDNN 9 loaded at run time). Available where a device, its driver and cuDNN are.
import type { RuntimeDefinition } from '../types.js';
import { cudaAvailability } from './addon.js';
import { createCudaEvalEncoder } from './evalEncoder.js';
import { CUDA_SUPPORTS, CudaTrainStep } from './step.js';

export const cudaRuntime: RuntimeDefinition = {
  name: 'cuda',
  summary: 'the CUDA/cuDNN addon (npm run build:native): encoder, F_n, losses and SGD on the GPU',
  supports: CUDA_SUPPORTS,
  available() {
    const a = cudaAvailability();
    return a.ok ? { ok: true } : { ok: false, why: a.why };
  },
  create: (inputs) => CudaTrainStep.create(inputs),
  evalEncoder: (encoder, opts) => createCudaEvalEncoder(encoder, opts.batchSize ?? 100),
};
