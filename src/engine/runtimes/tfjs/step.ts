// The tfjs runtime: the whole model (encoder, F_n, losses) on the active tfjs backend with autodiff, on this
// thread or data-parallel over worker threads (parallel.ts, wasm only). The tfjs variables are the weights,
// so sync() has nothing to copy.
import * as tf from '@tensorflow/tfjs-core';
import { keferLoss, softTargets, type SoftTargetRows } from '../../losses.js';
import type { EvalEncoder, StepInputs, StepResult, StepSupport, TrainStep } from '../types.js';
import { paramsOf, startParallel, type ParallelTrainer } from './parallel.js';

export const TFJS_SUPPORTS: StepSupport = { softTargets: true, classWeights: true };

/** The encoder's tfjs inference forward as evaluate() takes it. */
export function tfjsEvalEncoder(encoder: StepInputs['encoder'], batchSize = 100): EvalEncoder {
  const S = encoder.inputSize;
  return {
    forward: async (x, n) => {
      const v = tf.tidy(() => encoder.apply(tf.tensor4d(x, [n, S, S, 3]), false));
      const data = (await v.data()) as Float32Array;
      v.dispose();
      return data;
    },
    batchSize,
    detail: `tfjs ${tf.getBackend()}`,
    release: () => {},
  };
}

export class TfjsTrainStep implements TrainStep {
  readonly runtime = 'tfjs';
  readonly supports = TFJS_SUPPORTS;
  private readonly params: Map<string, tf.Variable>;

  private constructor(
    private readonly inputs: StepInputs,
    private readonly parallel?: ParallelTrainer,
  ) {
    this.params = paramsOf(inputs.encoder, inputs.transform);
  }

  static async create(inputs: StepInputs): Promise<TfjsTrainStep> {
    const workers = inputs.workers ?? 1;
    const par = workers > 1 ? await startParallel({ workers, encoder: inputs.encoder, transform: inputs.transform, sgd: inputs.sgd, textNorm: inputs.textNorm, batchSize: inputs.batch, loss: inputs.loss }) : undefined;
    return new TfjsTrainStep(inputs, par);
  }

  get report() {
    const b = this.inputs.backend;
    return this.parallel ? { name: b.name, detail: `${b.detail}; data-parallel over ${this.inputs.workers} replicas` } : b;
  }

  async step(x: Float32Array, labels: number[], lr: number, soft?: SoftTargetRows): Promise<StepResult> {
    if (this.parallel) {
      const r = await this.parallel.step(x, labels, lr, soft);
      return { terms: r.terms, correct: r.correct };
    }
    return this.localStep(x, labels, lr, soft);
  }

  /**
   * One optimizer step on this thread. Values are read back with `await data()` after the step: WebGPU in
   * Node has no synchronous read (no OffscreenCanvas, no blocking buffer map).
   */
  private async localStep(x: Float32Array, labelsArr: number[], lr: number, soft?: SoftTargetRows): Promise<StepResult> {
    const { encoder, transform, textNorm, loss, sgd, batch: bs } = this.inputs;
    const size = encoder.inputSize;
    const out = tf.tidy(() => {
      const xb = tf.tensor4d(x, [bs, size, size, 3]);
      const labels = tf.tensor1d(labelsArr, 'int32');
      const q = softTargets(soft, bs, textNorm.shape[0]);
      let kept: tf.Tensor[] = [];
      const { grads } = tf.variableGrads(() => {
        const v = encoder.apply(xb, true);
        const t = keferLoss(v, transform.apply(v), textNorm, labels, loss, q);
        kept = [tf.keep(tf.stack([t.ls, t.lt, t.lc])), tf.keep(tf.argMax(t.logits, 1))];
        return t.total;
      }, [...this.params.values()]);
      const named: Record<string, tf.Tensor> = {};
      for (const [name, v] of this.params) named[name] = grads[v.name];
      sgd.step(this.params, named, lr);
      return kept;
    });
    const [terms, preds] = await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);
    let correct = 0;
    for (let i = 0; i < bs; i++) if (preds[i] === labelsArr[i]) correct++;
    return { terms: Array.from(terms), correct };
  }

  async sync(): Promise<void> {}

  async evalEncoder(): Promise<EvalEncoder> {
    return tfjsEvalEncoder(this.inputs.encoder);
  }

  async dispose(): Promise<void> {
    await this.parallel?.close();
  }
}
