// Shared by the native-runtime tests (onnxruntime, oneDNN): a runtime's encoder forward/backward against
// tfjs autodiff on the pure-JS cpu backend (an independent implementation), and a runtime's training run
// against a tfjs one, including an exact resume.
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Dataset } from '../../src/engine/data/types.js';
import type { BackendReport, EngineEvent } from '../../src/engine/events.js';
import { createEncoder, type BackboneName } from '../../src/engine/model/index.js';
import { OnnxEncoderTrainer } from '../../src/engine/runtimes/onnx/trainSession.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { loadCheckpoint } from '../../src/engine/model/checkpoint.js';
import { train, type TrainRuntime } from '../../src/engine/train/trainer.js';
import { Rng } from '../../src/engine/util/rng.js';
import { maxAbsDiff, snapshot, TINY_TRAIN } from './train-helpers.js';

export function randomArray(n: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** What a runtime computes from images [N, S, S, 3], dL/dv and the weights (conv OIHW): v and every gradient (OIHW). */
export type EncoderRunner = (spec: { backbone: BackboneName; inputSize: number; batch: number }, images: Float32Array, upstream: Float32Array, weights: Map<string, Float32Array>) => Promise<{ v: Float32Array; grads: Map<string, Float32Array> }>;

/** The onnxruntime training graphs (src/engine/runtimes/onnx/trainGraph.ts) on one thread. */
export const onnxRunner: EncoderRunner = async (spec, images, upstream, weights) => {
  const trainer = await OnnxEncoderTrainer.create(spec, { threads: 1 });
  const fw = await trainer.forward(images, weights);
  const grads = await trainer.backward(fw, upstream, weights);
  await trainer.release();
  return { v: fw.v, grads };
};

/** tfjs autodiff on the pure-JS cpu backend: the independent reference. */
export const tfjsCpuRunner: EncoderRunner = async (spec, images, upstream, weights) => {
  const { backbone, inputSize: size, batch } = spec;
  const prev = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    const enc = createEncoder(backbone, { seed: 5, inputSize: size });
    for (const [k, v] of enc.params) {
      const s = v.shape as number[];
      const w = tf.tensor(weights.get(k)!, v.rank === 4 ? [s[3], s[2], s[0], s[1]] : s);
      v.assign(v.rank === 4 ? tf.transpose(w, [2, 3, 1, 0]) : w);
    }
    const x = tf.tensor4d(images, [batch, size, size, 3]);
    const r = tf.tensor2d(upstream, [batch, 512]);
    let v: Float32Array = new Float32Array();
    const { grads } = tf.variableGrads(() => {
      const out = enc.apply(x, true);
      v = out.dataSync() as Float32Array;
      return tf.sum(tf.mul(out, r)) as tf.Scalar;
    }, [...enc.params.values()]);
    const named = new Map([...enc.params].map(([k, p]) => {
      const g = grads[p.name];
      return [k, (g.rank === 4 ? tf.transpose(g, [3, 2, 0, 1]) : g).dataSync() as Float32Array];
    }));
    enc.dispose();
    return { v, grads: named };
  } finally {
    await tf.setBackend(prev);
  }
};

/**
 * Worst max-abs error over all gradients, relative to each gradient's own max-abs value, the worst
 * norm-relative error (|a - b| / |b|), and v's max-abs error, of `run` against `reference` (default: tfjs
 * autodiff on the cpu backend) from the same weights.
 */
export async function compareEncoderGradients(backbone: BackboneName, size: number, batch: number, run: EncoderRunner, reference: EncoderRunner = tfjsCpuRunner): Promise<{ worst: number; name: string; vErr: number; worstNorm: number }> {
  const rng = new Rng(7);
  const images = randomArray(batch * size * size * 3, rng);
  const upstream = randomArray(batch * 512, rng, 0.1);
  const spec = { backbone, inputSize: size, batch };
  const init = createEncoder(backbone, { seed: 5, inputSize: size });
  const weights = new Map<string, Float32Array>();
  for (const [k, v] of init.params) weights.set(k, tf.tidy(() => (v.rank === 4 ? tf.transpose(v, [3, 2, 0, 1]) : v).dataSync() as Float32Array));
  init.dispose();
  const want = await reference(spec, images, upstream, weights);
  const got = await run(spec, images, upstream, weights);
  let vErr = 0;
  for (let i = 0; i < want.v.length; i++) vErr = Math.max(vErr, Math.abs(want.v[i] - got.v[i]));
  let worst = 0;
  let worstNorm = 0;
  let name = '';
  for (const [k, w] of want.grads) {
    const have = got.grads.get(k);
    assert.ok(have, `no gradient for ${k}`);
    assert.equal(have.length, w.length, k);
    let err = 0;
    let scale = 0;
    let d2 = 0;
    let w2 = 0;
    for (let i = 0; i < w.length; i++) {
      err = Math.max(err, Math.abs(w[i] - have[i]));
      scale = Math.max(scale, Math.abs(w[i]));
      d2 += (w[i] - have[i]) ** 2;
      w2 += w[i] ** 2;
    }
    const rel = err / Math.max(scale, 1e-12);
    if (rel > worst) { worst = rel; name = k; }
    worstNorm = Math.max(worstNorm, Math.sqrt(d2 / Math.max(w2, 1e-30)));
  }
  assert.equal(got.grads.size, want.grads.size, 'one gradient per encoder parameter');
  return { worst, name, vErr, worstNorm };
}

type Model = Awaited<ReturnType<typeof loadCheckpoint>>;
function weightsOf(m: Model): Map<string, Float32Array> {
  return new Map([...snapshot(m.encoder.params, 'encoder.'), ...snapshot(m.encoder.buffers, 'buffer.'), ...snapshot(m.transform.params)]);
}

/**
 * Trains TINY_TRAIN with tfjs and with `runtime` from the same weights: same first-step losses, close
 * weights after 2 epochs (running statistics included), and a run cancelled mid-epoch then resumed ends
 * where the uninterrupted run did.
 */
export async function checkRuntimeTrainsLikeTfjs(runtime: Exclude<TrainRuntime, 'auto' | 'tfjs'>, data: { backend: BackendReport; work: string; trainSet: Dataset; valSet: Dataset }): Promise<void> {
  const { backend, work, trainSet, valSet } = data;
  const tiny = TINY_TRAIN;
  const text = standinTextEmbeddings(trainSet.classes, trainSet.classes);
  const base = { train: trainSet, val: valSet, valDescription: 'valid', text, backend, diagnose: 'none' as const };
  const steps = (events: EngineEvent[]) => events.flatMap((e) => (e.type === 'step' ? [e] : []));
  const dir = (name: string) => path.join(work, `${runtime}-${name}`);

  const tfjsEvents: EngineEvent[] = [];
  await train({ ...tiny, runtime: 'tfjs' }, { ...base, outDir: dir('tfjs'), onEvent: (e) => tfjsEvents.push(e) });
  const nativeEvents: EngineEvent[] = [];
  const full = await train({ ...tiny, runtime, onnxThreads: 1 }, { ...base, outDir: dir('full'), onEvent: (e) => nativeEvents.push(e) });
  assert.equal(full.cancelled, false);
  assert.equal(full.history.length, 2);
  const start = nativeEvents.find((e) => e.type === 'start');
  assert.ok(start && start.type === 'start' && start.backend.name === (runtime === 'onnx' ? 'onnxruntime' : runtime), `the run reports ${runtime}`);

  // Same weights, same batch: the first step's loss terms agree to float noise.
  const [a, b] = [steps(tfjsEvents)[0], steps(nativeEvents)[0]];
  for (const k of ['ls', 'lt', 'lc'] as const) assert.ok(Math.abs(a[k] - b[k]) < 1e-4 * Math.max(1, Math.abs(a[k])), `${k}: tfjs ${a[k]} vs ${runtime} ${b[k]}`);
  const tfjsModel = await loadCheckpoint(path.join(dir('tfjs'), 'checkpoints/last'));
  const nativeModel = await loadCheckpoint(path.join(dir('full'), 'checkpoints/last'));
  const init = createEncoder('compact', { seed: tiny.seed, inputSize: 16 });
  const moved = maxAbsDiff(new Map([...init.params].map(([k, v]) => [`encoder.${k}`, v.dataSync() as Float32Array])), new Map([...weightsOf(nativeModel)].filter(([k]) => k.startsWith('encoder.'))));
  assert.ok(moved > 1e-3, `the ${runtime} run moved the encoder away from its initialisation`);
  // Different kernels, so not bit-identical; after 2 epochs both runs stay close relative to how far they moved.
  const apart = maxAbsDiff(weightsOf(tfjsModel), weightsOf(nativeModel));
  assert.ok(apart < 0.1 * moved, `tfjs and ${runtime} runs are ${apart} apart after moving ${moved}`);
  init.dispose();

  // Cancel mid-epoch, resume: same weights as the uninterrupted run.
  const controller = new AbortController();
  const first = await train({ ...tiny, runtime, onnxThreads: 1 }, {
    ...base, outDir: dir('resumed'), signal: controller.signal,
    onEvent: (e) => { if (e.type === 'step' && e.step === 6) controller.abort(); },
  });
  assert.equal(first.cancelled, true);
  await train({ ...tiny, runtime, onnxThreads: 1 }, { ...base, outDir: dir('resumed'), resume: true });
  const resumed = await loadCheckpoint(path.join(dir('resumed'), 'checkpoints/last'));
  const d = maxAbsDiff(weightsOf(nativeModel), weightsOf(resumed));
  assert.ok(d < 1e-5, `resumed weights differ by ${d}`);
  [tfjsModel, nativeModel, resumed].forEach((m) => m.dispose());
}
