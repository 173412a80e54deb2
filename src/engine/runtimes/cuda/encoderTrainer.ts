// The encoder, F_n, the KE-FER losses and SGD on the CUDA addon: builds it from the shared op list
// (../encoderGraph.ts) and the head's settings, and moves weights, momentum and BatchNorm running statistics
// in and out in the tfjs-independent layouts the other native runtimes use (conv OIHW, BN [C], F_n [in, out]).
import type { LossOptions } from '../../losses.js';
import { BN_EPS, BN_MOMENTUM } from '../../model/layers.js';
import type { TrainGraphSpec } from '../encoderGraph.js';
import { NativeEncoderBase } from '../nativeEncoder.js';
import { cudaAvailability, type CudaEncoderInfo, type CudaPrecision, type NativeCudaEncoder } from './addon.js';

export interface CudaHeadOptions {
  /** L2-normalised text embeddings [K, D], row-major. */
  text: Float32Array;
  classes: number;
  hidden: number;
  loss: LossOptions;
}

export const HEAD_PARAMS = ['MLP.fc1.weight', 'MLP.fc1.bias', 'MLP.fc2.weight', 'MLP.fc2.bias'] as const;

export class CudaEncoderTrainer extends NativeEncoderBase<NativeCudaEncoder> {
  /**
   * Throws, saying why, when the addon, a device or cuDNN is missing, or the GPU runs out of memory.
   * deterministic (default true): only cuDNN algorithms that give the same result every run, so a resumed
   * run repeats an uninterrupted one; KEFER_CUDA_NONDETERMINISTIC=1 or false here lift that for speed.
   */
  static create(spec: TrainGraphSpec, opts: { precision?: CudaPrecision; head?: CudaHeadOptions; device?: number; deterministic?: boolean } = {}): CudaEncoderTrainer {
    const { addon, ok, why } = cudaAvailability();
    if (!addon || !ok) throw new Error(`--runtime cuda: ${why}`);
    const layout = NativeEncoderBase.layoutOf(spec);
    const head = opts.head
      ? {
          classes: opts.head.classes, hidden: opts.head.hidden, text: opts.head.text, neutral: opts.head.loss.neutralIndex,
          contrast: opts.head.loss.contrast, lambdaS: opts.head.loss.lambdaS, lambdaT: opts.head.loss.lambdaT, lambdaC: opts.head.loss.lambdaC,
          logitScale: opts.head.loss.logitScale,
        }
      : undefined;
    const native = new addon.Encoder({
      precision: opts.precision ?? 'fp32', device: opts.device ?? 0, eps: BN_EPS, bnMomentum: BN_MOMENTUM,
      deterministic: opts.deterministic ?? process.env.KEFER_CUDA_NONDETERMINISTIC !== '1',
      tensors: layout.tensors, params: layout.params, ops: layout.ops, head,
    });
    return new CudaEncoderTrainer(spec, layout, native);
  }

  info(): CudaEncoderInfo {
    return this.native.info();
  }
}
