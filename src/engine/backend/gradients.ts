// All of tfjs-core's gradients, with Sum's and Mean's ones tensor made by the Fill kernel instead of
// `ones(x.shape)`: tfjs builds that in JavaScript (a fresh Float32Array the size of x, filled, then
// copied into the backend) on every backward pass. For the head retrainer that was ~10% of its CPU
// time (the loss reduces [512, 512] tensors eight times a step); BatchNorm's means in the encoders do
// the same over whole activations. Same ops otherwise (dy * 1, then / n for Mean), so the gradients
// are bit-identical (test/engine/gradients.test.ts). Broadcasting dy with tf.broadcastTo instead was
// measured slower on wasm (its Tile kernel).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';

/** dy reshaped to x's rank (reduced axes kept as 1) times ones of x's shape, as tfjs-core computes it. */
function broadcastDy(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const expanded = x.shape.slice();
  for (const a of axes) expanded[a] = 1;
  return tf.mul(tf.reshape(dy, expanded), tf.fill(x.shape, 1, 'float32'));
}

export const sumGrad: tf.GradConfig = {
  kernelName: tf.Sum,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const derX = broadcastDy(dy as tf.Tensor, x, (attrs as unknown as tf.SumAttrs).axis);
    return { x: () => derX };
  },
};

export const meanGrad: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const axes = tf.util.parseAxisParam((attrs as unknown as tf.MeanAttrs).axis, x.shape);
    const reduceSize = axes.reduce((n, a) => n * x.shape[a], 1);
    return { x: () => tf.div(broadcastDy(dy as tf.Tensor, x, axes), reduceSize) };
  },
};

tf.registerGradient(sumGrad);
tf.registerGradient(meanGrad);
