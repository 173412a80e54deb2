// One KE-FER training step with the encoder on onnxruntime (`kefer train --runtime onnx`):
//   1. encoder forward in training mode on onnxruntime (trainGraph.ts) -> v, BN batch statistics
//   2. F_n + the KE-FER losses on tfjs with autodiff -> dL/dv and the F_n gradients
//   3. encoder backward on onnxruntime from dL/dv -> every encoder parameter's gradient
//   4. SGD (torch's formula, as sgd.ts) on the encoder weights, held here as plain OIHW arrays, and on
//      F_n's tfjs variables through the shared Sgd; BN running statistics as layers.ts updates them.
// The encoder's weights and momentum live here between steps (no per-step layout conversions); sync()
// writes them back into the tfjs variables and the Sgd before anything reads those (evaluation,
// checkpoints, the resume state).
import type { SoftTargetRows } from '../../losses.js';
import { headStep, updateRunningStats } from '../head.js';
import { readLayout, syncParam } from '../layout.js';
import type { EvalEncoder, StepInputs, StepResult, StepSupport, TrainStep } from '../types.js';
import { onnxEvalEncoder } from './evalEncoder.js';
import { OnnxEncoderTrainer } from './trainSession.js';

export const ONNX_SUPPORTS: StepSupport = { softTargets: true, classWeights: true };

interface EncoderParam {
  name: string;
  shape: number[];
  conv: boolean;
  weight: Float32Array;
  momentum?: Float32Array;
}

export class OnnxTrainStep implements TrainStep {
  readonly runtime = 'onnx';
  readonly supports = ONNX_SUPPORTS;
  private evaluator?: EvalEncoder;

  private constructor(
    private readonly inputs: StepInputs,
    private readonly trainer: OnnxEncoderTrainer,
    private readonly params: EncoderParam[],
  ) {}

  /** Builds the graphs for this encoder and batch, and takes the current weights and momentum. */
  static async create(inputs: StepInputs): Promise<OnnxTrainStep> {
    const { encoder } = inputs;
    const trainer = await OnnxEncoderTrainer.create({ backbone: encoder.name, inputSize: encoder.inputSize, batch: inputs.batch }, { threads: inputs.threads });
    const params: EncoderParam[] = [];
    for (const p of trainer.graphs.params) {
      const v = encoder.params.get(p.name);
      if (!v) throw new Error(`onnx training: the encoder has no parameter ${p.name}`);
      params.push({ name: p.name, shape: p.shape, conv: p.conv, weight: await readLayout(v, p.conv) });
    }
    const step = new OnnxTrainStep(inputs, trainer, params);
    await step.pullMomentum();
    return step;
  }

  /** Momentum buffers from the Sgd (after a resume they exist before the first step). */
  private async pullMomentum(): Promise<void> {
    for (const p of this.params) {
      const b = this.inputs.sgd.buffers.get(`encoder.${p.name}`);
      p.momentum = b ? await readLayout(b, p.conv) : undefined;
    }
  }

  get report() {
    const b = this.inputs.backend;
    return { name: 'onnxruntime', detail: `encoder on onnxruntime-node CPU (${this.inputs.threads ? `${this.inputs.threads} thread(s)` : 'one thread per core'}); F_n + losses on tfjs ${b.name} (${b.detail})` };
  }

  async step(x: Float32Array, labels: number[], lr: number, soft?: SoftTargetRows): Promise<StepResult> {
    const weights = new Map(this.params.map((p) => [p.name, p.weight]));
    const fw = await this.trainer.forward(x, weights);
    const { terms, correct, dv } = await headStep(this.inputs, fw.v, this.trainer.graphs.featureDim, labels, lr, soft);
    const grads = await this.trainer.backward(fw, dv, weights);
    this.sgdUpdate(grads, lr);
    updateRunningStats(this.inputs.encoder, this.trainer.graphs.batchNorms, fw.batchStats);
    return { terms, correct };
  }

  /** torch.optim.SGD: g = grad + wd p; buf = m buf + g (buf = g on the first step); p -= lr buf. */
  private sgdUpdate(grads: Map<string, Float32Array>, lr: number): void {
    const { momentum: m, weightDecay: wd } = this.inputs.sgd;
    for (const p of this.params) {
      const g = grads.get(p.name);
      if (!g) throw new Error(`onnx training: no gradient for ${p.name}`);
      const w = p.weight;
      // One fused pass per tensor (3 separate loops cost ~2.5x as much here).
      if (!p.momentum) {
        const buf = new Float32Array(w.length);
        for (let i = 0; i < w.length; i++) {
          const b = Math.fround(g[i] + wd * w[i]);
          buf[i] = b;
          w[i] -= lr * b;
        }
        p.momentum = buf;
      } else {
        const buf = p.momentum;
        for (let i = 0; i < w.length; i++) {
          const b = Math.fround(m * buf[i] + (g[i] + wd * w[i]));
          buf[i] = b;
          w[i] -= lr * b;
        }
      }
    }
  }

  /** Writes the encoder weights and momentum into the tfjs variables and the Sgd. */
  async sync(): Promise<void> {
    for (const p of this.params) syncParam(this.inputs, p.name, p.shape, p.conv, p.weight, p.momentum);
  }

  /** The synced weights exported as an inference graph (a new session per call: the weights are constants). */
  async evalEncoder(): Promise<EvalEncoder> {
    this.evaluator?.release();
    this.evaluator = await onnxEvalEncoder(this.inputs.encoder, { threads: this.inputs.threads });
    return { ...this.evaluator, release: () => {} };
  }

  async dispose(): Promise<void> {
    this.evaluator?.release();
    await this.trainer.release();
  }
}
