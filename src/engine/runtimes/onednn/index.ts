// The oneDNN runtime: the encoder's training step and its inference forward in the addon built from
// native/dnnl_encoder.cc (oneDNN 2.x, the library PyTorch's CPU convolutions use); the head on tfjs.
import type { RuntimeDefinition } from '../types.js';
import { loadOnednn } from './addon.js';
import { onednnEvalEncoder } from './inference.js';
import { ONEDNN_SUPPORTS, OnednnTrainStep } from './step.js';

export const onednnRuntime: RuntimeDefinition = {
  name: 'onednn',
  summary: 'the oneDNN addon (npm run build:native): the encoder in oneDNN\'s blocked layouts; fastest on a CPU',
  supports: ONEDNN_SUPPORTS,
  available() {
    const { addon, why } = loadOnednn();
    return addon ? { ok: true } : { ok: false, why };
  },
  create: (inputs) => OnednnTrainStep.create(inputs),
  evalEncoder: (encoder, opts) => onednnEvalEncoder(encoder, opts),
};
