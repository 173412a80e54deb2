// One KE-FER training step entirely on the GPU (`kefer train --runtime cuda`, native/cuda_encoder.cu):
// encoder forward (cuDNN), F_n + Ls/Lt/Lc and their gradients, encoder backward, and torch's SGD over the
// encoder and F_n as one kernel, with weights, momentum and BatchNorm running statistics held on the
// device. The host uploads the batch and reads back the loss terms only. sync() copies weights, momentum
// and running statistics into the tfjs model and the Sgd before anything reads those (evaluation,
// checkpoints, the resume state), so checkpoints and resume are the same as every other runtime's.
import * as tf from '@tensorflow/tfjs-core';
import { fromLayout, readLayout, syncParam } from '../layout.js';
import type { EvalEncoder, StepInputs, StepResult, StepSupport, TrainStep } from '../types.js';
import { describeCuda, type CudaPrecision } from './addon.js';
import { CudaEncoderTrainer, HEAD_PARAMS } from './encoderTrainer.js';
import { cudaEvalView } from './evalEncoder.js';

/** The addon computes Ls on one-hot labels without class weights (native/cuda_encoder.cu). */
export const CUDA_SUPPORTS: StepSupport = { softTargets: false, classWeights: false };

export class CudaTrainStep implements TrainStep {
  readonly runtime = 'cuda';
  readonly supports = CUDA_SUPPORTS;
  /** Optimizer steps since the last sync(): num_batches_tracked advances by this much there. */
  private pendingBatches = 0;
  /** amp steps the loss scaler skipped (inf/NaN gradients), for the run log. */
  skippedSteps = 0;

  private constructor(
    private readonly inputs: StepInputs,
    readonly trainer: CudaEncoderTrainer,
  ) {}

  static async create(inputs: StepInputs): Promise<CudaTrainStep> {
    const { encoder, transform, sgd, textNorm, loss } = inputs;
    const [K, D] = textNorm.shape;
    const fc1 = transform.params.get('MLP.fc1.weight');
    if (!fc1) throw new Error('cuda training: F_n has no MLP.fc1.weight');
    const trainer = CudaEncoderTrainer.create(
      { backbone: encoder.name, inputSize: encoder.inputSize, batch: inputs.batch },
      { precision: inputs.precision as CudaPrecision | undefined, head: { text: (await textNorm.data()) as Float32Array, classes: K, hidden: fc1.shape[1] ?? 128, loss } },
    );
    if (trainer.featureDim !== D) throw new Error(`cuda training: the encoder gives ${trainer.featureDim}-d features, the text embeddings are ${D}-d`);
    const n = trainer.native;
    for (const p of trainer.params) {
      const v = encoder.params.get(p.name);
      if (!v) throw new Error(`cuda training: the encoder has no parameter ${p.name}`);
      n.setParam(p.name, await readLayout(v, p.conv));
      // After a resume the momentum buffers exist before the first step.
      const b = sgd.buffers.get(`encoder.${p.name}`);
      n.setMomentum(p.name, b ? await readLayout(b, p.conv) : null);
    }
    for (const name of HEAD_PARAMS) {
      n.setParam(name, await readLayout(transform.params.get(name)!, false));
      const b = sgd.buffers.get(name);
      n.setMomentum(name, b ? await readLayout(b, false) : null);
    }
    for (const b of trainer.batchNorms) {
      for (const s of ['running_mean', 'running_var']) n.setBuffer(`${b.name}.${s}`, await readLayout(encoder.buffers.get(`${b.name}.${s}`)!, false));
    }
    return new CudaTrainStep(inputs, trainer);
  }

  get report() {
    return { name: 'cuda', detail: `encoder, F_n and losses on CUDA: ${describeCuda(this.trainer.info())}` };
  }

  async step(x: Float32Array, labels: number[], lr: number): Promise<StepResult> {
    const { momentum, weightDecay } = this.inputs.sgd;
    const r = this.trainer.native.trainStep(x, Int32Array.from(labels), lr, momentum, weightDecay);
    if (r[5]) this.skippedSteps++;
    this.pendingBatches++;
    return { terms: [r[0], r[1], r[2]], correct: r[3] };
  }

  async sync(): Promise<void> {
    const n = this.trainer.native;
    const { encoder, transform, sgd } = this.inputs;
    for (const p of this.trainer.params) syncParam(this.inputs, p.name, p.shape, p.conv, n.getParam(p.name), n.getMomentum(p.name));
    tf.tidy(() => {
      for (const name of HEAD_PARAMS) {
        const v = transform.params.get(name)!;
        v.assign(fromLayout(n.getParam(name), v.shape, false));
        const m = n.getMomentum(name);
        if (!m) continue;
        const t = fromLayout(m, v.shape, false);
        const existing = sgd.buffers.get(name);
        if (existing) existing.assign(t);
        else sgd.buffers.set(name, tf.variable(t, false));
      }
      for (const b of this.trainer.batchNorms) {
        for (const s of ['running_mean', 'running_var']) encoder.buffers.get(`${b.name}.${s}`)!.assign(tf.tensor1d(n.getBuffer(`${b.name}.${s}`)));
        const nbt = encoder.buffers.get(`${b.name}.num_batches_tracked`)!;
        nbt.assign(tf.add(nbt, this.pendingBatches));
      }
    });
    this.pendingBatches = 0;
  }

  /** The encoder for validation: the addon's inference forward on its current weights, in batches of the training batch. */
  async evalEncoder(): Promise<EvalEncoder> {
    return cudaEvalView(this.inputs.encoder, this.trainer.native, this.inputs.batch, this.trainer.featureDim);
  }

  async dispose(): Promise<void> {
    this.trainer.release();
  }
}
