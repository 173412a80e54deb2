// One KE-FER training step with the encoder on oneDNN (`kefer train --runtime onednn`):
//   1. encoder forward in training mode in the addon (native/dnnl_encoder.cc) -> v, BN batch statistics
//   2. the head (F_n + the KE-FER losses) on tfjs with autodiff -> dL/dv, and F_n's SGD (../head.ts)
//   3. encoder backward and torch's SGD in the addon, which holds the encoder's weights and momentum
//      between steps in its own layouts; BN running statistics here, as layers.ts updates them.
// Validation runs on the same addon in inference mode (inference.ts).
import type { SoftTargetRows } from '../../losses.js';
import { headStep, updateRunningStats } from '../head.js';
import { readLayout, syncParam } from '../layout.js';
import type { EvalEncoder, StepInputs, StepResult, StepSupport, TrainStep } from '../types.js';
import { OnednnEncoderTrainer } from './encoderTrainer.js';
import { OnednnEvaluator } from './inference.js';

export const ONEDNN_SUPPORTS: StepSupport = { softTargets: true, classWeights: true };

export class OnednnTrainStep implements TrainStep {
  readonly runtime = 'onednn';
  readonly supports = ONEDNN_SUPPORTS;
  private evaluator?: OnednnEvaluator;

  private constructor(
    private readonly inputs: StepInputs,
    readonly trainer: OnednnEncoderTrainer,
  ) {}

  /** Builds the addon's encoder for this backbone and batch, and hands it the current weights and momentum. */
  static async create(inputs: StepInputs): Promise<OnednnTrainStep> {
    const { encoder, sgd } = inputs;
    const trainer = OnednnEncoderTrainer.create({ backbone: encoder.name, inputSize: encoder.inputSize, batch: inputs.batch }, { threads: inputs.threads, convolution: inputs.convolution });
    for (const p of trainer.params) {
      const v = encoder.params.get(p.name);
      if (!v) throw new Error(`onednn training: the encoder has no parameter ${p.name}`);
      // After a resume the momentum buffers exist before the first step.
      const b = sgd.buffers.get(`encoder.${p.name}`);
      trainer.setParam(p.name, await readLayout(v, p.conv), b ? await readLayout(b, p.conv) : null);
    }
    return new OnednnTrainStep(inputs, trainer);
  }

  get report() {
    const i = this.trainer.info();
    const b = this.inputs.backend;
    return { name: 'onednn', detail: `encoder on oneDNN ${i.version} (convolutions ${this.inputs.convolution ?? 'auto'}: ${i.convolution}; ISA ${i.isa}; ${i.threads} thread(s)); F_n + losses on tfjs ${b.name} (${b.detail})` };
  }

  async step(x: Float32Array, labels: number[], lr: number, soft?: SoftTargetRows): Promise<StepResult> {
    const fw = this.trainer.forward(x);
    const { terms, correct, dv } = await headStep(this.inputs, fw.v, this.trainer.featureDim, labels, lr, soft);
    this.trainer.backward(dv);
    const { momentum, weightDecay } = this.inputs.sgd;
    this.trainer.sgd(lr, momentum, weightDecay);
    updateRunningStats(this.inputs.encoder, this.trainer.batchNorms, fw.batchStats);
    return { terms, correct };
  }

  async sync(): Promise<void> {
    for (const p of this.trainer.params) syncParam(this.inputs, p.name, p.shape, p.conv, this.trainer.getParam(p.name), this.trainer.getMomentum(p.name));
  }

  /** Inference-mode oneDNN encoder on the synced weights; built once, its weights read again each call. */
  async evalEncoder(): Promise<EvalEncoder> {
    // Validation follows the training's convolution choice: Winograd ('auto') where training used it.
    this.evaluator ??= new OnednnEvaluator(this.inputs.encoder, { threads: this.inputs.threads, algorithm: this.inputs.convolution ?? 'auto' });
    await this.evaluator.load();
    // dispose() frees it with the runtime.
    return { ...this.evaluator.view(), release: () => {} };
  }

  async dispose(): Promise<void> {
    this.evaluator?.release();
    this.trainer.release();
  }
}
