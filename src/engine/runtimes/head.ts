// The head: F_n + the KE-FER losses, on tfjs with autodiff from the encoder's output v, and F_n's SGD. What
// stays on tfjs when a native runtime (onnx, onednn) runs the encoder; also BatchNorm running statistics
// from the native forward's batch statistics, as layers.ts updates them.
import * as tf from '@tensorflow/tfjs-core';
import { keferLoss, softTargets, type SoftTargetRows } from '../losses.js';
import type { Encoder } from '../model/index.js';
import { BN_MOMENTUM } from '../model/layers.js';
import type { StepInputs } from './types.js';

/** F_n + losses from v [N, D]: updates F_n (SGD) and returns the loss terms, the batch's correct count and dL/dv. */
export async function headStep(inputs: StepInputs, v: Float32Array, featureDim: number, labels: number[], lr: number, soft?: SoftTargetRows): Promise<{ terms: number[]; correct: number; dv: Float32Array }> {
  const { transform, sgd, textNorm, loss, batch } = inputs;
  const vVar = tf.variable(tf.tensor2d(v, [batch, featureDim]), true);
  const tParams = [...transform.params];
  const out = tf.tidy(() => {
    const labelsT = tf.tensor1d(labels, 'int32');
    const q = softTargets(soft, batch, textNorm.shape[0]);
    let kept: tf.Tensor[] = [];
    const { grads } = tf.variableGrads(() => {
      const n = transform.apply(vVar);
      const t = keferLoss(vVar, n, textNorm, labelsT, loss, q);
      kept = [tf.keep(tf.stack([t.ls, t.lt, t.lc])), tf.keep(tf.argMax(t.logits, 1))];
      return t.total;
    }, [vVar, ...tParams.map(([, p]) => p)]);
    const named: Record<string, tf.Tensor> = {};
    for (const [name, p] of tParams) named[name] = grads[p.name];
    sgd.step(new Map(tParams), named, lr);
    return [...kept, tf.keep(grads[vVar.name])];
  });
  vVar.dispose();
  const [terms, preds, dv] = await Promise.all(out.map((t) => t.data()));
  tf.dispose(out);
  let correct = 0;
  for (let i = 0; i < batch; i++) if (preds[i] === labels[i]) correct++;
  return { terms: Array.from(terms), correct, dv: dv as Float32Array };
}

/** As layers.ts batchNorm(): running = (1 - momentum) running + momentum batch, unbiased variance. */
export function updateRunningStats(encoder: Encoder, batchNorms: readonly { name: string; count: number }[], stats: Map<string, { mean: Float32Array; variance: Float32Array }>): void {
  tf.tidy(() => {
    for (const b of batchNorms) {
      const s = stats.get(b.name);
      if (!s) throw new Error(`training: no batch statistics for ${b.name}`);
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
