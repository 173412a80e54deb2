// Validation, --diagnose and `kefer eval` on oneDNN: the encoder in inference mode (encoderGraph.ts
// inferenceSpec: BatchNorm folded into the convolutions from the running statistics, ReLU and the residual
// add as post-ops, blocked activations, buffers shared by lifetime) behind the Encoder interface that
// evaluate() uses, so records and summaries are built exactly as on tfjs.
import type * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '../../model/index.js';
import { BN_EPS } from '../../model/layers.js';
import { inferenceSpec, type InferenceConv, type InferenceSpec, type TrainGraphSpec } from '../encoderGraph.js';
import type { EvalEncoder } from '../types.js';
import { loadOnednn, type NativeInference } from './addon.js';

/** Activation memory an evaluation batch may take (the batch is as large as this allows, at most 256). */
const EVAL_MEMORY_BYTES = 384 * 2 ** 20;
const MAX_EVAL_BATCH = 256;

/** The largest batch whose activations fit EVAL_MEMORY_BYTES (at least 8). */
export function evalBatchFor(backbone: Encoder['name'], inputSize: number): number {
  const perImage = inferenceSpec({ backbone, inputSize, batch: 8 }).bytesPerImage;
  return Math.max(8, Math.min(MAX_EVAL_BATCH, Math.floor(EVAL_MEMORY_BYTES / perImage)));
}

/**
 * Each convolution's weights and bias with its BatchNorm (running statistics) folded in. The weights stay
 * in tfjs's HWIO layout (output channel fastest: one sequential pass); the addon reorders them once.
 */
export async function foldBatchNorms(encoder: Encoder, convs: readonly InferenceConv[]): Promise<Map<string, { w: Float32Array; b: Float32Array }>> {
  const read = async (t: tf.Tensor | undefined, what: string) => {
    if (!t) throw new Error(`onednn inference: the encoder has no ${what}`);
    return (await t.data()) as Float32Array;
  };
  const out = new Map<string, { w: Float32Array; b: Float32Array }>();
  for (const c of convs) {
    const hwio = await read(encoder.params.get(c.w), c.w);
    const gamma = await read(encoder.params.get(`${c.bn}.weight`), `${c.bn}.weight`);
    const beta = await read(encoder.params.get(`${c.bn}.bias`), `${c.bn}.bias`);
    const mean = await read(encoder.buffers.get(`${c.bn}.running_mean`), `${c.bn}.running_mean`);
    const variance = await read(encoder.buffers.get(`${c.bn}.running_var`), `${c.bn}.running_var`);
    const cout = gamma.length;
    const scale = new Float32Array(cout);
    const b = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      const s = gamma[o] / Math.sqrt(variance[o] + BN_EPS);
      scale[o] = s;
      b[o] = beta[o] - mean[o] * s;
    }
    const w = new Float32Array(hwio.length);
    for (let i = 0; i < hwio.length; i += cout) for (let o = 0; o < cout; o++) w[i + o] = hwio[i + o] * scale[o];
    out.set(c.w, { w, b });
  }
  return out;
}

export class OnednnInference {
  private constructor(
    readonly spec: TrainGraphSpec,
    readonly graph: InferenceSpec,
    private readonly native: NativeInference,
  ) {}

  /** Throws, saying why, when the addon is unavailable. */
  static create(spec: TrainGraphSpec, opts: { threads?: number } = {}): OnednnInference {
    const { addon, why } = loadOnednn();
    if (!addon) throw new Error(`onednn: ${why}`);
    const graph = inferenceSpec(spec);
    return new OnednnInference(spec, graph, new addon.Inference({ threads: opts.threads ?? 0, tensors: graph.tensors, ops: graph.ops }));
  }

  get convs(): InferenceConv[] {
    return this.graph.ops.filter((o): o is InferenceConv => o.kind === 'conv');
  }

  setWeights(folded: Map<string, { w: Float32Array; b: Float32Array }>): void {
    for (const c of this.convs) {
      const f = folded.get(c.w);
      if (!f) throw new Error(`onednn inference: no folded weights for ${c.w}`);
      this.native.setWeights(c.w, f.w, f.b);
    }
  }

  /** images: exactly the batch it was built for, [N, S, S, 3] normalised NHWC -> v [N, D]. */
  forward(images: Float32Array): Float32Array {
    return this.native.forward(images);
  }

  info(): ReturnType<NativeInference['info']> {
    return this.native.info();
  }

  release(): void {
    this.native.release();
  }
}

/**
 * `encoder`'s weights and running statistics in inference mode on oneDNN, read again by load() (a training
 * runtime keeps one across epochs). Batches of `batchSize` (default: as large as evalBatchFor allows) run
 * as built; a smaller (last) batch gets its own instance.
 */
export class OnednnEvaluator {
  private readonly instances = new Map<number, OnednnInference>();
  private folded = new Map<string, { w: Float32Array; b: Float32Array }>();
  readonly batchSize: number;

  constructor(
    private readonly encoder: Encoder,
    private readonly opts: { batchSize?: number; threads?: number } = {},
  ) {
    this.batchSize = opts.batchSize ?? evalBatchFor(encoder.name, encoder.inputSize);
  }

  private spec(batch: number): TrainGraphSpec {
    return { backbone: this.encoder.name, inputSize: this.encoder.inputSize, batch };
  }

  /** Folds the encoder's current BatchNorms into its convolutions and hands every instance the weights. */
  async load(): Promise<void> {
    this.folded = await foldBatchNorms(this.encoder, inferenceSpec(this.spec(1)).ops.filter((o): o is InferenceConv => o.kind === 'conv'));
    for (const inst of this.instances.values()) inst.setWeights(this.folded);
  }

  private instance(batch: number): OnednnInference {
    const inst = OnednnInference.create(this.spec(batch), this.opts);
    inst.setWeights(this.folded);
    this.instances.set(batch, inst);
    return inst;
  }

  /**
   * x: n normalised NHWC images (n <= batchSize) -> v [n, D]. Instances are built for the batch sizes asked
   * for (evaluate() asks for full batches and one last one, so a set smaller than a batch builds only its
   * own); a third size is padded to the full batch.
   */
  run(x: Float32Array, n: number): Float32Array {
    if (n > this.batchSize) throw new Error(`onednn eval: a batch of ${n} images, built for at most ${this.batchSize}`);
    const inst = this.instances.get(n) ?? (this.instances.size < 2 ? this.instance(n) : undefined);
    if (inst) return inst.forward(x);
    const full = this.instances.get(this.batchSize) ?? this.instance(this.batchSize);
    const per = this.encoder.inputSize * this.encoder.inputSize * 3;
    const padded = new Float32Array(this.batchSize * per);
    padded.set(x);
    return full.forward(padded).subarray(0, n * full.graph.featureDim);
  }

  /** What evaluate() takes (F_n and the logits stay on tfjs). */
  view(): EvalEncoder {
    const { addon } = loadOnednn();
    const threads = this.opts.threads ? `${this.opts.threads} thread(s)` : 'one thread per core';
    return {
      forward: async (x, n) => this.run(x, n),
      batchSize: this.batchSize,
      detail: `oneDNN inference (${addon?.isa()}; BatchNorm folded, ReLU and add fused, blocked layout, batches up to ${this.batchSize}, ${threads})`,
      release: () => this.release(),
    };
  }

  release(): void {
    for (const i of this.instances.values()) i.release();
    this.instances.clear();
  }
}

/** A saved model's encoder in inference mode on oneDNN (kefer eval, --diagnose). */
export async function onednnEvalEncoder(encoder: Encoder, opts: { batchSize?: number; threads?: number } = {}): Promise<EvalEncoder> {
  const ev = new OnednnEvaluator(encoder, opts);
  try {
    await ev.load();
  } catch (e) {
    ev.release();
    throw e;
  }
  return ev.view();
}
