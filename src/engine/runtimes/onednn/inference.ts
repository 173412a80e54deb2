// Validation, --diagnose and `kefer eval` on oneDNN: the encoder in inference mode (encoderGraph.ts
// inferenceSpec: BatchNorm folded into the convolutions from the running statistics, ReLU and the residual
// add as post-ops, blocked activations, buffers shared by lifetime) behind the Encoder interface that
// evaluate() uses, so records and summaries are built exactly as on tfjs.
import type * as tf from '@tensorflow/tfjs-core';
import type { Normalisation } from '../../data/augment.js';
import type { Encoder } from '../../model/index.js';
import { BN_EPS } from '../../model/layers.js';
import { inferenceSpec, type InferenceConv, type InferenceSpec, type TrainGraphSpec } from '../encoderGraph.js';
import type { ActivationScales, EvalEncoder, EvalEncoderOptions, Int8Calibration } from '../types.js';
import { loadOnednn, type NativeInference } from './addon.js';

/**
 * 3x3 stride-1 convolutions: 'auto' (the default: Winograd F(4x4, 3x3), oneDNN's on AVX-512 and the addon's
 * own, native/wino_avx2.h, on AVX2; per-sample outputs within 2e-5 of direct) or 'direct' (PyTorch's algorithm).
 * int8 on AVX2 without VNNI: 'auto' runs those convolutions on the addon's Winograd with u8 in and out,
 * F(7x7, 3x3) on the maps 7 divides with 128 channels or more.
 */
export type InferenceAlgorithm = 'direct' | 'auto';

/**
 * An int8 encoder's scales (q = value x scale): the images (s8); each op's output, per op of the inference
 * graph (u8 after a ReLU, s8 otherwise; pools keep their input's, the GAP has none); each convolution's
 * weights per output channel.
 */
export interface Int8Scales extends ActivationScales {
  weights: Map<string, Float32Array>;
  /** 127, or 63 without VNNI (u8 x s8 pair sums in 16 bits saturate past 7-bit weights). */
  weightLevels: number;
  /** What calibrated it, for the log. */
  what: string;
}

export interface InferenceOptions {
  threads?: number;
  algorithm?: InferenceAlgorithm;
  int8?: Int8Scales;
  /** The addon's own Winograd (AVX2): outputs per tile side, forced; unset, the addon picks (tests, benches). */
  winogradTile?: 4 | 7;
  /**
   * forwardPixels on a grey batch (R = G = B in every pixel, as FER2013 / FERPlus decode): the stem and
   * its max pool on one channel, fused (native/grey_stem_avx2.h, AVX2). Default true; false runs the RGB
   * stem on every batch (tests, benches).
   */
  greyStem?: boolean;
}

/** q levels over [0, max] (or [-max, max]); a channel or op that never left 0 gets scale 1. */
const scaleFor = (max: number, levels: number) => (max > 0 ? levels / max : 1);

/** Weight levels for the ISA oneDNN runs (its name from addon.isa()). */
export function weightLevels(isa: string): number {
  return /vnni|bf16|amx|fp16/.test(isa) ? 127 : 63;
}

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

  /**
   * Throws, saying why, when the addon is unavailable. `sibling`: the same encoder built for another batch
   * size, whose AVX2 Winograd weights (4x the direct ones) the new instance shares; setWeights on either
   * then writes them for both.
   */
  static create(spec: TrainGraphSpec, opts: InferenceOptions = {}, sibling?: OnednnInference): OnednnInference {
    const { addon, why } = loadOnednn();
    if (!addon) throw new Error(`onednn: ${why}`);
    const graph = inferenceSpec(spec);
    const q = opts.int8;
    const ops = q
      ? graph.ops.map((op, i) => (op.kind === 'conv' ? { ...op, outScale: q.out[i], wScales: q.weights.get(op.w) } : op))
      : graph.ops;
    return new OnednnInference(spec, graph, new addon.Inference({
      threads: opts.threads ?? 0, tensors: graph.tensors, ops, algorithm: opts.algorithm ?? 'auto', winogradTile: opts.winogradTile ?? 0, greyStem: opts.greyStem ?? true,
      ...(q ? { precision: 'int8', inputScale: q.input } : {}),
    }, sibling?.native));
  }

  get convs(): InferenceConv[] {
    return this.graph.ops.filter((o): o is InferenceConv => o.kind === 'conv');
  }

  /** skipShared: leave the Winograd weights shared with the sibling, which was just given the same `folded`. */
  setWeights(folded: Map<string, { w: Float32Array; b: Float32Array }>, skipShared = false): void {
    for (const c of this.convs) {
      const f = folded.get(c.w);
      if (!f) throw new Error(`onednn inference: no folded weights for ${c.w}`);
      this.native.setWeights(c.w, f.w, f.b, skipShared);
    }
  }

  /** images: exactly the batch it was built for, [N, S, S, 3] normalised NHWC -> v [N, D]. */
  forward(images: Float32Array): Float32Array {
    return this.native.forward(images);
  }

  /** forward() from RGB bytes as decoded, [N, S, S, 3]: the addon normalises them (one table per channel). */
  forwardPixels(rgb: Uint8Array, norm: Normalisation): Float32Array {
    return this.native.forwardPixels(rgb, norm.mean, norm.std);
  }

  /** fp32 only: the largest |value| each op of the graph wrote for these images (0 for the GAP). */
  activationMax(images: Float32Array): Float32Array {
    return this.native.calibrate(images);
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
  private scales: Int8Scales | undefined;
  readonly batchSize: number;

  constructor(
    private readonly encoder: Encoder,
    private readonly opts: { batchSize?: number } & Omit<InferenceOptions, 'int8'> = {},
  ) {
    this.batchSize = opts.batchSize ?? evalBatchFor(encoder.name, encoder.inputSize);
  }

  private spec(batch: number): TrainGraphSpec {
    return { backbone: this.encoder.name, inputSize: this.encoder.inputSize, batch };
  }

  /** Folds the encoder's current BatchNorms into its convolutions and hands every instance the weights. */
  async load(): Promise<void> {
    this.folded = await foldBatchNorms(this.encoder, inferenceSpec(this.spec(1)).ops.filter((o): o is InferenceConv => o.kind === 'conv'));
    // The first instance is the one the others share Winograd weights with (instance() passes it).
    [...this.instances.values()].forEach((inst, i) => inst.setWeights(this.folded, i > 0));
  }

  /**
   * Switches to int8: the activation ranges measured on `calibration` by the fp32 encoder (the largest
   * |value| of each op's output), the weights' per output channel. Needs load() first.
   */
  async calibrate(calibration: Int8Calibration): Promise<Int8Scales> {
    const { scales, images } = await this.measure(calibration);
    return this.useScales(scales, `${images} images of ${calibration.what}`);
  }

  /** The activation scales from the fp32 encoder's outputs on `calibration`. */
  private async measure(calibration: Int8Calibration): Promise<{ scales: ActivationScales; images: number }> {
    if (this.folded.size === 0) throw new Error('onednn int8: load() the weights before calibrating');
    const fp32 = OnednnInference.create(this.spec(this.batchSize), { threads: this.opts.threads });
    try {
      fp32.setWeights(this.folded);
      const ops = fp32.graph.ops;
      const per = this.encoder.inputSize * this.encoder.inputSize * 3;
      const seen = new Float32Array(ops.length);
      let input = 0;
      let images = 0;
      for await (const { x, n } of calibration.batches(this.batchSize)) {
        if (n === 0) continue;
        // A short batch is filled with copies of its first image: the ranges stay those of real images.
        const full = n === this.batchSize ? x : new Float32Array(this.batchSize * per);
        if (full !== x) for (let i = 0; i < this.batchSize; i++) full.set(x.subarray((i < n ? i : 0) * per, ((i < n ? i : 0) + 1) * per), i * per);
        for (let i = 0; i < n * per; i++) input = Math.max(input, Math.abs(x[i]));
        const m = fp32.activationMax(full);
        for (let i = 0; i < ops.length; i++) seen[i] = Math.max(seen[i], m[i]);
        images += n;
      }
      if (images === 0) throw new Error(`onednn int8: no calibration images (${calibration.what})`);
      const out = ops.map((op, i) => (op.kind === 'conv' ? scaleFor(seen[i], op.relu ? 255 : 127) : 0));
      return { scales: { input: scaleFor(input, 127), out }, images };
    } finally {
      fp32.release();
    }
  }

  /** Whether `act` has a positive scale for the images and for every convolution of this encoder's graph. */
  fits(act: ActivationScales): boolean {
    const ops = inferenceSpec(this.spec(1)).ops;
    return act.out.length === ops.length && act.input > 0 && ops.every((op, i) => op.kind !== 'conv' || (Number.isFinite(act.out[i]) && act.out[i] > 0));
  }

  /** Switches to int8 with these activation scales (measured now, or kept from an earlier calibration). */
  useScales(act: ActivationScales, what: string): Int8Scales {
    if (this.folded.size === 0) throw new Error('onednn int8: load() the weights before calibrating');
    if (!this.fits(act)) throw new Error(`onednn int8: the activation scales do not fit this graph (${act.out.length} for ${inferenceSpec(this.spec(1)).ops.length} ops, or a convolution's is not positive)`);
    const { addon } = loadOnednn();
    const levels = weightLevels(addon?.isa() ?? '');
    const weights = new Map<string, Float32Array>();
    for (const [name, { w, b }] of this.folded) {
      const cout = b.length;
      const ws = new Float32Array(cout);
      // HWIO: the output channel is the fastest axis.
      for (let i = 0; i < w.length; i++) ws[i % cout] = Math.max(ws[i % cout], Math.abs(w[i]));
      for (let o = 0; o < cout; o++) ws[o] = scaleFor(ws[o], levels);
      weights.set(name, ws);
    }
    this.scales = { input: act.input, out: act.out, weights, weightLevels: levels, what };
    this.release();
    return this.scales;
  }

  private instance(batch: number): OnednnInference {
    const sibling = this.instances.values().next().value;
    const inst = OnednnInference.create(this.spec(batch), { ...this.opts, int8: this.scales }, sibling);
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
    return this.batched(x, n, () => new Float32Array(this.batchSize * this.perImage), (inst, images) => inst.forward(images));
  }

  /** run() from n images' RGB bytes as decoded (evaluate()'s batches): normalised by the addon. */
  runPixels(rgb: Uint8Array, n: number, norm: Normalisation): Float32Array {
    return this.batched(rgb, n, () => new Uint8Array(this.batchSize * this.perImage), (inst, images) => inst.forwardPixels(images, norm));
  }

  /** The addon's info() for the instance built for `batch` (default: the full batch), once one ran. */
  info(batch = this.batchSize): ReturnType<OnednnInference['info']> | undefined {
    return this.instances.get(batch)?.info();
  }

  private get perImage(): number {
    return this.encoder.inputSize * this.encoder.inputSize * 3;
  }

  private batched<T extends Float32Array | Uint8Array>(x: T, n: number, padding: () => T, forward: (inst: OnednnInference, images: T) => Float32Array): Float32Array {
    if (n > this.batchSize) throw new Error(`onednn eval: a batch of ${n} images, built for at most ${this.batchSize}`);
    const inst = this.instances.get(n) ?? (this.instances.size < 2 ? this.instance(n) : undefined);
    if (inst) return forward(inst, x);
    const full = this.instances.get(this.batchSize) ?? this.instance(this.batchSize);
    const padded = padding();
    padded.set(x);
    return forward(full, padded).subarray(0, n * full.graph.featureDim);
  }

  /** What evaluate() takes (F_n and the logits stay on tfjs). */
  view(): EvalEncoder {
    const { addon } = loadOnednn();
    const threads = this.opts.threads ? `${this.opts.threads} thread(s)` : 'one thread per core';
    const how = this.scales
      ? `int8: u8/s8 activations, ${this.scales.weightLevels === 127 ? 8 : 7}-bit weights per channel${this.opts.algorithm !== 'direct' && addon?.isa() === 'avx2' ? ' (the 3x3 stride-1 convolutions: Winograd on u8 in and out, fp32 weights)' : ''}, calibrated on ${this.scales.what}; BatchNorm folded, ReLU and add fused, NHWC`
      : `BatchNorm folded, ReLU and add fused, blocked layout, ${this.opts.algorithm !== 'direct' && /^avx2|^avx512/.test(addon?.isa() ?? '') ? 'Winograd for the 3x3 convolutions' : 'direct convolutions'}`;
    const grey = this.opts.greyStem !== false && /^avx2/.test(addon?.isa() ?? '') ? '; grey images: the stem on one channel, fused with its max pool' : '';
    return {
      forward: async (x, n) => this.run(x, n),
      forwardPixels: async (rgb, n, norm) => this.runPixels(rgb, n, norm),
      batchSize: this.batchSize,
      detail: `oneDNN inference (${addon?.isa()}; ${how}${grey}, batches up to ${this.batchSize}, ${threads})`,
      release: () => this.release(),
    };
  }

  release(): void {
    for (const i of this.instances.values()) i.release();
    this.instances.clear();
  }
}

/** A saved model's encoder in inference mode on oneDNN (kefer eval, --diagnose), int8 when given calibration images. */
export async function onednnEvalEncoder(encoder: Encoder, opts: EvalEncoderOptions & Pick<InferenceOptions, 'algorithm' | 'greyStem'> = {}): Promise<EvalEncoder> {
  const ev = new OnednnEvaluator(encoder, opts);
  try {
    await ev.load();
    const int8 = opts.int8;
    if (int8) {
      const kept = await int8.kept?.load();
      // Kept scales that do not fit this graph (a hand-edited file) count as none: calibrate and replace them.
      if (kept && ev.fits(kept)) {
        ev.useScales(kept, `${int8.what}, scales kept from an earlier calibration`);
      } else {
        const scales = await ev.calibrate(int8);
        await int8.kept?.save({ input: scales.input, out: scales.out });
      }
    }
  } catch (e) {
    ev.release();
    throw e;
  }
  return ev.view();
}
