// Trains one KE-FER configuration inside a wall-time budget with the engine's trainer:
// a 3-step calibration sizes the epoch count so the cosine schedule completes inside the budget,
// then an AbortSignal stops the run at the budget as a safety net. An abort that falls inside an
// epoch's validation pass is deferred to the end of that pass (aborting there would throw away the
// epoch's checkpoint), so the overrun is at most one validation pass.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset, ImageCache } from '../../src/engine/data/index.js';
import type { BackendReport, EngineEvent } from '../../src/engine/events.js';
import type { TextEmbeddings } from '../../src/engine/text/index.js';
import { train, type TrainConfig } from '../../src/engine/train/trainer.js';
import type { CurvePoint } from './format.js';

export interface BudgetRun {
  config: TrainConfig;
  checkpoint: string;
  /** 'validation': best epoch on FERPlus valid; 'last-partial': budget hit before the first epoch ended. */
  selectedOn: 'validation' | 'last-partial';
  bestEpoch: number;
  curve: CurvePoint[];
  trainSec: number;
  secPerStep: number;
  imgPerSec: number;
  stepsDone: number;
  stoppedByBudget: boolean;
}

/** Seconds per optimizer step, from steps 2..3 of a throwaway 3-step run (step 1 warms XNNPACK up). */
export async function calibrate(cfg: TrainConfig, trainSet: Dataset, text: TextEmbeddings, backend: BackendReport, outDir: string, trainImages: ImageCache): Promise<number> {
  const stamps: number[] = [];
  await train({ ...cfg, epochs: 1, maxSteps: 3 }, {
    train: trainSet, text, backend, outDir, diagnose: 'none', trainImages,
    onEvent: (e) => { if (e.type === 'step') stamps.push(performance.now()); },
  });
  await rm(outDir, { recursive: true, force: true });
  return (stamps[2] - stamps[0]) / 2000;
}

/** Epochs that fit: one epoch = its steps + a validation pass (forward only, ~1/3 of a step per image). */
export function epochsForBudget(budgetSec: number, secPerStep: number, nTrain: number, batch: number, nVal: number): number {
  const steps = Math.max(1, Math.floor(nTrain / batch));
  const epochSec = steps * secPerStep + (nVal / batch) * secPerStep * 0.4;
  // 10% margin: image decoding in epoch 1 and other people's load on this machine.
  return Math.max(1, Math.floor((0.9 * budgetSec) / epochSec));
}

export async function trainWithBudget(
  cfg: TrainConfig,
  inputs: { train: Dataset; val: Dataset; valDescription: string; text: TextEmbeddings; backend: BackendReport; outDir: string; trainImages: ImageCache; valImages: ImageCache },
  budgetSec: number,
  secPerStep: number,
  log: (line: string) => void,
): Promise<BudgetRun> {
  const ac = new AbortController();
  const stepsPerEpoch = Math.max(1, Math.floor(inputs.train.samples.length / Math.min(cfg.batchSize, inputs.train.samples.length)));
  let inValidation = false;
  let abortPending = false;
  let stoppedByBudget = false;
  let lastStep = 0;
  let lastLr = 0;
  let lastIps = 0;
  const curve: CurvePoint[] = [];
  const t0 = performance.now();
  const timer = setTimeout(() => {
    stoppedByBudget = true;
    if (inValidation) abortPending = true;
    else ac.abort();
  }, budgetSec * 1000);
  let lastPrint = 0;
  const onEvent = (e: EngineEvent) => {
    if (e.type === 'step') {
      lastStep = e.step; lastLr = e.lr; lastIps = e.imgPerSec;
      // The last step of an epoch is followed by the validation pass.
      inValidation = e.step % stepsPerEpoch === 0;
      const now = performance.now();
      if (now - lastPrint > 30_000) {
        lastPrint = now;
        log(`  step ${e.step}/${e.totalSteps} epoch ${e.epoch} loss ${e.loss.toFixed(3)} (Ls ${e.ls.toFixed(3)} Lt ${e.lt.toFixed(3)} Lc ${e.lc.toFixed(3)}) ${e.imgPerSec.toFixed(1)} img/s, ${((now - t0) / 60000).toFixed(1)} min`);
      }
    } else if (e.type === 'epoch') {
      inValidation = false;
      curve.push({ epoch: e.epoch, valWar: e.valAccuracy, valUar: e.valMeanClassAccuracy, trainLoss: e.trainLoss, lr: lastLr, wallSec: (performance.now() - t0) / 1000, best: e.best });
      log(`  epoch ${e.epoch}: val WAR ${e.valAccuracy === null ? 'n/a' : (100 * e.valAccuracy).toFixed(1) + '%'} UAR ${e.valMeanClassAccuracy === null ? 'n/a' : (100 * e.valMeanClassAccuracy).toFixed(1) + '%'} train loss ${e.trainLoss.toFixed(3)}${e.best ? ' (best)' : ''}`);
      if (abortPending) ac.abort();
    } else if (e.type === 'log' && e.level === 'warn') {
      log(`  ${e.message}`);
    }
  };
  try {
    await train(cfg, { ...inputs, signal: ac.signal, onEvent, diagnose: 'none' });
  } catch (err) {
    // Only an abort landing inside an evaluation may throw; anything else is a real failure.
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  const trainSec = (performance.now() - t0) / 1000;
  const best = path.join(inputs.outDir, 'checkpoints', 'best');
  const last = path.join(inputs.outDir, 'checkpoints', 'last');
  const haveBest = existsSync(path.join(best, 'config.json')) || curve.some((c) => c.best);
  const bestPoint = curve.filter((c) => c.best).at(-1);
  return {
    config: cfg,
    checkpoint: haveBest ? best : last,
    selectedOn: haveBest ? 'validation' : 'last-partial',
    bestEpoch: bestPoint?.epoch ?? 0,
    curve,
    trainSec,
    secPerStep,
    imgPerSec: lastIps,
    stepsDone: lastStep,
    stoppedByBudget,
  };
}
