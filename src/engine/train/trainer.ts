// The KE-FER training loop: seeded, cancellable, checkpointed every epoch, resumable to the same result as
// an uninterrupted run (data order and augmentation are derived from (seed, epoch, step)). A run is a short
// sequence of steps, each in its own module:
//   openRun        new or resumed model, optimizer, settings          (run.ts)
//   createRuntime  the runtime that trains it (runtimes/registry.ts)  (runtime.ts)
//   runEpoch       the epoch's steps on that runtime                  (epoch.ts)
//   endEpoch       validation on that runtime, best + last checkpoint (validate.ts)
//   diagnose       per-sample records from the best checkpoint        (diagnose.ts)
//   finishRun      run.json, the done event                           (run.ts)
import { LoaderPool } from '../data/prefetch.js';
import type { TrainConfig, TrainInputs, TrainResult } from './config.js';
import { diagnose } from './diagnose.js';
import { runEpoch } from './epoch.js';
import { loaderWorkersFor } from './batches.js';
import { closeRun, finishRun, openRun } from './run.js';
import { createRuntime } from './runtime.js';
import { endEpoch } from './validate.js';

export { DEFAULT_TRAIN_CONFIG, type EpochHistory, type TrainConfig, type TrainInputs, type TrainResult } from './config.js';
export { resolveTrainRuntime } from './runtime.js';
export { RUNTIME_CHOICES as TRAIN_RUNTIMES, type RuntimeChoice as TrainRuntime } from '../runtimes/registry.js';

export async function train(cfg: TrainConfig, inputs: TrainInputs): Promise<TrainResult> {
  const run = await openRun(cfg, inputs);
  let step;
  try {
    step = await createRuntime(run);
  } catch (e) {
    closeRun(run);
    throw e;
  }
  const workers = loaderWorkersFor(run);
  const pool = workers > 0 ? new LoaderPool(workers) : undefined;
  // Runtime threads and loader workers must go even when a step throws.
  try {
    for (let epoch = run.state.epoch; epoch < cfg.epochs && run.state.globalStep < run.totalSteps; epoch++) {
      const sums = await runEpoch(run, step, epoch, pool);
      if (!sums) break;
      await endEpoch(run, step, epoch, sums);
    }
  } finally {
    await pool?.close();
    await step.dispose();
  }
  return finishRun(run, await diagnose(run));
}
