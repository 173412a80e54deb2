// Training-throughput benchmark: img/s of one KE-FER training step (encoder forward in training
// mode + KE-FER loss + backward + SGD update) per tfjs backend available here and per native runtime
// (onnxruntime; the oneDNN addon when built), each against a
// PyTorch CPU baseline measured in the same run (bench/train_torch.py) when torch is importable, at the
// same thread count as the row it is compared with (1 for wasm, N for onnxruntime N threads / N workers).
//   npm run bench:train [-- --seconds 10] [-- --only resnet18-b16] [-- --workers 1,2] [-- --isa avx2|native]
//   npm run bench:train -- --end-to-end [...]: a FERPlus-shaped epoch against a PyTorch loop (trainEpoch.ts)
// On wasm each config is also run data-parallel (src/engine/train/parallel.ts) with every worker
// count in --workers (default 1,2), in the same run, so the speed-up is a same-run ratio.
// Wall-clock img/s is the headline; CPU-time img/s (img per second of process CPU time) is printed
// too because the machine is shared and wall time swings with other people's load.
import * as tf from '@tensorflow/tfjs-core';
import path from 'node:path';
import { initBackend, type BackendPreference } from '../src/engine/backend/index.js';
import { createEncoder, createTransform, type BackboneName } from '../src/engine/model/index.js';
import { DEFAULT_LOSS_OPTIONS, keferLoss } from '../src/engine/losses.js';
import { startParallel } from '../src/engine/runtimes/tfjs/parallel.js';
import { Sgd } from '../src/engine/runtimes/sgd.js';
import { OnnxTrainStep } from '../src/engine/runtimes/onnx/step.js';
import { OnednnTrainStep } from '../src/engine/runtimes/onednn/step.js';
import { loadOnednn } from '../src/engine/runtimes/onednn/addon.js';
import { applyIsaCap, describeTorch, findTorchPython, loadAverage, onednnIsa, runTorch, type TorchInfo } from './cpuBench.js';

interface BenchConfig { id: string; backbone: BackboneName; batch: number; size: number }
interface Result { imgPerSec: number; cpuImgPerSec: number; steps: number; note?: string }

const CONFIGS: BenchConfig[] = [
  { id: 'resnet18 b16', backbone: 'resnet18', batch: 16, size: 112 },
  { id: 'compact b64', backbone: 'compact', batch: 64, size: 48 },
  // bench:accuracy's CPU settings (32 px, batch 32).
  { id: 'compact b32', backbone: 'compact', batch: 32, size: 32 },
  // Last: before the early-release backprop (src/engine/backend/tapeMemory.ts) it exhausted the
  // 4 GB wasm32 heap, which leaves the backend unusable.
  { id: 'resnet18 b64', backbone: 'resnet18', batch: 64, size: 112 },
  // Only on request (--only resnet18-b128): minutes per step here.
  { id: 'resnet18 b128', backbone: 'resnet18', batch: 128, size: 112 },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const BENCH_BACKEND = { name: 'wasm', detail: 'bench' };
const ISA = applyIsaCap(arg('isa'));
const SECONDS = Number(arg('seconds') ?? 10);
const ONLY = arg('only');
const WORKERS = (arg('workers') ?? '1,2').split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 1);

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * One warm-up step (XNNPACK operator creation, heap growth), then steps for SECONDS (at least 2).
 * process.cpuUsage counts every thread of the process, worker threads included.
 */
async function timeSteps(step: () => Promise<void>, batch: number): Promise<Result> {
  await step();
  let steps = 0;
  const t0 = performance.now();
  const c0 = cpuSeconds();
  while (steps < 2 || performance.now() - t0 < SECONDS * 1000) {
    await step();
    steps++;
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - c0;
  return { imgPerSec: (steps * batch) / wall, cpuImgPerSec: (steps * batch) / cpu, steps };
}

/** Runs warm-up + timed steps of the real model/loss/optimizer on the active tfjs backend. */
async function measureTfjs(cfg: BenchConfig): Promise<Result> {
  const enc = createEncoder(cfg.backbone, { seed: 29, inputSize: cfg.size });
  const fn = createTransform(29);
  const sgd = new Sgd(0.9, 5e-4);
  const params = new Map([...enc.params, ...fn.params]);
  const vars = [...params.values()];
  const x = tf.randomNormal([cfg.batch, cfg.size, cfg.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: cfg.batch }, (_, i) => i % 7), 'int32');
  const text = tf.tidy(() => {
    const t = tf.randomNormal([7, 512], 0, 1, 'float32', 2);
    return tf.div(t, tf.norm(t, 'euclidean', 1, true)) as tf.Tensor2D;
  });
  // Async read of the loss: WebGPU in Node has no synchronous read (see src/engine/backend/webgpu.ts).
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => {
      const v = enc.apply(x, true);
      return keferLoss(v, fn.apply(v), text, labels, { ...DEFAULT_LOSS_OPTIONS, neutralIndex: 6 }).total;
    }, vars);
    const loss = (await value.data())[0];
    // variableGrads names gradients by variable name; SGD wants them by parameter key.
    const byKey: Record<string, tf.Tensor> = {};
    for (const [k, v] of params) byKey[k] = grads[v.name];
    sgd.step(params, byKey, 0.002);
    tf.dispose([value, ...Object.values(grads)]);
    if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
  };
  try {
    return await timeSteps(step, cfg.batch);
  } finally {
    enc.dispose();
    fn.dispose();
    sgd.dispose();
    tf.dispose([x, labels, text]);
  }
}

/** Model, optimizer, one fixed batch (host array) and class text for the step runners that take arrays. */
function hostStepInputs(cfg: BenchConfig) {
  const enc = createEncoder(cfg.backbone, { seed: 29, inputSize: cfg.size });
  const fn = createTransform(29);
  const sgd = new Sgd(0.9, 5e-4);
  const x = tf.tidy(() => tf.randomNormal([cfg.batch, cfg.size, cfg.size, 3], 0, 1, 'float32', 1).dataSync() as Float32Array);
  const labels = Array.from({ length: cfg.batch }, (_, i) => i % 7);
  const text = tf.tidy(() => {
    const t = tf.randomNormal([7, 512], 0, 1, 'float32', 2);
    return tf.div(t, tf.norm(t, 'euclidean', 1, true)) as tf.Tensor2D;
  });
  const dispose = () => {
    enc.dispose();
    fn.dispose();
    sgd.dispose();
    text.dispose();
  };
  return { enc, fn, sgd, x, labels, text, dispose };
}

/**
 * The same step with the encoder on onnxruntime-node (`kefer train --runtime onnx`, runtimes/onnx/step.ts):
 * encoder forward/backward on onnxruntime's native CPU kernels, F_n + losses + their SGD on tfjs.
 */
async function measureOnnx(cfg: BenchConfig, threads: number): Promise<Result> {
  const { enc, fn, sgd, x, labels, text, dispose } = hostStepInputs(cfg);
  const onnx = await OnnxTrainStep.create({ encoder: enc, transform: fn, sgd, textNorm: text, batch: cfg.batch, threads, backend: BENCH_BACKEND, loss: { ...DEFAULT_LOSS_OPTIONS, neutralIndex: 6 } });
  try {
    return await timeSteps(async () => {
      const r = await onnx.step(x, labels, 0.002);
      if (!r.terms.every(Number.isFinite)) throw new Error(`non-finite loss ${r.terms.join(', ')}`);
    }, cfg.batch);
  } finally {
    await onnx.dispose();
    dispose();
  }
}

/**
 * The same step with the encoder on the oneDNN addon (`kefer train --runtime onednn`, runtimes/onednn/step.ts):
 * encoder forward/backward/SGD in oneDNN's blocked layouts, F_n + losses + their SGD on tfjs.
 */
async function measureOnednn(cfg: BenchConfig, threads: number, convolution: 'auto' | 'direct'): Promise<Result> {
  const { enc, fn, sgd, x, labels, text, dispose } = hostStepInputs(cfg);
  const step = await OnednnTrainStep.create({ encoder: enc, transform: fn, sgd, textNorm: text, batch: cfg.batch, threads, convolution, backend: BENCH_BACKEND, loss: { ...DEFAULT_LOSS_OPTIONS, neutralIndex: 6 } });
  try {
    const r = await timeSteps(async () => {
      const o = await step.step(x, labels, 0.002);
      if (!o.terms.every(Number.isFinite)) throw new Error(`non-finite loss ${o.terms.join(', ')}`);
    }, cfg.batch);
    const info = step.trainer.info();
    return { ...r, note: `oneDNN ${info.version} ${info.isa}, ${info.convolution}` };
  } finally {
    await step.dispose();
    dispose();
  }
}

/** The same step data-parallel over `workers` replicas (this thread + workers - 1 worker threads). */
async function measureParallel(cfg: BenchConfig, workers: number): Promise<Result> {
  const { enc, fn, sgd, x, labels, text, dispose } = hostStepInputs(cfg);
  const par = await startParallel({ workers, encoder: enc, transform: fn, sgd, textNorm: text, batchSize: cfg.batch, loss: { ...DEFAULT_LOSS_OPTIONS, neutralIndex: 6 } });
  const t = { main: 0, wait: 0, reduce: 0, worker: 0, n: 0 };
  const step = async () => {
    const r = await par.step(x, labels, 0.002);
    if (!r.terms.every(Number.isFinite)) throw new Error(`non-finite loss ${r.terms.join(', ')}`);
    if (r.timing) {
      t.main += r.timing.mainMs; t.wait += r.timing.waitMs; t.reduce += r.timing.reduceMs;
      t.worker += Math.max(...r.timing.workerMs); t.n++;
    }
  };
  try {
    const r = await timeSteps(step, cfg.batch);
    // Where a step goes: if the worker's shard takes as long as ours and we barely wait, the shards overlap.
    const ms = (v: number) => `${(v / Math.max(t.n, 1) / 1000).toFixed(2)}s`;
    const note = `main shard ${ms(t.main)}, slowest worker shard ${ms(t.worker)}, wait ${ms(t.wait)}, reduce ${ms(t.reduce)}`;
    return { ...r, note };
  } finally {
    await par.close();
    dispose();
  }
}

interface TorchStep extends TorchInfo { img_per_s: number; cpu_img_per_s: number; steps: number; layout: string; layouts: { layout: string; img_per_s: number }[] }

function measureTorch(py: string, cfg: BenchConfig, threads: number): (Result & { threads: number }) | null {
  try {
    const o = runTorch<TorchStep>(py, path.join(__dirname, 'train_torch.py'), [[{ backbone: cfg.backbone, batch: cfg.batch, size: cfg.size, seconds: SECONDS, threads }]]);
    console.log(`  pytorch ${cfg.id} @${cfg.size}, ${threads} thread(s): ${o.layouts.map((l) => `${l.layout} ${fmt(l.img_per_s)}`).join(', ')} img/s, best ${o.layout} (${describeTorch(o)}) [load ${loadAverage()}]`);
    return { imgPerSec: o.img_per_s, cpuImgPerSec: o.cpu_img_per_s, steps: o.steps, threads: o.threads };
  } catch (e) {
    console.log(`  pytorch failed: ${(e as Error).message}`);
    return null;
  }
}

const fmt = (v: number) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));

async function main(): Promise<void> {
  const configs = CONFIGS.filter((c) => (ONLY ? c.id.replace(' ', '-') === ONLY : c.batch <= 64));
  if (process.argv.includes('--end-to-end')) {
    const { runEndToEnd } = await import('./trainEpoch.js');
    return runEndToEnd(ISA);
  }
  const torch = findTorchPython();
  console.log(torch ? `pytorch baseline: torch ${torch.version} (${torch.python})` : 'pytorch baseline: SKIPPED (no python3 with torch and torchvision; apt-get install -y python3-torch python3-torchvision)');

  const backends: BackendPreference[] = ['wasm', 'webgpu'];
  const available: Array<{ pref: BackendPreference; detail: string }> = [];
  for (const pref of backends) {
    try {
      const rep = await initBackend(pref);
      available.push({ pref, detail: rep.detail });
    } catch (err) {
      console.log(`${pref}: SKIPPED (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  for (const b of available) console.log(`${b.pref}: ${b.detail}`);
  const onednn = loadOnednn();
  console.log(onednn.addon ? 'onednn: the oneDNN training addon (build/kefer_dnnl.node)' : `onednn: SKIPPED (${onednn.why})`);
  console.log(`ISA cap ${ISA}: oneDNN runs ${onednnIsa()} (PyTorch under the same cap); load average at start: ${loadAverage()}; ${SECONDS}s per measurement`);

  for (const cfg of configs) {
    // Baselines first (PyTorch at every thread count a row uses: each row is compared at equal threads),
    // then each backend, so a ratio compares measurements minutes apart at most.
    const bases = new Map<number, Result & { threads: number }>();
    for (const threads of new Set([1, ...WORKERS])) {
      const m = torch ? measureTorch(torch.python, cfg, threads) : null;
      if (m) bases.set(threads, m);
    }
    // "R x pytorch (...)" and "; per CPU-second a vs b = Rx" for a row run on `threads` threads.
    const vsBase = (m: Result, threads: number) => {
      const base = bases.get(threads);
      const baseText = base ? `pytorch (${fmt(base.imgPerSec)} img/s, ${base.threads} thread${base.threads === 1 ? '' : 's'})` : 'pytorch (skipped)';
      return {
        ratio: base ? `${(m.imgPerSec / base.imgPerSec).toFixed(2)}x ${baseText}` : baseText,
        cpuRatio: base ? `; per CPU-second ${fmt(m.cpuImgPerSec)} vs ${fmt(base.cpuImgPerSec)} = ${(m.cpuImgPerSec / base.cpuImgPerSec).toFixed(2)}x` : '',
      };
    };
    for (const b of available) {
      await initBackend(b.pref);
      let r: Result | null = null;
      try {
        r = await measureTfjs(cfg);
      } catch (err) {
        console.log(`${cfg.id} @${cfg.size} ${b.pref}: FAILED (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
      }
      if (r) {
        const { ratio, cpuRatio } = vsBase(r, 1);
        console.log(`${cfg.id} @${cfg.size} ${b.pref}: ${fmt(r.imgPerSec)} img/s = ${ratio} [${r.steps} steps${cpuRatio}]`);
      }
      if (b.pref !== 'wasm') continue;
      // onnxruntime runtime: tfjs (wasm) only runs the small head; thread counts as --workers.
      for (const threads of WORKERS) {
        try {
          const o = await measureOnnx(cfg, threads);
          const { ratio, cpuRatio } = vsBase(o, threads);
          const vsWasm = r ? `, ${(o.imgPerSec / r.imgPerSec).toFixed(2)}x wasm` : '';
          console.log(`${cfg.id} @${cfg.size} onnxruntime ${threads} thread${threads === 1 ? '' : 's'}: ${fmt(o.imgPerSec)} img/s = ${ratio}${vsWasm} [${o.steps} steps${cpuRatio}]`);
        } catch (err) {
          console.log(`${cfg.id} @${cfg.size} onnxruntime ${threads} threads: FAILED (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
        }
      }
      // oneDNN runtime: the encoder's whole step in the addon; tfjs (wasm) runs the head. 'auto' (the
      // default: Winograd where oneDNN expects a gain) and 'direct' (PyTorch's convolution algorithm).
      for (const threads of onednn.addon ? WORKERS : []) {
        for (const conv of ['auto', 'direct'] as const) {
          const label = `${cfg.id} @${cfg.size} onednn ${conv} ${threads} thread${threads === 1 ? '' : 's'}`;
          try {
            const o = await measureOnednn(cfg, threads, conv);
            const { ratio, cpuRatio } = vsBase(o, threads);
            const vsWasm = r ? `, ${(o.imgPerSec / r.imgPerSec).toFixed(2)}x wasm` : '';
            console.log(`${label} [${onednnIsa()}]: ${fmt(o.imgPerSec)} img/s = ${ratio}${vsWasm} [${o.steps} steps${cpuRatio}; ${o.note}; load ${loadAverage()}]`);
          } catch (err) {
            console.log(`${label}: FAILED (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
          }
        }
      }
      for (const w of WORKERS.filter((n) => n > 1)) {
        let p: Result;
        try {
          p = await measureParallel(cfg, w);
        } catch (err) {
          console.log(`${cfg.id} @${cfg.size} wasm x${w} workers: FAILED (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
          continue;
        }
        console.log(`${cfg.id} @${cfg.size} wasm x${w} workers: ${fmt(p.imgPerSec)} img/s = ${r ? (p.imgPerSec / r.imgPerSec).toFixed(2) : '-'}x 1 worker = ${vsBase(p, w).ratio} [${p.steps} steps; per CPU-second ${fmt(p.cpuImgPerSec)}; per step: ${p.note}]`);
      }
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exitCode = 1;
});
