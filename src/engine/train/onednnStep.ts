// One KE-FER training step with the encoder on oneDNN (`kefer train --runtime onednn`):
//   1. encoder forward in training mode in the addon (native/dnnl_encoder.cc) -> v, BN batch statistics
//   2. F_n + the KE-FER losses on tfjs with autodiff -> dL/dv, and F_n's SGD (headStep.ts)
//   3. encoder backward and torch's SGD in the addon, which holds the encoder's weights and momentum
//      between steps in its own layouts; BN running statistics here, as layers.ts updates them.
// sync() writes weights and momentum back into the tfjs variables and the Sgd before anything reads
// those (evaluation, checkpoints, the resume state).
import { OnednnEncoderTrainer } from '../onednn/encoderTrainer.js';
import type { SoftTargetRows } from '../losses.js';
import { headStep, readLayout, syncParam, updateRunningStats, type NativeStepInputs } from './headStep.js';

export class OnednnTrainStep {
  private constructor(
    private readonly inputs: NativeStepInputs,
    readonly trainer: OnednnEncoderTrainer,
  ) {}

  /** Builds the addon's encoder for this backbone and batch, and hands it the current weights and momentum. */
  static async create(inputs: NativeStepInputs): Promise<OnednnTrainStep> {
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

  /** x: [N, S, S, 3] normalised, augmented images. Returns the loss terms and the batch's correct count. */
  async step(x: Float32Array, labels: number[], lr: number, soft?: SoftTargetRows): Promise<{ terms: number[]; correct: number }> {
    const fw = this.trainer.forward(x);
    const { terms, correct, dv } = await headStep(this.inputs, fw.v, this.trainer.featureDim, labels, lr, soft);
    this.trainer.backward(dv);
    const { momentum, weightDecay } = this.inputs.sgd;
    this.trainer.sgd(lr, momentum, weightDecay);
    updateRunningStats(this.inputs.encoder, this.trainer.batchNorms, fw.batchStats);
    return { terms, correct };
  }

  sync(): void {
    for (const p of this.trainer.params) syncParam(this.inputs, p.name, p.shape, p.conv, this.trainer.getParam(p.name), this.trainer.getMomentum(p.name));
  }

  async dispose(): Promise<void> {
    this.trainer.release();
  }
}
