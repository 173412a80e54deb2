// The tfjs runtime: the active tfjs backend (wasm, WebGPU, tfjs-node), on this thread or data-parallel over
// worker threads (--workers N, wasm). Always available.
import type { RuntimeDefinition } from '../types.js';
import { TFJS_SUPPORTS, TfjsTrainStep, tfjsEvalEncoder } from './step.js';

export const tfjsRuntime: RuntimeDefinition = {
  name: 'tfjs',
  summary: 'the tfjs backend above (--backend); with --workers N, data-parallel replicas on worker threads (wasm)',
  supports: TFJS_SUPPORTS,
  available: () => ({ ok: true }),
  create: (inputs) => TfjsTrainStep.create(inputs),
  evalEncoder: async (encoder, opts) => tfjsEvalEncoder(encoder, opts.batchSize),
};
