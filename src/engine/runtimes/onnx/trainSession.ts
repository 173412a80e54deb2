// Runs the encoder training graphs (trainGraph.ts) on onnxruntime-node: forward in training mode, then
// backward from dL/dv. Weights travel in as plain arrays each call, so the optimizer stays outside.
import * as ort from 'onnxruntime-node';
import type { TrainGraphSpec } from '../encoderGraph.js';
import { buildTrainGraphs, type TrainGraphs } from './trainGraph.js';

export interface EncoderForward {
  v: Float32Array;
  /** Per BatchNorm layer: batch mean and biased batch variance [C]. */
  batchStats: Map<string, { mean: Float32Array; variance: Float32Array }>;
  /** Tensors the backward graph needs, as onnxruntime returned them. */
  saved: Record<string, ort.Tensor>;
  images: ort.Tensor;
}

export interface OnnxTrainSessionOptions {
  /** onnxruntime intra-op threads (default: onnxruntime's, the physical cores). */
  threads?: number;
}

export class OnnxEncoderTrainer {
  private constructor(
    readonly spec: TrainGraphSpec,
    readonly graphs: TrainGraphs,
    private readonly fwd: ort.InferenceSession,
    private readonly bwd: ort.InferenceSession,
  ) {
    this.shapes = new Map(graphs.params.map((p) => [p.name, p.shape]));
  }

  private readonly shapes: Map<string, number[]>;

  static async create(spec: TrainGraphSpec, opts: OnnxTrainSessionOptions = {}): Promise<OnnxEncoderTrainer> {
    const graphs = buildTrainGraphs(spec);
    const so: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
    if (opts.threads) so.intraOpNumThreads = opts.threads;
    const [fwd, bwd] = await Promise.all([ort.InferenceSession.create(graphs.forward, so), ort.InferenceSession.create(graphs.backward, so)]);
    return new OnnxEncoderTrainer(spec, graphs, fwd, bwd);
  }

  private weightFeeds(weights: Map<string, Float32Array>, names: readonly string[]): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of names) {
      const w = weights.get(name);
      const shape = this.shapes.get(name);
      if (!w || !shape) throw new Error(`onnx training: no weights for ${name}`);
      feeds[name] = new ort.Tensor('float32', w, shape);
    }
    return feeds;
  }

  /** images: [N, S, S, 3] normalised NHWC, as the tfjs encoder takes them. */
  async forward(images: Float32Array, weights: Map<string, Float32Array>): Promise<EncoderForward> {
    const { batch: N, inputSize: S } = this.spec;
    if (images.length !== N * S * S * 3) throw new Error(`onnx training: ${images.length} image values for batch ${N} at ${S}x${S}`);
    const imagesT = new ort.Tensor('float32', images, [N, S, S, 3]);
    const out = await this.fwd.run({ images: imagesT, ...this.weightFeeds(weights, this.fwd.inputNames.filter((n) => n !== 'images')) });
    const batchStats = new Map<string, { mean: Float32Array; variance: Float32Array }>();
    for (const b of this.graphs.batchNorms) {
      batchStats.set(b.name, { mean: out[`${b.name}.batch_mean`].data as Float32Array, variance: out[`${b.name}.batch_var`].data as Float32Array });
    }
    const saved: Record<string, ort.Tensor> = {};
    for (const s of this.graphs.saved) saved[s] = out[s];
    return { v: out.v.data as Float32Array, batchStats, saved, images: imagesT };
  }

  /** dv = dL/dv [N, D]; returns dL/dparam for every encoder parameter (tfjs layouts). */
  async backward(fw: EncoderForward, dv: Float32Array, weights: Map<string, Float32Array>): Promise<Map<string, Float32Array>> {
    const paramInputs = this.bwd.inputNames.filter((n) => weights.has(n));
    const feeds: Record<string, ort.Tensor> = {
      dv: new ort.Tensor('float32', dv, [this.spec.batch, this.graphs.featureDim]),
      images: fw.images,
      ...fw.saved,
      ...this.weightFeeds(weights, paramInputs),
    };
    const out = await this.bwd.run(feeds);
    return new Map(this.graphs.params.map((p) => [p.name, out[`grad.${p.name}`].data as Float32Array]));
  }

  async release(): Promise<void> {
    await Promise.all([this.fwd.release(), this.bwd.release()]);
  }
}
