// The onnxruntime runtime: the encoder's training graphs (trainGraph.ts, built from ../encoderGraph.ts) on
// onnxruntime-node's CPU kernels, validation on an inference export; the head on tfjs. Always available.
import type { RuntimeDefinition } from '../types.js';
import { onnxEvalEncoder } from './evalEncoder.js';
import { ONNX_SUPPORTS, OnnxTrainStep } from './step.js';

export const onnxRuntime: RuntimeDefinition = {
  name: 'onnx',
  summary: 'onnxruntime-node\'s native CPU kernels (hand-written training graphs)',
  supports: ONNX_SUPPORTS,
  available: () => ({ ok: true }),
  create: (inputs) => OnnxTrainStep.create(inputs),
  evalEncoder: (encoder, opts) => onnxEvalEncoder(encoder, opts),
};
