// One training epoch: the epoch's sample order, its batches (batches.ts), one runtime step each, the step
// events; a cancel saves a resumable checkpoint mid-epoch.
import type { LoaderPool } from '../data/prefetch.js';
import type { TrainStep } from '../runtimes/types.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { balancedOrder } from './balance.js';
import { epochBatches } from './batches.js';
import { saveLast, type Run } from './run.js';
import { lrForEpoch } from './schedule.js';

export interface EpochSums {
  lr: number;
  loss: number;
  ls: number;
  lt: number;
  lc: number;
  correct: number;
  seen: number;
  /** Wall-clock start (ms). */
  start: number;
}

/** Runs the epoch's remaining steps; returns its sums, or undefined when cancelled (checkpoints/last saved). */
export async function runEpoch(run: Run, step: TrainStep, epoch: number, pool?: LoaderPool): Promise<EpochSums | undefined> {
  const { cfg, state, inputs, batch: bs } = run;
  const lr = lrForEpoch(epoch, cfg);
  const nTrain = inputs.train.samples.length;
  const orderRng = new Rng(deriveSeed(cfg.seed, epoch));
  const order = cfg.balance === 'sampler' ? balancedOrder(run.trainLabels, inputs.train.classes.length, nTrain, orderRng) : orderRng.shuffle(Array.from({ length: nTrain }, (_, i) => i));
  const sums: EpochSums = { lr, loss: 0, ls: 0, lt: 0, lc: 0, correct: 0, seen: 0, start: Date.now() };
  const firstStep = epoch === state.epoch ? state.stepInEpoch : 0;
  let ema = 0;
  let stepStart = Date.now();
  for await (const { step: s, idx, x } of epochBatches(run, order, epoch, firstStep, pool)) {
    if (inputs.signal?.aborted) {
      run.cancelled = true;
      await step.sync();
      await saveLast(run, s, epoch);
      return undefined;
    }
    const { labels, soft } = run.targets.batch(idx, epoch, s);
    const stats = await step.step(x, labels, lr, soft);
    const [ls, lt, lc] = stats.terms;
    const loss = cfg.lambdaS * ls + cfg.lambdaT * lt + cfg.lambdaC * lc;
    if (!Number.isFinite(loss)) throw new Error(`training diverged at epoch ${epoch + 1}, step ${s + 1}: loss is ${loss}`);
    sums.loss += loss; sums.ls += ls; sums.lt += lt; sums.lc += lc; sums.correct += stats.correct; sums.seen += bs;
    state.globalStep++;
    // Step time includes waiting for the batch: what the user's epoch takes.
    const now = Date.now();
    const ips = (bs * 1000) / Math.max(now - stepStart, 1);
    stepStart = now;
    ema = ema ? 0.9 * ema + 0.1 * ips : ips;
    const remaining = run.totalSteps - state.globalStep;
    await run.log({ type: 'step', step: state.globalStep, epoch: epoch + 1, totalSteps: run.totalSteps, loss, ls, lt, lc, lr, imgPerSec: ema, etaSec: (remaining * bs) / Math.max(ema, 1e-6), trainAcc: stats.correct / bs });
    // A step budget ends mid-epoch: treat it as the end of this (short) epoch.
    if (state.globalStep >= run.totalSteps) break;
  }
  return sums;
}
