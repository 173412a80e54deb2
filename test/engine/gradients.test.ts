// The engine's Sum and Mean gradients (src/engine/backend/gradients.ts: dy broadcast instead of
// multiplied by a JS-built ones tensor) are registered, and give exactly tfjs-core's own gradients.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { meanGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Mean_grad.js';
import { sumGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Sum_grad.js';
import { initBackend } from '../../src/engine/backend/index.js';
import { meanGrad, sumGrad } from '../../src/engine/backend/gradients.js';
import { Rng } from '../../src/engine/util/rng.js';

before(async () => {
  await initBackend('wasm');
});

const rng = new Rng(17);
const rand = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);

test('the engine registers its Sum and Mean gradients', () => {
  assert.equal(tf.getGradient(tf.Sum)?.gradFunc, sumGrad.gradFunc);
  assert.equal(tf.getGradient(tf.Mean)?.gradFunc, meanGrad.gradFunc);
});

const CASES: Array<{ shape: number[]; axis: number | number[] }> = [
  { shape: [5, 7], axis: 1 }, { shape: [5, 7], axis: 0 }, { shape: [5, 7], axis: [0, 1] },
  { shape: [2, 3, 4, 6], axis: [0, 1, 2] }, { shape: [2, 3, 4, 6], axis: -1 }, { shape: [9], axis: 0 },
];

for (const [name, ours, theirs] of [['Sum', sumGrad, sumGradConfig], ['Mean', meanGrad, meanGradConfig]] as const) {
  test(`${name} gradient equals tfjs-core's exactly, for every reduction shape`, () => {
    for (const c of CASES) {
      tf.tidy(() => {
        const x = rand(c.shape);
        const attrs = { axis: c.axis, keepDims: false } as unknown as tf.NamedAttrMap;
        const outShape = c.shape.filter((_, i) => ![c.axis].flat().map((a) => (a < 0 ? a + c.shape.length : a)).includes(i));
        const dy = rand(outShape);
        const a = ours.gradFunc(dy, [x], attrs).x() as tf.Tensor;
        const b = theirs.gradFunc(dy, [x], attrs).x() as tf.Tensor;
        assert.deepEqual(a.shape, c.shape);
        assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()), `${name} over ${JSON.stringify(c)}`);
      });
    }
  });
}
