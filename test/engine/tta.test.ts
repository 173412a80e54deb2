// Test-time augmentation (kefer eval --tta N): the views, and evaluate() averaging the softmax of the
// plain and mirrored image exactly (checked against two plain evaluations, one on mirrored images).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend/index.js';
import type { ImageCache } from '../../src/engine/data/decode.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { evaluate, type EvalModel } from '../../src/engine/eval/evaluate.js';
import { ttaViews, viewInto } from '../../src/engine/eval/tta.js';
import { l2normalize } from '../../src/engine/losses.js';
import { createEncoder, createTransform } from '../../src/engine/model/index.js';
import { normaliseInto } from '../../src/engine/data/augment.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/engine/model/checkpoint.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { Rng } from '../../src/engine/util/rng.js';

const norm = { mean: IMAGENET_MEAN, std: IMAGENET_STD };
const size = 16;
const per = size * size * 3;

before(async () => {
  await initBackend('wasm');
});

/** An ImageCache over fixed bytes (the boundary evaluate() reads images through). */
function memoryCache(images: Uint8Array[]): ImageCache {
  return {
    size, bytes: images.length * per, clear() {},
    get: async (i) => images[i],
    getBatch: async (idx) => {
      const out = new Uint8Array(idx.length * per);
      idx.forEach((i, j) => out.set(images[i], j * per));
      return out;
    },
  };
}

function mirror(img: Uint8Array): Uint8Array {
  const out = new Uint8Array(per);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out.set(img.subarray((y * size + x) * 3, (y * size + x) * 3 + 3), (y * size + size - 1 - x) * 3);
  return out;
}

test('views: identity, mirror, then shifted crops; 1..10 distinct views, anything else refused', () => {
  const v = ttaViews(10, 48);
  assert.deepEqual(v.slice(0, 3), [{ dx: 0, dy: 0, flip: false }, { dx: 0, dy: 0, flip: true }, { dx: 2, dy: 0, flip: false }]);
  assert.equal(new Set(v.map((x) => JSON.stringify(x))).size, 10);
  assert.throws(() => ttaViews(11, 48), /1\.\.10/);
  assert.throws(() => ttaViews(0, 48), /1\.\.10/);
  const rng = new Rng(2);
  const img = Uint8Array.from({ length: per }, () => rng.int(256));
  const a = new Float32Array(per), b = new Float32Array(per);
  viewInto(img, size, norm, v[0], a, 0);
  normaliseInto(img, size, norm, b, 0);
  assert.deepEqual(a, b);
  viewInto(mirror(img), size, norm, v[1], a, 0);
  assert.deepEqual(a, b, 'the mirror view of a mirrored image is the image');
});

test('evaluate with --tta 2 averages the softmax of the image and its mirror', async () => {
  const classes: Dataset['classes'] = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
  const rng = new Rng(4);
  const images = Array.from({ length: 6 }, () => Uint8Array.from({ length: per }, () => rng.int(256)));
  const ds: Dataset = { format: 'test', root: '/x', classes, samples: images.map((_, i) => ({ id: `s${i}`, path: `s${i}`, label: i % 7, split: 'test' })) };
  const text = standinTextEmbeddings(classes, classes);
  const model: EvalModel = {
    encoder: createEncoder('compact', { seed: 3, inputSize: size }), transform: createTransform(3),
    textNorm: l2normalize(tf.tensor2d(text.matrix, [7, text.dim])), neutralIndex: 6, logitScale: 16, norm, classes,
  };
  const plain = await evaluate(model, ds, memoryCache(images), { batchSize: 4 });
  const once = await evaluate(model, ds, memoryCache(images), { batchSize: 4, tta: 1 });
  assert.deepEqual(once.records, plain.records);
  const mirrored = await evaluate(model, ds, memoryCache(images.map(mirror)), { batchSize: 4 });
  assert.ok(plain.records.some((r, i) => r.probs.some((p, k) => Math.abs(p - mirrored.records[i].probs[k]) > 1e-3)), 'the mirror changes some prediction');
  const tta = await evaluate(model, ds, memoryCache(images), { batchSize: 4, tta: 2 });
  tta.records.forEach((r, i) => {
    r.probs.forEach((p, k) => assert.ok(Math.abs(p - (plain.records[i].probs[k] + mirrored.records[i].probs[k]) / 2) < 2e-4, `sample ${i} class ${k}`));
    assert.equal(r.gap, plain.records[i].gap, 'similarities stay those of the plain view');
  });
});
