// The encoder's training step on oneDNN: forward in training mode, backward from dL/dv, and SGD, with the
// weights and momentum held by the addon between steps (in the layout its convolutions want).
import { BN_EPS } from '../../model/layers.js';
import type { TrainGraphSpec } from '../encoderGraph.js';
import { NativeEncoderBase } from '../nativeEncoder.js';
import { loadOnednn, type NativeEncoder } from './addon.js';

export interface OnednnForward {
  v: Float32Array;
  /** Per BatchNorm layer: batch mean and biased batch variance [C]. */
  batchStats: Map<string, { mean: Float32Array; variance: Float32Array }>;
}

export class OnednnEncoderTrainer extends NativeEncoderBase<NativeEncoder> {
  /**
   * threads: OpenMP threads (default: one per core). convolution: 'auto' (default) lets oneDNN use
   * Winograd where it expects a gain; 'direct' is what PyTorch uses. Throws when the addon is unavailable.
   */
  static create(spec: TrainGraphSpec, opts: { threads?: number; convolution?: 'auto' | 'direct' } = {}): OnednnEncoderTrainer {
    const { addon, why } = loadOnednn();
    if (!addon) throw new Error(`--runtime onednn: ${why}`);
    const layout = NativeEncoderBase.layoutOf(spec);
    const native = new addon.Encoder({ threads: opts.threads ?? 0, convolution: opts.convolution ?? 'auto', eps: BN_EPS, tensors: layout.tensors, params: layout.params, ops: layout.ops });
    return new OnednnEncoderTrainer(spec, layout, native);
  }

  /** oneDNN's version, activation block size, threads and chosen convolution kernels, for the run log. */
  info(): ReturnType<NativeEncoder['info']> {
    return this.native.info();
  }

  /** Conv weights OIHW, BatchNorm [C]; momentum null = none yet (torch starts it from the first gradient). */
  setParam(name: string, values: Float32Array, momentum?: Float32Array | null): void {
    this.native.setParam(name, values);
    this.native.setMomentum(name, momentum ?? null);
  }
  getParam(name: string): Float32Array {
    return this.native.getParam(name);
  }
  getMomentum(name: string): Float32Array | null {
    return this.native.getMomentum(name);
  }
  getGrad(name: string): Float32Array {
    return this.native.getGrad(name);
  }

  /** images: [N, S, S, 3] normalised NHWC. */
  forward(images: Float32Array): OnednnForward {
    const { batch: N, inputSize: S } = this.spec;
    if (images.length !== N * S * S * 3) throw new Error(`onednn training: ${images.length} image values for batch ${N} at ${S}x${S}`);
    const { v, stats } = this.native.forward(images);
    const batchStats = new Map<string, { mean: Float32Array; variance: Float32Array }>();
    let off = 0;
    for (const b of this.layout.batchNorms) {
      batchStats.set(b.name, { mean: stats.subarray(off, off + b.channels), variance: stats.subarray(off + b.channels, off + 2 * b.channels) });
      off += 2 * b.channels;
    }
    return { v, batchStats };
  }

  /** dv = dL/dv [N, D] for the last forward(); gradients stay in the addon (getGrad reads them). */
  backward(dv: Float32Array): void {
    if (dv.length !== this.spec.batch * this.layout.featureDim) throw new Error(`onednn training: ${dv.length} gradient values for batch ${this.spec.batch}`);
    this.native.backward(dv);
  }

  /** torch.optim.SGD on every encoder parameter with the last backward()'s gradients. */
  sgd(lr: number, momentum: number, weightDecay: number): void {
    this.native.sgd(lr, momentum, weightDecay);
  }
}
