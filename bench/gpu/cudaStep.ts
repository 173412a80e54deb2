// The KE-FER training step on the CUDA runtime (native/cuda_encoder.cu): ResNet-18, F_n, the losses and
// SGD on the GPU, the batch resident on the device (as bench/gpu/torch_step.py keeps its tensor there),
// the loss terms read back every step. Prints one JSON line. Run by bench/gpu/run.sh.
//   node cudaStep.cjs --batch 64 --size 112 --precision fp32|tf32|amp --seconds 8
import { parseArgs } from 'node:util';
import { CUDA_PRECISIONS, describeCuda, type CudaPrecision } from '../../src/engine/runtimes/cuda/addon.js';
import { Rng } from '../../src/engine/util/rng.js';
import { buildTrainer } from './cudaTrainer.js';

async function main() {
  const { values: f } = parseArgs({ options: { batch: { type: 'string' }, size: { type: 'string' }, precision: { type: 'string' }, seconds: { type: 'string' } } });
  const batch = Number(f.batch ?? 64), size = Number(f.size ?? 112), seconds = Number(f.seconds ?? 8);
  const precision = (f.precision ?? 'fp32') as CudaPrecision;
  if (!CUDA_PRECISIONS.includes(precision)) throw new Error(`--precision ${precision}`);
  const t0 = Date.now();
  const t = await buildTrainer(batch, size, precision);
  const setupS = (Date.now() - t0) / 1000;
  const rng = new Rng(7);
  const images = new Float32Array(batch * size * size * 3).map(() => rng.normal());
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 7);
  const step = (x: Float32Array | null) => t.native.trainStep(x, labels, 0.002, 0.9, 5e-4);
  const first = step(images);
  for (let i = 0; i < 3; i++) step(null); // warm-up
  let steps = 0;
  const start = process.hrtime.bigint();
  let last = first;
  while (steps < 10 || Number(process.hrtime.bigint() - start) / 1e9 < seconds) {
    last = step(null);
    steps++;
  }
  const dt = Number(process.hrtime.bigint() - start) / 1e9;
  const info = t.info();
  console.log(JSON.stringify({
    runtime: 'cuda', precision, batch, size, steps, img_per_s: (steps * batch) / dt, ms_per_step: (1000 * dt) / steps, setup_s: setupS,
    first_loss: first[4], last_loss: last[4], loss_scale: last[6], device: describeCuda(info), algorithms: info.algorithms, deterministic: info.deterministic,
  }));
  t.release();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
