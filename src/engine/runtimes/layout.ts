// Encoder weights between the tfjs model (conv HWIO) and the native runtimes (conv OIHW, BN [C]), and the
// write-back of a runtime's weights and momentum into the tfjs variables and the Sgd (TrainStep.sync).
import * as tf from '@tensorflow/tfjs-core';
import type { StepInputs } from './types.js';

/** tfjs HWIO [kh, kw, in, out] <-> OIHW [out, in, kh, kw]. */
const TO_OIHW = [3, 2, 0, 1];
const TO_HWIO = [2, 3, 1, 0];

/** A tfjs encoder tensor as the native runtimes take it (conv weights OIHW), as a fresh array. */
export async function readLayout(v: tf.Tensor, conv: boolean): Promise<Float32Array> {
  const t = conv ? tf.transpose(v, TO_OIHW) : v.clone();
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return Float32Array.from(data);
}

export function fromLayout(data: Float32Array, shape: number[], conv: boolean): tf.Tensor {
  const t = tf.tensor(data, shape);
  return conv ? tf.transpose(t, TO_HWIO) : t;
}

/** Writes one encoder parameter and its momentum (when there is one) into the tfjs variables and the Sgd. */
export function syncParam(inputs: Pick<StepInputs, 'encoder' | 'sgd'>, name: string, shape: number[], conv: boolean, weight: Float32Array, momentum: Float32Array | null | undefined): void {
  const { encoder, sgd } = inputs;
  tf.tidy(() => {
    encoder.params.get(name)!.assign(fromLayout(weight, shape, conv));
    if (!momentum) return;
    const key = `encoder.${name}`;
    const m = fromLayout(momentum, shape, conv);
    const existing = sgd.buffers.get(key);
    if (existing) existing.assign(m);
    else sgd.buffers.set(key, tf.variable(m, false));
  });
}
