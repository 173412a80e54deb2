// `npm run bench:train -- --end-to-end`: a FERPlus-shaped epoch end to end, `kefer train`'s own path (the
// trainer with its default CPU runtime, loader workers, validation on the runtime, checkpoints) against a
// PyTorch loop on the same PNG files (bench/epoch_torch.py: torchvision ResNet-18, DataLoader workers,
// torch.no_grad() validation, torch.save per epoch), same threads, same batch, same run. Two epochs each;
// the second is measured (the first builds primitives, decodes, warms caches). Also PyTorch's eval forward
// alone at its best (eager and TorchScript frozen), the baseline for the validation throughput.
// The two sides run alternately for --rounds rounds (default 2) and each side's best round counts: the
// machine is shared, and other people's bursts of load otherwise decide the ratio.
//   npm run bench:train -- --end-to-end [--train 320] [--val 320] [--batch 16] [--threads N] [--rounds 2] [--isa avx2|native]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend/index.js';
import { loadDataset } from '../src/engine/data/index.js';
import { sampleFile } from '../src/engine/data/decode.js';
import type { Dataset } from '../src/engine/data/types.js';
import type { EngineEvent } from '../src/engine/events.js';
import { evalBatchFor } from '../src/engine/runtimes/onednn/inference.js';
import { standinTextEmbeddings } from '../src/engine/text/index.js';
import { DEFAULT_TRAIN_CONFIG, train } from '../src/engine/train/trainer.js';
import { describeTorch, findTorchPython, fmt, loadAverage, onednnIsa, runTorch, type IsaCap, type TorchInfo } from './cpuBench.js';

interface EpochFigures {
  /** Wall seconds of the measured (second) epoch: steps, validation, checkpoints. */
  epochSec: number;
  /** Median seconds between steps of that epoch (waiting for the batch included). */
  stepSec: number;
  valImages: number;
  valSec: number;
}

interface TorchEpoch extends TorchInfo, EpochFigures {
  eval_forward: { variant: string; img_per_s: number }[];
  workers: number;
}

function subset(ds: Dataset, n: number): Dataset {
  return { ...ds, samples: ds.samples.slice(0, n) };
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** The trainer's own figures from its events: epoch 2's wall time, step intervals and validation. */
async function measureKefer(trainSet: Dataset, valSet: Dataset, opts: { batch: number; threads: number; work: string }): Promise<EpochFigures & { runtime: string }> {
  const backend = await initBackend('wasm');
  const times: { e: EngineEvent; t: number }[] = [];
  await train({ ...DEFAULT_TRAIN_CONFIG, backbone: 'resnet18', inputSize: 112, epochs: 2, batchSize: opts.batch, onnxThreads: opts.threads }, {
    train: trainSet, val: valSet, valDescription: 'bench', text: standinTextEmbeddings(trainSet.classes, trainSet.classes), backend,
    outDir: path.join(opts.work, 'kefer-run'), diagnose: 'none', onEvent: (e) => times.push({ e, t: performance.now() }),
  });
  const epochEnds = times.filter((x) => x.e.type === 'epoch').map((x) => x.t);
  const steps = times.filter((x) => x.e.type === 'step' && x.e.epoch === 2).map((x) => x.t);
  const vals = times.flatMap((x) => (x.e.type === 'log' && x.e.message.startsWith('validation: ') ? [x.e.message] : []));
  const m = /validation: (\d+) images in ([\d.]+) s .* on (.*)$/.exec(vals[vals.length - 1] ?? '');
  const start = times.find((x) => x.e.type === 'start')?.e;
  if (epochEnds.length !== 2 || !m || !start || start.type !== 'start') throw new Error('the run did not report two epochs and a validation');
  const intervals = steps.slice(1).map((t, i) => (t - steps[i]) / 1000);
  return { epochSec: (epochEnds[1] - epochEnds[0]) / 1000, stepSec: median(intervals), valImages: Number(m[1]), valSec: Number(m[2]), runtime: `${start.backend.name}: ${start.backend.detail}; validation on ${m[3]}` };
}

export async function runEndToEnd(isa: IsaCap): Promise<void> {
  const { values: f } = parseArgs({ options: { train: { type: 'string' }, val: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' }, rounds: { type: 'string' }, isa: { type: 'string' }, 'end-to-end': { type: 'boolean' } } });
  const nTrain = Number(f.train ?? 320);
  const nVal = Number(f.val ?? 320);
  const rounds = Number(f.rounds ?? 2);
  const batch = Number(f.batch ?? 16);
  const threads = Number(f.threads ?? os.cpus().length);
  const shared = process.env.KEFER_SHARED_DATA ?? path.resolve(__dirname, '../../shared/data');
  const root = path.join(shared, 'ferplus');
  const trainSet = subset(await loadDataset(`ferplus:${root}#train`), nTrain);
  const valSet = subset(await loadDataset(`ferplus:${root}#test`), nVal);
  const torch = findTorchPython();
  const work = await mkdtemp(path.join(os.tmpdir(), 'kefer-bench-epoch-'));
  try {
    console.log(`end-to-end epoch: ResNet-18 @112, batch ${batch}, ${threads} thread(s); ${trainSet.samples.length} FERPlus train PNGs (the first of ${root}), validation on the first ${valSet.samples.length} test PNGs; 2 epochs, the second measured`);
    console.log(`ISA cap ${isa}: oneDNN runs ${onednnIsa()} (PyTorch under the same cap); ${os.cpus().length} CPUs (${os.cpus()[0]?.model}); load average ${loadAverage()}`);
    const list = path.join(work, 'list.json');
    await writeFile(list, JSON.stringify({
      classes: trainSet.classes, train: trainSet.samples.map((s) => [sampleFile(trainSet, s), s.label]), val: valSet.samples.map((s) => [sampleFile(valSet, s), s.label]),
    }));
    // PyTorch validates and runs its eval forward at the batch the oneDNN validation used.
    const valBatch = evalBatchFor('resnet18', 112);
    const ours: Array<EpochFigures & { runtime: string }> = [];
    const theirs: TorchEpoch[] = [];
    for (let r = 1; r <= rounds; r++) {
      const k = await measureKefer(trainSet, valSet, { batch, threads, work: path.join(work, `round${r}`) });
      ours.push(k);
      console.log(`round ${r} kefer [${onednnIsa()}]: epoch ${k.epochSec.toFixed(1)} s, step ${k.stepSec.toFixed(3)} s (${fmt(batch / k.stepSec)} img/s), validation ${k.valImages} images in ${k.valSec.toFixed(2)} s (${fmt(k.valImages / k.valSec)} img/s) [load ${loadAverage()}]${r === 1 ? `\n  ${k.runtime}` : ''}`);
      if (!torch) continue;
      const pt = runTorch<TorchEpoch>(torch.python, path.join(__dirname, 'epoch_torch.py'), [list, { batch, threads, workers: 2, val_batch: valBatch, eval_batch: valBatch, out: work }]);
      theirs.push(pt);
      console.log(`round ${r} pytorch (${describeTorch(pt)}; ${pt.workers} DataLoader workers): epoch ${pt.epochSec.toFixed(1)} s, step ${pt.stepSec.toFixed(3)} s (${fmt(batch / pt.stepSec)} img/s), validation ${pt.valImages} images in ${pt.valSec.toFixed(2)} s (${fmt(pt.valImages / pt.valSec)} img/s); eval forward alone at batch ${valBatch}: ${pt.eval_forward.map((v) => `${v.variant} ${fmt(v.img_per_s)}`).join(', ')} img/s [load ${loadAverage()}]`);
    }
    if (!torch) {
      console.log('pytorch: SKIPPED (no python3 with torch and torchvision)');
      return;
    }
    // Each side's best round (the least disturbed by other people's load).
    const best = <T>(xs: T[], key: (x: T) => number) => Math.min(...xs.map(key));
    const epochK = best(ours, (k) => k.epochSec), epochT = best(theirs, (t) => t.epochSec);
    const stepK = best(ours, (k) => k.stepSec), stepT = best(theirs, (t) => t.stepSec);
    const valK = Math.max(...ours.map((k) => k.valImages / k.valSec)), valT = Math.max(...theirs.map((t) => t.valImages / t.valSec));
    const forward = (variant: string) => Math.max(...theirs.map((t) => t.eval_forward.find((v) => v.variant === variant)?.img_per_s ?? 0));
    const rows: [string, number, number][] = [
      ['epoch (train + validation + checkpoints)', epochT / epochK, 1.2],
      ['step (steady, data wait included)', stepT / stepK, 1.1],
      ...['eager', 'torchscript-frozen'].map((v): [string, number, number] => [`validation throughput vs PyTorch eval forward (${v}, batch ${valBatch})`, valK / forward(v), 1.5]),
      ['validation throughput vs PyTorch no_grad validation loop', valK / valT, 1.5],
    ];
    console.log(`\nRESULTS [${onednnIsa()}], best of ${rounds} rounds per side [load average ${loadAverage()}]:`);
    console.log(`  kefer epoch ${epochK.toFixed(1)} s, step ${stepK.toFixed(3)} s, validation ${fmt(valK)} img/s; pytorch epoch ${epochT.toFixed(1)} s, step ${stepT.toFixed(3)} s, validation loop ${fmt(valT)} img/s, eval forward eager ${fmt(forward('eager'))} / frozen ${fmt(forward('torchscript-frozen'))} img/s`);
    for (const [what, ratio, target] of rows) console.log(`  ${what}: ${ratio.toFixed(2)}x pytorch (target >= ${target}x: ${ratio >= target ? 'MET' : 'NOT MET'})`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
