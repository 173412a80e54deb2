// One KE-FER training step with the encoder on onnxruntime (`kefer train --runtime onnx`):
//   1. encoder forward in training mode on onnxruntime (trainGraph.ts) -> v, BN batch statistics
//   2. F_n + the KE-FER losses on tfjs with autodiff -> dL/dv and the F_n gradients
//   3. encoder backward on onnxruntime from dL/dv -> every encoder parameter's gradient
//   4. SGD (torch's formula, as sgd.ts) on the encoder weights, held here as plain OIHW arrays, and on
//      F_n's tfjs variables through the shared Sgd; BN running statistics as layers.ts updates them.
// The encoder's weights and momentum live here between steps (no per-step layout conversions); sync()
// writes them back into the tfjs variables and the Sgd before anything reads those (evaluation,
// checkpoints, the resume state).
import * as tf from '@tensorflow/tfjs-core';
import { keferLoss, type LossOptions } from '../losses.js';
import type { Encoder, Transform } from '../model/index.js';
import { BN_MOMENTUM } from '../model/layers.js';
import { OnnxEncoderTrainer } from '../onnx/trainSession.js';
import type { Sgd } from './sgd.js';

export interface OnnxStepInputs {
  encoder: Encoder;
  transform: Transform;
  sgd: Sgd;
  textNorm: tf.Tensor2D;
  loss: LossOptions;
  batch: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, the physical cores). */
  threads?: number;
}

interface EncoderParam {
  name: string;
  shape: number[];
  conv: boolean;
  weight: Float32Array;
  momentum?: Float32Array;
}

/** tfjs HWIO [kh, kw, in, out] <-> OIHW [out, in, kh, kw]. */
const TO_OIHW = [3, 2, 0, 1];
const TO_HWIO = [2, 3, 1, 0];

export class OnnxTrainStep {
  private constructor(
    private readonly inputs: OnnxStepInputs,
    private readonly trainer: OnnxEncoderTrainer,
    private readonly params: EncoderParam[],
  ) {}

  /** Builds the graphs for this encoder and batch, and takes the current weights and momentum. */
  static async create(inputs: OnnxStepInputs): Promise<OnnxTrainStep> {
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

  /** x: [N, S, S, 3] normalised, augmented images. Returns the loss terms and the batch's correct count. */
  async step(x: Float32Array, labels: number[], lr: number): Promise<{ terms: number[]; correct: number }> {
    const { transform, sgd, textNorm, loss, batch } = this.inputs;
    const weights = new Map(this.params.map((p) => [p.name, p.weight]));
    const fw = await this.trainer.forward(x, weights);

    const D = this.trainer.graphs.featureDim;
    const vVar = tf.variable(tf.tensor2d(fw.v, [batch, D]), true);
    const tParams = [...transform.params];
    const out = tf.tidy(() => {
      const labelsT = tf.tensor1d(labels, 'int32');
      let kept: tf.Tensor[] = [];
      const { grads } = tf.variableGrads(() => {
        const n = transform.apply(vVar);
        const t = keferLoss(vVar, n, textNorm, labelsT, loss);
        kept = [tf.keep(tf.stack([t.ls, t.lt, t.lc])), tf.keep(tf.argMax(t.logits, 1))];
        return t.total;
      }, [vVar, ...tParams.map(([, v]) => v)]);
      const named: Record<string, tf.Tensor> = {};
      for (const [name, v] of tParams) named[name] = grads[v.name];
      sgd.step(new Map(tParams), named, lr);
      return [...kept, tf.keep(grads[vVar.name])];
    });
    vVar.dispose();
    const [terms, preds, dv] = await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);

    const grads = await this.trainer.backward(fw, dv as Float32Array, weights);
    this.sgdUpdate(grads, lr);
    this.updateRunningStats(fw.batchStats);
    let correct = 0;
    for (let i = 0; i < batch; i++) if (preds[i] === labels[i]) correct++;
    return { terms: Array.from(terms), correct };
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

  /** As layers.ts batchNorm(): running = (1 - momentum) running + momentum batch, unbiased variance. */
  private updateRunningStats(stats: Map<string, { mean: Float32Array; variance: Float32Array }>): void {
    const { encoder } = this.inputs;
    tf.tidy(() => {
      for (const b of this.trainer.graphs.batchNorms) {
        const s = stats.get(b.name)!;
        const unbiased = b.count / Math.max(b.count - 1, 1);
        const rMean = encoder.buffers.get(`${b.name}.running_mean`)!;
        const rVar = encoder.buffers.get(`${b.name}.running_var`)!;
        const nbt = encoder.buffers.get(`${b.name}.num_batches_tracked`)!;
        rMean.assign(tf.add(tf.mul(rMean, 1 - BN_MOMENTUM), tf.mul(tf.tensor1d(s.mean), BN_MOMENTUM)));
        rVar.assign(tf.add(tf.mul(rVar, 1 - BN_MOMENTUM), tf.mul(tf.mul(tf.tensor1d(s.variance), unbiased), BN_MOMENTUM)));
        nbt.assign(tf.add(nbt, 1));
      }
    });
  }

  /** Writes the encoder weights and momentum into the tfjs variables and the Sgd. */
  sync(): void {
    const { encoder, sgd } = this.inputs;
    tf.tidy(() => {
      for (const p of this.params) {
        encoder.params.get(p.name)!.assign(fromLayout(p.weight, p.shape, p.conv));
        if (!p.momentum) continue;
        const key = `encoder.${p.name}`;
        const m = fromLayout(p.momentum, p.shape, p.conv);
        const existing = sgd.buffers.get(key);
        if (existing) existing.assign(m);
        else sgd.buffers.set(key, tf.variable(m, false));
      }
    });
  }

  async dispose(): Promise<void> {
    await this.trainer.release();
  }
}

async function readLayout(v: tf.Tensor, conv: boolean): Promise<Float32Array> {
  const t = conv ? tf.transpose(v, TO_OIHW) : v.clone();
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return Float32Array.from(data);
}

function fromLayout(data: Float32Array, shape: number[], conv: boolean): tf.Tensor {
  const t = tf.tensor(data, shape);
  return conv ? tf.transpose(t, TO_HWIO) : t;
}
