// The FER+ label schemes and --balance through the real trainer, on each runtime that trains the encoder
// (tfjs here on wasm; onnx, and onednn where its addon is built): the soft targets reach the shared loss
// code in every one. One-class votes must train exactly as majority labels; mixed votes must not.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Dataset } from '../../src/engine/data/types.js';
import type { BackendReport, EngineEvent } from '../../src/engine/events.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { train, type TrainConfig, type TrainRuntime } from '../../src/engine/train/trainer.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import { tinyTrainData, TINY_TRAIN } from './train-helpers.js';

let backend: BackendReport;
let trainSet: Dataset;
let work: string;

before(async () => {
  ({ backend, work, trainSet } = await tinyTrainData('kefer-schemes-'));
});

/** Each sample's 10 votes: all for its label, or 6 for it and 4 for the next class. */
function withVotes(ds: Dataset, mixed: boolean): Dataset {
  return { ...ds, format: 'ferplus', samples: ds.samples.map((s) => {
    const votes = new Array(10).fill(0);
    votes[s.label] = mixed ? 6 : 10;
    if (mixed) votes[(s.label + 1) % ds.classes.length] += 4;
    return { ...s, votes };
  }) };
}

async function stepLosses(cfg: Partial<TrainConfig>, ds: Dataset, name: string): Promise<number[][]> {
  const steps: number[][] = [];
  const text = standinTextEmbeddings(ds.classes, ds.classes);
  await train({ ...TINY_TRAIN, epochs: 1, maxSteps: 3, ...cfg }, {
    train: ds, text, backend, outDir: path.join(work, name), diagnose: 'none',
    onEvent: (e: EngineEvent) => { if (e.type === 'step') steps.push([e.ls, e.lt, e.lc]); },
  });
  return steps;
}

const runtimes: TrainRuntime[] = ['tfjs', 'onnx', ...(loadOnednn().addon ? ['onednn' as const] : [])];

test('--workers 2 (tfjs data-parallel): the soft targets reach every replica; one-class votes train as majority', async () => {
  const majority = await stepLosses({ runtime: 'tfjs', workers: 2 }, trainSet, 'par-maj');
  const soft = await stepLosses({ runtime: 'tfjs', workers: 2, ferplusLabels: 'crossentropy' }, withVotes(trainSet, false), 'par-ce-one');
  soft.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - majority[i][j]) < 1e-4 * Math.max(1, Math.abs(majority[i][j])), `step ${i + 1} term ${j}: ${x} vs ${majority[i][j]}`)));
  const mixed = await stepLosses({ runtime: 'tfjs', workers: 2, ferplusLabels: 'crossentropy' }, withVotes(trainSet, true), 'par-ce-mixed');
  assert.notEqual(mixed[0][0].toFixed(4), majority[0][0].toFixed(4));
});

for (const runtime of runtimes) {
  test(`${runtime}: every label scheme on one-class votes trains as majority; mixed votes change the losses`, async () => {
    const majority = await stepLosses({ runtime }, trainSet, `${runtime}-maj`);
    assert.equal(majority.length, 3);
    const one = withVotes(trainSet, false);
    for (const scheme of ['crossentropy', 'probability', 'multitarget'] as const) {
      const got = await stepLosses({ runtime, ferplusLabels: scheme }, one, `${runtime}-${scheme}-one`);
      got.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - majority[i][j]) < 1e-4 * Math.max(1, Math.abs(majority[i][j])), `${scheme} step ${i + 1} term ${j}: ${x} vs ${majority[i][j]}`)));
    }
    const mixed = await stepLosses({ runtime, ferplusLabels: 'crossentropy' }, withVotes(trainSet, true), `${runtime}-ce-mixed`);
    // Step 1 starts from the same weights: Ls under a 60/40 target is larger than under the one-hot one
    // unless the model already puts 40% on the second class (it does not at initialisation).
    assert.notEqual(mixed[0][0].toFixed(4), majority[0][0].toFixed(4));
    const weighted = await stepLosses({ runtime, balance: 'weights' }, { ...trainSet, samples: trainSet.samples.filter((s, i) => s.label !== 0 || i % 5 === 0) }, `${runtime}-weights`);
    assert.ok(weighted.every((r) => r.every(Number.isFinite)));
  });
}
