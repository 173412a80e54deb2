// Inference throughput of ResNet-18 at 112x112, eval mode, in one run:
//   tfjs (wasm, the best backend here), onnxruntime-node (model only, and end to end from PNG files through
//   evaluateCheckpointOnnx: decode + normalise + run + records; fp32 and int8), PyTorch CPU (bench/infer_torch.py) when a
//   python with torch exists; the decoder alone (PNG fast path vs sharp). Ratios against PyTorch (against tfjs when torch is absent). Wall img/s and
//   img per CPU-second (the 2 cores here are shared, so wall numbers move with others' load).
// Usage: npm run bench:infer [-- --seconds 8 --batch 32 --images 1024]
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend/index.js';
import { generateSyntheticDataset, loadDataset, type Dataset } from '../src/engine/data/index.js';
import { decodeImage, decodeWithSharp } from '../src/engine/data/decode.js';
import { createEncoder, createTransform } from '../src/engine/model/index.js';
import { exportCheckpointOnnx } from '../src/engine/onnx/export.js';
import { createOnnxSession, evaluateOnnx, openOnnxCheckpoint, runBatch } from '../src/engine/onnx/runtime.js';
import { exportCheckpointInt8 } from '../src/engine/onnx/int8.js';
import { IMAGENET_MEAN, IMAGENET_STD, saveCheckpoint } from '../src/engine/model/checkpoint.js';
import { classList } from '../src/engine/classes.js';

const { values: f } = parseArgs({ options: { seconds: { type: 'string' }, batch: { type: 'string' }, images: { type: 'string' } } });
const SECONDS = Number(f.seconds ?? 8);
const BATCH = Number(f.batch ?? 32);
const IMAGES = Number(f.images ?? 1024);
const SIZE = 112;

interface Rate { imgPerSec: number; cpuImgPerSec: number; images: number }

/** Repeats `step` (one batch of `batch` images) for SECONDS after one warm-up call. */
async function measure(batch: number, step: () => Promise<void> | void): Promise<Rate> {
  await step();
  let n = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < SECONDS * 1000 || n === 0) {
    await step();
    n += batch;
  }
  const wall = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  return { imgPerSec: n / wall, cpuImgPerSec: n / ((cu.user + cu.system) / 1e6), images: n };
}

function findTorchPython(): { python: string; version: string } | null {
  for (const py of [process.env.KEFER_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p)) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py, version: r.stdout.trim() };
  }
  return null;
}

function measureTorch(py: string): (Rate & { threads: number }) | null {
  const r = spawnSync(py, [path.join(__dirname, 'infer_torch.py'), JSON.stringify({ batch: BATCH, size: SIZE, seconds: SECONDS, threads: os.cpus().length })], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`pytorch: FAILED (${(r.stderr || '').trim().split('\n').slice(-1)[0]})`);
    return null;
  }
  const o = JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]) as { img_per_s: number; cpu_img_per_s: number; images: number; threads: number };
  return { imgPerSec: o.img_per_s, cpuImgPerSec: o.cpu_img_per_s, images: o.images, threads: o.threads };
}

async function evalImages(tmp: string): Promise<{ ds: Dataset; what: string }> {
  const shared = process.env.KEFER_SHARED_DATA ?? path.resolve(__dirname, '../../shared/data');
  const ferplus = path.join(shared, 'ferplus');
  if (existsSync(path.join(ferplus, 'data', 'FER2013Test', 'label.csv'))) {
    const ds = await loadDataset(`ferplus:${ferplus}#test`);
    return { ds: { ...ds, samples: ds.samples.slice(0, IMAGES) }, what: `FERPlus test PNGs (${ferplus}), 48x48 grey resized to ${SIZE}` };
  }
  console.log(`FERPlus not found at ${ferplus} (set KEFER_SHARED_DATA): end-to-end uses generated PNGs instead`);
  const per = Math.ceil(IMAGES / 8);
  await generateSyntheticDataset(path.join(tmp, 'synth'), { perClass: per, size: 48, channels: 1 });
  const ds = await loadDataset(`synthetic:${path.join(tmp, 'synth')}#train`);
  return { ds: { ...ds, samples: ds.samples.slice(0, IMAGES) }, what: 'SYNTHETIC generated PNGs, 48x48 grey' };
}

const fmt = (v: number) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));

async function main(): Promise<void> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kefer-bench-infer-'));
  try {
    console.log(`ResNet-18 @${SIZE} eval, batch ${BATCH}, ${SECONDS}s per measurement; ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const torch = findTorchPython();
    console.log(torch ? `pytorch: torch ${torch.version} (${torch.python})` : 'pytorch: SKIPPED (no python3 with torch; apt-get install -y python3-torch); ratios are against tfjs');

    const rep = await initBackend('wasm', () => {});
    const encoder = createEncoder('resnet18', { inputSize: SIZE });
    const transform = createTransform(29);
    const classes = classList(8); // FERPlus has 8
    const dir = path.join(tmp, 'ck');
    await saveCheckpoint(dir, {
      encoder, transform, textEmbeddings: Float32Array.from({ length: 8 * 512 }, () => Math.random() - 0.5),
      config: { format: 'kefer-checkpoint', version: 1, backbone: 'resnet18', classes, neutralIndex: classes.indexOf('neutral'), inputSize: SIZE, mean: IMAGENET_MEAN, std: IMAGENET_STD, logitScale: 100, prompts: [], textSource: { kind: 'standin', model: 'bench', description: 'bench' }, featureDim: 512 },
    });
    const x = Float32Array.from({ length: BATCH * SIZE * SIZE * 3 }, () => Math.random() * 2 - 1);

    const results: [string, Rate][] = [];
    const base = torch ? measureTorch(torch.python) : null;
    if (base) console.log(`pytorch CPU (${base.threads} threads): ${fmt(base.imgPerSec)} img/s, ${fmt(base.cpuImgPerSec)} img/CPU-s`);

    const tfjs = await measure(BATCH, () => {
      tf.tidy(() => transform.apply(encoder.apply(tf.tensor4d(x, [BATCH, SIZE, SIZE, 3]), false))).dataSync();
    });
    results.push([`tfjs ${rep.name} (${rep.detail}), model only`, tfjs]);

    await exportCheckpointOnnx(dir);
    const { session, provider } = await createOnnxSession(path.join(dir, 'model.onnx'), { log: (m) => console.log(m) });
    results.push([`onnxruntime-node ${provider}, model only`, await measure(BATCH, async () => void (await runBatch(session, x, BATCH, SIZE)))]);
    await session.release();

    const { ds, what } = await evalImages(tmp);
    const tOpen = performance.now();
    const ck = await openOnnxCheckpoint(dir);
    console.log(`opening the checkpoint for onnxruntime (hash, stale check, session): ${((performance.now() - tOpen) / 1000).toFixed(2)} s, once per session`);
    const e2e = await measure(ds.samples.length, async () => void (await evaluateOnnx(ck, ds, { batchSize: BATCH })));
    await ck.release();
    results.push([`onnxruntime-node, end to end (${what}; PNG decode+resize+normalise+run+records)`, e2e]);

    // int8 (static QDQ quantization, calibrated on 256 of the same images; labels unused). Its
    // predictions on a trained FERPlus model: bench/README.md.
    const q = await exportCheckpointInt8(dir, ds, { images: 256 });
    const s8 = await createOnnxSession(q.file, {});
    results.push([`onnxruntime-node ${s8.provider} int8, model only`, await measure(BATCH, async () => void (await runBatch(s8.session, x, BATCH, SIZE)))]);
    await s8.session.release();
    const ck8 = await openOnnxCheckpoint(dir, { precision: 'int8' });
    const e2e8 = await measure(ds.samples.length, async () => void (await evaluateOnnx(ck8, ds, { batchSize: BATCH })));
    await ck8.release();
    results.push([`onnxruntime-node int8, end to end (same images and steps)`, e2e8]);

    // The decoder alone: the PNG fast path (pngFastPath.ts) against sharp on the same images, same run.
    const decodeRate = async (decode: typeof decodeImage): Promise<Rate> => {
      const per = Math.min(ds.samples.length, 256);
      return measure(per, async () => {
        for (let i = 0; i < per; i++) await decode(ds, ds.samples[i], SIZE);
      });
    };
    const fastDecode = await decodeRate(decodeImage);
    const sharpDecode = await decodeRate(decodeWithSharp);
    console.log(`decode + resize to ${SIZE} alone: fast path ${(1000 / fastDecode.cpuImgPerSec).toFixed(3)} ms CPU per image, sharp ${(1000 / sharpDecode.cpuImgPerSec).toFixed(3)} ms = ${(fastDecode.cpuImgPerSec / sharpDecode.cpuImgPerSec).toFixed(1)}x faster (wall ${(fastDecode.imgPerSec / sharpDecode.imgPerSec).toFixed(1)}x)`);

    const ref = base ?? tfjs;
    const refName = base ? 'pytorch' : 'tfjs';
    for (const [name, r] of results) {
      console.log(`${name}: ${fmt(r.imgPerSec)} img/s = ${(r.imgPerSec / ref.imgPerSec).toFixed(2)}x ${refName}; ${fmt(r.cpuImgPerSec)} img/CPU-s = ${(r.cpuImgPerSec / ref.cpuImgPerSec).toFixed(2)}x [${r.images} images]`);
    }
    if (base) {
      for (const [what, r] of [['fp32', e2e], ['int8', e2e8]] as const) {
        console.log(`target: onnx ${what} end to end >= 3x pytorch (fp32): ${r.imgPerSec / base.imgPerSec >= 3 ? 'MET' : 'NOT MET'} (${(r.imgPerSec / base.imgPerSec).toFixed(2)}x wall, ${(r.cpuImgPerSec / base.cpuImgPerSec).toFixed(2)}x per CPU-second)`);
      }
    }
    encoder.dispose();
    transform.dispose();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
