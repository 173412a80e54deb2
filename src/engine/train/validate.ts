// The end of an epoch: validation on the runtime that trains (its inference forward), the epoch's history
// entry, the best checkpoint when validation improved, checkpoints/last and the epoch event.
import { evaluate, type EvalResult } from '../eval/evaluate.js';
import type { TrainStep } from '../runtimes/types.js';
import type { EpochHistory } from './config.js';
import type { EpochSums } from './epoch.js';
import { saveLast, type Run } from './run.js';

/** v on the validation set from the runtime's current weights, in its batch size (none without a validation set). */
export async function validateOnRuntime(run: Run, step: TrainStep): Promise<EvalResult | undefined> {
  const { inputs, valImages } = run;
  if (!inputs.val || !valImages) return undefined;
  const t0 = performance.now();
  const ev = await step.evalEncoder();
  try {
    const r = await evaluate({ ...run.evalModel, forward: ev.forward, forwardPixels: ev.forwardPixels }, inputs.val, valImages, { signal: inputs.signal, batchSize: ev.batchSize });
    const seconds = (performance.now() - t0) / 1000;
    await run.log({ type: 'log', level: 'info', message: `validation: ${r.summary.n} images in ${seconds.toFixed(2)} s (${(r.summary.n / seconds).toFixed(1)} img/s) on ${ev.detail}` });
    return r;
  } finally {
    ev.release();
  }
}

export async function endEpoch(run: Run, step: TrainStep, epoch: number, sums: EpochSums): Promise<void> {
  const { state, batch: bs } = run;
  await step.sync();
  const val = await validateOnRuntime(run, step);
  const steps = Math.max(1, sums.seen / bs);
  const entry: EpochHistory = {
    epoch: epoch + 1, step: state.globalStep, lr: sums.lr, trainLoss: sums.loss / steps, ls: sums.ls / steps, lt: sums.lt / steps, lc: sums.lc / steps,
    trainAccuracy: sums.seen ? sums.correct / sums.seen : 0,
    valAccuracy: val?.summary.accuracy ?? null, valMeanClassAccuracy: val?.summary.meanClassAccuracy ?? null,
    valLoss: val ? val.summary.losses.ls : null, seconds: (Date.now() - sums.start) / 1000,
  };
  state.history.push(entry);
  const isBest = !val || state.bestValAccuracy === null || val.summary.accuracy > state.bestValAccuracy;
  if (isBest) {
    state.bestEpoch = epoch + 1;
    state.bestValAccuracy = val?.summary.accuracy ?? null;
  }
  await saveLast(run, 0, epoch + 1, isBest ? { val } : undefined);
  await run.log({ type: 'epoch', epoch: epoch + 1, step: state.globalStep, trainLoss: entry.trainLoss, valAccuracy: entry.valAccuracy, valMeanClassAccuracy: entry.valMeanClassAccuracy, valLoss: entry.valLoss, best: isBest, checkpoint: isBest ? run.bestDir : run.lastDir });
}
