// What the two native addons (oneDNN: native/dnnl_encoder.cc; CUDA: native/cuda_encoder.cu) have in common:
// the encoder built from one op list (encoderGraph.ts nativeSpec), parameters moved in and out in the plain
// layouts (conv OIHW, BN [C]), backward from dL/dv and torch's SGD held in the addon.
import { nativeSpec, type NativeSpec, type ParamInfo, type TrainGraphSpec } from './encoderGraph.js';

/** The methods both addons' encoder objects have. */
export interface NativeEncoderMethods {
  backward(dv: Float32Array): void;
  sgd(lr: number, momentum: number, weightDecay: number): void;
  setParam(name: string, values: Float32Array): void;
  getParam(name: string): Float32Array;
  getGrad(name: string): Float32Array;
  /** null: no momentum yet (torch starts it from the first gradient). */
  setMomentum(name: string, values: Float32Array | null): void;
  getMomentum(name: string): Float32Array | null;
  /** Frees the native memory now (not at garbage collection); the encoder is unusable afterwards. */
  release(): void;
}

/** A native encoder and the spec it was built from: its parameters, BatchNorms and feature size. */
export abstract class NativeEncoderBase<N extends NativeEncoderMethods> {
  protected constructor(
    readonly spec: TrainGraphSpec,
    protected readonly layout: NativeSpec,
    readonly native: N,
  ) {}

  protected static layoutOf(spec: TrainGraphSpec): NativeSpec {
    return nativeSpec(spec);
  }

  get params(): ParamInfo[] {
    return this.layout.paramInfo;
  }
  get batchNorms(): NativeSpec['batchNorms'] {
    return this.layout.batchNorms;
  }
  get featureDim(): number {
    return this.layout.featureDim;
  }
  release(): void {
    this.native.release();
  }
}
