// GPU training-step benchmark, WebGPU side: img/s of the KE-FER training step (trainer.ts's step:
// encoder forward in training mode, F_n, keferLoss, backward, SGD with momentum + weight decay) on
// initWebGpu's adapter. Bundled by bench/gpu/webgpu-prepare.sh (esbuild) so it runs where node_modules
// cannot travel (the device machine); also runs from the tree with tsx.
//   step.js [--backbone resnet18] [--size 112] [--batch 64] [--seconds 20] [--min-steps 3]
//           [--flags '{"WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE": 200}'] [--phases]
// --flags sets tfjs-backend-webgpu flags (to find where the per-step time goes); --phases also times
// the forward pass alone and forward + backward without SGD, and counts the kernels of one step.
// Prints progress lines and, last, one JSON line {"img_per_s": ...}.
import * as tf from '@tensorflow/tfjs-core';
import { initWebGpu } from '../../src/engine/backend/webgpu.js';
import { createEncoder, createTransform, type BackboneName } from '../../src/engine/model/index.js';
import { DEFAULT_LOSS_OPTIONS, keferLoss } from '../../src/engine/losses.js';
import { Sgd } from '../../src/engine/runtimes/sgd.js';
import { Rng } from '../../src/engine/util/rng.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const backbone = arg('backbone', 'resnet18') as BackboneName;
  const size = Number(arg('size', '112'));
  const batch = Number(arg('batch', '64'));
  const seconds = Number(arg('seconds', '20'));
  const minSteps = Number(arg('min-steps', '3'));
  const flags = JSON.parse(arg('flags', '{}')) as Record<string, number | boolean>;
  const phases = process.argv.includes('--phases');
  const t0 = performance.now();
  const rep = await initWebGpu((m) => console.log(m));
  for (const [k, v] of Object.entries(flags)) tf.env().set(k, v);
  console.log(`backend: webgpu (${rep.detail}) in ${((performance.now() - t0) / 1000).toFixed(1)}s`);

  const enc = createEncoder(backbone, { seed: 29, inputSize: size });
  const fn = createTransform(29);
  const sgd = new Sgd(0.9, 5e-4);
  const params = new Map([...enc.params, ...fn.params]);
  const vars = [...params.values()];
  const rng = new Rng(30);
  const x = tf.tensor4d(Float32Array.from({ length: batch * size * size * 3 }, () => rng.normal()), [batch, size, size, 3]);
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 7), 'int32');
  const text = tf.tidy(() => {
    const t = tf.tensor2d(Float32Array.from({ length: 7 * 512 }, () => rng.normal()), [7, 512]);
    return tf.div(t, tf.norm(t, 'euclidean', 1, true)) as tf.Tensor2D;
  });
  // Reads are async only (no dataSync on WebGPU in Node); awaiting the loss each step also makes
  // the GPU finish the step, as PyTorch's loss.item() does on the other side.
  const lossOf = () => {
    const v = enc.apply(x, true);
    return keferLoss(v, fn.apply(v), text, labels, { ...DEFAULT_LOSS_OPTIONS, neutralIndex: 6 }).total;
  };
  const step = async (withSgd = true): Promise<number> => {
    const { value, grads } = tf.variableGrads(lossOf, vars);
    const byKey: Record<string, tf.Tensor> = {};
    for (const [k, v] of params) byKey[k] = grads[v.name];
    if (withSgd) sgd.step(params, byKey, 0.002);
    const loss = (await value.data())[0];
    tf.dispose([value, ...Object.values(grads)]);
    if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
    return loss;
  };

  // Warm-up: shader compilation and buffer pools (the first steps are much slower than the rest).
  for (let i = 0; i < 2; i++) {
    const w0 = performance.now();
    const loss = await step();
    console.log(`warm-up step ${i + 1}: ${((performance.now() - w0) / 1000).toFixed(2)}s, loss ${loss.toFixed(4)}`);
  }
  let steps = 0;
  const start = performance.now();
  while (steps < minSteps || performance.now() - start < seconds * 1000) {
    await step();
    steps++;
  }
  const wall = (performance.now() - start) / 1000;
  const extra: Record<string, number> = {};
  if (phases) {
    // Mean seconds of 5 runs each; every run ends with a read, so the GPU has finished it.
    const timeIt = async (f: () => Promise<unknown>) => { await f(); const a = performance.now(); for (let i = 0; i < 5; i++) await f(); return (performance.now() - a) / 5000; };
    extra.fwd_s = await timeIt(async () => { const l = tf.tidy(lossOf); await l.data(); l.dispose(); });
    extra.fwd_bwd_s = await timeIt(() => step(false));
    extra.step_s = await timeIt(() => step(true));
    const prof = await tf.profile(() => step(true));
    extra.kernels_per_step = prof.kernels.length;
  }
  const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  console.log(JSON.stringify({ backend: 'webgpu', adapter: rep.detail, backbone, size, batch, flags, steps, seconds: wall, img_per_s: (steps * batch) / wall, ...extra, tensors: mem.numTensors, gpu_mib: Math.round((mem.numBytesInGPU ?? 0) / 2 ** 20) }));
  enc.dispose();
  fn.dispose();
  sgd.dispose();
  tf.dispose([x, labels, text]);
}

main().then(
  () => process.exit(0), // Dawn keeps the event loop alive otherwise
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack ?? err.message : String(err));
    process.exit(1);
  },
);
