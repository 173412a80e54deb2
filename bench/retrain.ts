// Time from "labels changed" to "diagnostics refreshed" with head-only retraining (trainHead: head + F_n
// on cached features, then re-scoring every sample into records.jsonl and writing the checkpoint), at
// RAF-DB scale (15,000 samples) and AffectNet scale (300,000 samples). The FEATURES ARE SYNTHETIC (class
// clusters in 512-d) for the timing: only their count matters to the cost, not their values.
// Baseline in the same run: recomputing the features with the ResNet-18 @112 encoder on onnxruntime
// (measured img/s x N), i.e. what any retrain that touches the encoder costs at least. A full-encoder
// training epoch on tfjs here is ~50-100x slower still (docs/platform.md: 1.46 img/s).
// Usage: npm run bench:retrain [-- --only raf|affectnet]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend/index.js';
import { classList } from '../src/engine/classes.js';
import type { Dataset, Sample } from '../src/engine/data/types.js';
import { createEncoder, createTransform } from '../src/engine/model/index.js';
import { exportCheckpointOnnx } from '../src/engine/onnx/export.js';
import { createOnnxSession, runBatch } from '../src/engine/onnx/runtime.js';
import { IMAGENET_MEAN, IMAGENET_STD, saveCheckpoint } from '../src/engine/model/checkpoint.js';
import { trainHead } from '../src/engine/train/quickRetrain.js';
import { Rng } from '../src/engine/util/rng.js';

const { values: f } = parseArgs({ options: { only: { type: 'string' } } });
const SCALES = [
  { id: 'raf', name: 'RAF-DB scale', n: 15000, trainFrac: 0.8, target: 10 },
  { id: 'affectnet', name: 'AffectNet scale', n: 300000, trainFrac: 0.98, target: 60 },
].filter((s) => !f.only || s.id === f.only);
const D = 512;

function syntheticFeatures(n: number, K: number, rng: Rng): { features: Float32Array; labels: number[] } {
  const mu = Float32Array.from({ length: K * D }, () => rng.normal());
  const features = new Float32Array(n * D);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rng.int(K);
    labels.push(y);
    for (let j = 0; j < D; j++) features[i * D + j] = 0.3 * mu[y * D + j] + rng.normal();
  }
  return { features, labels };
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kefer-bench-retrain-'));
  try {
    const rep = await initBackend('wasm', () => {});
    console.log(`head retrain (tfjs ${rep.name}: ${rep.detail}); ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const classes = classList(8);
    const K = classes.length;
    const rng = new Rng(5);
    const ck = path.join(tmp, 'base');
    const encoder = createEncoder('resnet18', { inputSize: 112 });
    const transform = createTransform(29);
    await saveCheckpoint(ck, {
      encoder, transform, textEmbeddings: Float32Array.from({ length: K * D }, () => rng.normal()),
      config: { format: 'kefer-checkpoint', version: 1, backbone: 'resnet18', classes, neutralIndex: classes.indexOf('neutral'), inputSize: 112, mean: IMAGENET_MEAN, std: IMAGENET_STD, logitScale: 100, prompts: [], textSource: { kind: 'standin', model: 'bench', description: 'bench' }, featureDim: D },
    });
    encoder.dispose();
    transform.dispose();

    // Baseline: encoder features on onnxruntime (model only, batch 32, ~6 s).
    await exportCheckpointOnnx(ck);
    const { session, provider } = await createOnnxSession(path.join(ck, 'model.onnx'));
    const x = Float32Array.from({ length: 32 * 112 * 112 * 3 }, () => rng.normal());
    await runBatch(session, x, 32, 112);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 6000) {
      await runBatch(session, x, 32, 112);
      n += 32;
    }
    const featIps = n / ((performance.now() - t0) / 1000);
    await session.release();
    console.log(`baseline: ResNet-18 @112 features on onnxruntime ${provider}: ${featIps.toFixed(1)} img/s`);

    for (const s of SCALES) {
      const { features, labels } = syntheticFeatures(s.n, K, rng);
      const nTrain = Math.round(s.n * s.trainFrac);
      const samples: Sample[] = labels.map((label, i) => ({ id: `s${i}`, path: `img/${i}.jpg`, label, split: i < nTrain ? 'train' : 'test' }));
      const ds: Dataset = { format: 'synthetic', root: tmp, classes, samples, synthetic: true };
      // "Labels changed": flip 2% of the training labels, as a curation pass would.
      for (let i = 0; i < nTrain; i += 50) samples[i] = { ...samples[i], label: (samples[i].label + 1) % K };
      const t = performance.now();
      const cpu0 = process.cpuUsage();
      const r = await trainHead({ checkpoint: ck, dataset: ds, out: path.join(tmp, `run-${s.id}`), features });
      const sec = (performance.now() - t) / 1000;
      // Process CPU seconds (all threads, onnxruntime's included) move far less with other people's load.
      const cpu = process.cpuUsage(cpu0);
      const cpuSec = (cpu.user + cpu.system) / 1e6;
      const base = s.n / featIps;
      console.log(
        `${s.name} (${s.n} samples, features SYNTHETIC): labels changed -> diagnostics refreshed in ${sec.toFixed(2)} s ` +
          `(train ${r.seconds.train.toFixed(2)} s / ${r.steps} steps, re-score ${r.seconds.rescore.toFixed(2)} s, checkpoint ${r.seconds.save.toFixed(2)} s; ${cpuSec.toFixed(2)} CPU-s; load ${os.loadavg()[0].toFixed(1)}) ` +
          `= ${(base / sec).toFixed(0)}x faster than recomputing the features (${base.toFixed(0)} s at ${featIps.toFixed(1)} img/s); target < ${s.target} s: ${sec < s.target ? 'MET' : 'NOT MET'}`,
      );
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
