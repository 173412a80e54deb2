// One conformance suite for every runtime in the registry (src/engine/runtimes/registry.ts): from the same
// model and batch as the tfjs runtime it must give
//   step       the same loss terms and correct count;
//   gradients  the same change of weights, momentum and BatchNorm running statistics in an SGD step
//              (gradients and weight decay through the runtime's own layouts);
//   eval       per-sample evaluation outputs (probabilities, gap, alignment, v) equal to the tfjs forward
//              to 1e-4, on its inference-mode forward (oneDNN: BatchNorm folded, post-ops fused);
//   resume     after sync(), a runtime created anew from the tfjs model and optimizer continues exactly
//              where the first would have.
// A runtime that cannot run here (no addon, no GPU) is skipped, saying why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { createImageCache } from '../../src/engine/data/decode.js';
import { evaluate, type EvalModel } from '../../src/engine/eval/evaluate.js';
import { DEFAULT_LOSS_OPTIONS, l2normalize, type LossOptions } from '../../src/engine/losses.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/engine/model/checkpoint.js';
import { createEncoder, createTransform, type BackboneName } from '../../src/engine/model/index.js';
import { createTrainStep, RUNTIME_NAMES, RUNTIMES } from '../../src/engine/runtimes/registry.js';
import { Sgd } from '../../src/engine/runtimes/sgd.js';
import type { StepInputs, TrainStep } from '../../src/engine/runtimes/types.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { Rng } from '../../src/engine/util/rng.js';
import { randomArray } from './encoder-grad-helpers.js';
import { tinyTrainData } from './train-helpers.js';

let data: Awaited<ReturnType<typeof tinyTrainData>>;
before(async () => {
  data = await tinyTrainData('kefer-conformance-');
});
after(async () => {
  await rm(data.work, { recursive: true, force: true });
});

interface Setup {
  inputs: StepInputs;
  dispose(): void;
}

/** A model, optimizer and loss from fixed seeds: the same for every runtime. */
function setup(backbone: BackboneName, size: number, batch: number): Setup {
  const classes = data.trainSet.classes;
  const text = standinTextEmbeddings(classes, classes);
  const textNorm = tf.tidy(() => l2normalize(tf.tensor2d(text.matrix, [classes.length, text.dim]))) as tf.Tensor2D;
  const loss: LossOptions = { ...DEFAULT_LOSS_OPTIONS, neutralIndex: classes.indexOf('neutral') };
  const encoder = createEncoder(backbone, { seed: 5, inputSize: size });
  const transform = createTransform(5);
  const sgd = new Sgd(0.9, 5e-4);
  const inputs: StepInputs = { encoder, transform, sgd, textNorm, loss, batch, backend: data.backend, threads: 1 };
  return { inputs, dispose: () => [encoder, transform, sgd, textNorm].forEach((t) => t.dispose()) };
}

function batchOf(size: number, batch: number, seed: number): { x: Float32Array; labels: number[] } {
  const rng = new Rng(seed);
  return { x: randomArray(batch * size * size * 3, rng), labels: Array.from({ length: batch }, (_, i) => i % data.trainSet.classes.length) };
}

/** Every encoder and F_n tensor, BatchNorm buffers and momentum included, after sync(). */
async function state(s: Setup, step: TrainStep): Promise<Map<string, Float32Array>> {
  await step.sync();
  const { encoder, transform, sgd } = s.inputs;
  const out = new Map<string, Float32Array>();
  for (const [prefix, m] of [['encoder.', encoder.params], ['buffer.', encoder.buffers], ['', transform.params], ['momentum.', sgd.buffers]] as const) {
    for (const [k, v] of m) out.set(prefix + k, (await v.data()) as Float32Array);
  }
  return out;
}

/** Worst |a - b| over every tensor of `a`, and which tensor. */
function worstDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { diff: number; name: string } {
  let diff = 0;
  let name = '';
  for (const [k, x] of a) {
    const y = b.get(k);
    assert.ok(y, `${k} is missing`);
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      if (d > diff) [diff, name] = [d, k];
    }
  }
  return { diff, name };
}

const LR = 0.01;

// Sizes that leave at least 4x4 positions per image in the last stage: smaller ones make training-mode
// BatchNorm there ill-conditioned, and two float32 implementations drift apart (onnxTrain.test.ts).
const SHAPES: Array<{ backbone: BackboneName; size: number; batch: number }> = [
  { backbone: 'compact', size: 32, batch: 8 },
  // ResNet-18's max-pool, 1x1 downsampling and residual adds.
  { backbone: 'resnet18', size: 80, batch: 8 },
];

for (const name of RUNTIME_NAMES) {
  const availability = RUNTIMES[name].available();
  const skip = availability.ok ? false : `${name} cannot run here: ${availability.why}`;
  if (skip) console.log(`# SKIP runtime conformance for ${name}: ${skip}`);
  describe(`runtime ${name}`, { skip }, () => {
    for (const shape of SHAPES) {
      const what = `${shape.backbone} @${shape.size} b${shape.batch}`;
      test(`${what}: step and gradients agree with tfjs (loss terms; the change of weights, momentum and BN statistics)`, async () => {
        const [ref, got] = [setup(shape.backbone, shape.size, shape.batch), setup(shape.backbone, shape.size, shape.batch)];
        const [a, b] = [await createTrainStep('tfjs', ref.inputs), await createTrainStep(name, got.inputs)];
        try {
          const start = await state(ref, a);
          // One step from the same weights and batch: the same loss terms and correct count, and the same change
          // of every weight, momentum (its first value: gradient + weight decay) and BatchNorm statistic, to 3%
          // of that change's norm. Float32 noise grows towards the input: the loss's gradient is nearly the
          // same for every sample of a class, and each BatchNorm backward subtracts its batch mean (measured:
          // conv1's gradient 2.7% apart in max-abs between tfjs and oneDNN, layer4 1e-5).
          const { x, labels } = batchOf(shape.size, shape.batch, 1);
          const [ra, rb] = [await a.step(x, labels, LR), await b.step(x, labels, LR)];
          for (let k = 0; k < 3; k++) assert.ok(Math.abs(ra.terms[k] - rb.terms[k]) < 2e-4 * Math.max(1, Math.abs(ra.terms[k])), `term ${k}: tfjs ${ra.terms[k]}, ${name} ${rb.terms[k]}`);
          assert.equal(rb.correct, ra.correct, 'correct count');
          const [wa, wb] = [await state(ref, a), await state(got, b)];
          let changed = 0;
          for (const [k, after] of wa) {
            const other = wb.get(k);
            assert.ok(other, `${name} has no ${k} after sync()`);
            const before = start.get(k);
            let d2 = 0, c2 = 0;
            for (let i = 0; i < after.length; i++) {
              d2 += (after[i] - other[i]) ** 2;
              c2 += (after[i] - (before?.[i] ?? 0)) ** 2;
            }
            if (c2 > 0) changed++;
            assert.ok(Math.sqrt(d2) <= 3e-2 * Math.sqrt(c2) + 1e-7, `${k}: ${name}'s change differs from tfjs's by ${Math.sqrt(d2 / Math.max(c2, 1e-30))} of its norm`);
          }
          assert.ok(changed > wa.size / 2, `the step changed the model (${changed} of ${wa.size} tensors)`);
          // A second step goes on from weights that differ by float noise, which the logit scale (100)
          // amplifies: its loss terms to 1%.
          const next = batchOf(shape.size, shape.batch, 2);
          const [sa, sb] = [await a.step(next.x, next.labels, LR), await b.step(next.x, next.labels, LR)];
          for (let k = 0; k < 3; k++) assert.ok(Math.abs(sa.terms[k] - sb.terms[k]) < 1e-2 * Math.max(1, Math.abs(sa.terms[k])), `step 2 term ${k}: tfjs ${sa.terms[k]}, ${name} ${sb.terms[k]}`);
        } finally {
          await Promise.all([a.dispose(), b.dispose()]);
          ref.dispose();
          got.dispose();
        }
      });

      test(`${what}: evaluation on its inference forward equals the tfjs forward per sample to 1e-4`, async () => {
        const s = setup(shape.backbone, shape.size, shape.batch);
        const step = await createTrainStep(name, s.inputs);
        try {
          // Trained BatchNorm statistics and affine terms, so folding them into the convolutions matters.
          for (const seed of [3, 4, 5]) {
            const { x, labels } = batchOf(shape.size, shape.batch, seed);
            await step.step(x, labels, LR);
          }
          await step.sync();
          const { encoder, transform, textNorm, loss } = s.inputs;
          const model: EvalModel = { encoder, transform, textNorm, neutralIndex: loss.neutralIndex, logitScale: loss.logitScale, norm: { mean: IMAGENET_MEAN, std: IMAGENET_STD }, classes: [...data.valSet.classes] };
          const images = createImageCache(data.valSet, shape.size);
          const want = await evaluate(model, data.valSet, images, { keepEmbeddings: true, batchSize: 6 });
          const ev = await step.evalEncoder();
          const got = await evaluate({ ...model, forward: ev.forward }, data.valSet, images, { keepEmbeddings: true, batchSize: ev.batchSize });
          ev.release();
          assert.equal(got.records.length, data.valSet.samples.length);
          let worst = 0;
          got.records.forEach((r, i) => {
            const w = want.records[i];
            assert.equal(r.id, w.id);
            assert.equal(r.pred, w.pred, `${r.id}: predicted class`);
            assert.equal(r.align === null, w.align === null, `${r.id}: alignment defined on both`);
            for (const [p, q] of [[r.gap, w.gap], [r.align ?? 0, w.align ?? 0], ...r.probs.map((v, k) => [v, w.probs[k]])]) worst = Math.max(worst, Math.abs(p - q));
          });
          assert.ok(worst < 1e-4, `a per-sample probability, gap or alignment differs by ${worst}`);
          // v to 1e-4 of each sample's largest value (float32 sums of a few thousand terms).
          const D = encoder.featureDim;
          for (let i = 0; i < got.records.length; i++) {
            let err = 0, scale = 1;
            for (let k = i * D; k < (i + 1) * D; k++) [err, scale] = [Math.max(err, Math.abs(want.embeddings![k] - got.embeddings![k])), Math.max(scale, Math.abs(want.embeddings![k]))];
            assert.ok(err < 1e-4 * scale, `${got.records[i].id}: v differs by ${err} (largest value ${scale})`);
          }
          assert.ok(Math.abs(got.summary.accuracy - want.summary.accuracy) < 1e-12 && Math.abs(got.summary.losses.ls - want.summary.losses.ls) < 1e-4, 'same summary');
        } finally {
          await step.dispose();
          s.dispose();
        }
      });
    }

    test('resume: a runtime created from the synced model and optimizer continues exactly where the first would', async () => {
      const [s1, s2] = [setup('compact', 16, 8), setup('compact', 16, 8)];
      const first = await createTrainStep(name, s1.inputs);
      let second: TrainStep | undefined;
      try {
        for (const seed of [6, 7]) {
          const { x, labels } = batchOf(16, 8, seed);
          await first.step(x, labels, LR);
        }
        // The second model takes the first's synced state, as a resume reads it from checkpoints/last.
        await first.sync();
        copyState(s1, s2);
        second = await createTrainStep(name, s2.inputs);
        const { x, labels } = batchOf(16, 8, 8);
        const [r1, r2] = [await first.step(x, labels, LR), await second.step(x, labels, LR)];
        assert.deepEqual(r2.terms.map((t) => t.toPrecision(6)), r1.terms.map((t) => t.toPrecision(6)), 'same loss terms on the next step');
        const { diff, name: worst } = worstDiff(await state(s1, first), await state(s2, second));
        assert.ok(diff < 1e-5, `${worst} differs by ${diff} after the resumed step`);
      } finally {
        await first.dispose();
        await second?.dispose();
        s1.dispose();
        s2.dispose();
      }
    });
  });
}

/** Weights, BatchNorm buffers and momentum of `from` into `to` (a checkpoint's round trip, in memory). */
function copyState(from: Setup, to: Setup): void {
  tf.tidy(() => {
    for (const [k, v] of from.inputs.encoder.params) to.inputs.encoder.params.get(k)!.assign(v);
    for (const [k, v] of from.inputs.encoder.buffers) to.inputs.encoder.buffers.get(k)!.assign(v);
    for (const [k, v] of from.inputs.transform.params) to.inputs.transform.params.get(k)!.assign(v);
    for (const [k, v] of from.inputs.sgd.buffers) to.inputs.sgd.buffers.set(k, tf.variable(v.clone(), false));
  });
}
