// Picks and creates the training runtime for a run (runtimes/registry.ts), checks that it supports what the
// configuration asks for, and records what runs the model: run.json, the start event, the log.
import { writeFile } from 'node:fs/promises';
import { describeDataset } from '../data/types.js';
import { RUNTIMES, createTrainStep, resolveRuntime, type RuntimeChoice } from '../runtimes/registry.js';
import type { RuntimeName, TrainStep } from '../runtimes/types.js';
import type { Run } from './run.js';

/**
 * The runtime name 'auto' resolves to (registry.ts resolveRuntime); `hasOnednn` and `hasCuda` are
 * injectable for tests.
 */
export function resolveTrainRuntime(runtime: RuntimeChoice | undefined, backend: string, workers = 1, hasOnednn?: () => boolean, hasCuda?: () => boolean): RuntimeName {
  const injected = (name: RuntimeName) => {
    const probe = name === 'onednn' ? hasOnednn : name === 'cuda' ? hasCuda : undefined;
    if (!probe) return RUNTIMES[name].available();
    return probe() ? { ok: true } : { ok: false, why: 'not available' };
  };
  return resolveRuntime(runtime, { backend, workers }, injected).name;
}

/** Resolves, checks and creates the run's runtime; writes run.json and the start event. */
export async function createRuntime(run: Run): Promise<TrainStep> {
  const { cfg, inputs } = run;
  const choice = cfg.runtime ?? 'auto';
  const { name, skipped } = resolveRuntime(choice, { backend: inputs.backend.name, workers: cfg.workers });
  if (name !== 'tfjs' && (cfg.workers ?? 1) > 1) throw new Error(`--runtime ${name} uses its own threads; it cannot be combined with --workers`);
  const { supports } = RUNTIMES[name];
  if (!supports.softTargets && run.targets.scheme !== 'majority') throw new Error(`--runtime ${name} trains on majority labels for now: drop --ferplus-labels ${run.targets.scheme} or pick another runtime`);
  if (!supports.classWeights && run.loss.classWeights) throw new Error(`--runtime ${name} trains without class weights for now: drop --balance weights or pick another runtime`);
  if (cfg.precision && cfg.precision !== 'fp32' && name !== 'cuda') throw new Error(`--precision ${cfg.precision} needs --runtime cuda (the runtime is ${name})`);
  const step = await createTrainStep(name, {
    encoder: run.encoder, transform: run.transform, sgd: run.sgd, textNorm: run.textNorm, loss: run.loss, batch: run.batch, backend: inputs.backend,
    threads: cfg.onnxThreads, workers: cfg.workers, convolution: cfg.convAlgorithm, precision: cfg.precision,
  });
  run.runtime = name;
  // 'auto' says which faster runtimes it passed over, and why.
  const report = choice === 'auto' && skipped.length ? { ...step.report, detail: `${step.report.detail}; ${skipped.join('; ')}` } : step.report;
  await recordStart(run, name, report);
  return step;
}

async function recordStart(run: Run, runtime: RuntimeName, backend: TrainStep['report']): Promise<void> {
  const { cfg, inputs } = run;
  const train = inputs.train;
  const nTrain = train.samples.length;
  await writeFile(run.runFile, JSON.stringify({ status: 'running', config: cfg, runtime, backend, textSource: inputs.text.source, dataset: { format: train.format, root: train.root, split: train.split, n: nTrain, synthetic: !!train.synthetic }, validation: inputs.valDescription ?? null, dataCheck: inputs.dataCheck ?? null, started: new Date().toISOString() }, null, 2) + '\n');
  await run.log({
    type: 'start', runDir: run.dir, backend, textSource: inputs.text.source.description, textKind: inputs.text.source.kind, dataset: describeDataset(train),
    nTrain, nVal: inputs.val?.samples.length ?? 0, epochs: cfg.epochs, stepsPerEpoch: run.stepsPerEpoch, backbone: cfg.backbone, synthetic: !!train.synthetic,
  });
  for (const [check, where] of [[inputs.dataCheck, 'dataCheck'], [inputs.dataCheck?.val, 'dataCheck.val']] as const) {
    if (!check?.dropped.length) continue;
    const kinds = Object.entries(check.byKind).map(([k, n]) => `${n} ${k}`).join(', ');
    await run.log({ type: 'log', level: 'warn', message: `--skip-bad: ${where === 'dataCheck' ? 'trained' : 'validated'} without ${check.dropped.length} problem line(s)/file(s) of ${check.spec} (${kinds}); each is listed in run.json ${where}.dropped` });
  }
  const t = run.targets;
  if (t.scheme !== 'majority') await run.log({ type: 'log', level: 'info', message: `training targets: --ferplus-labels ${t.scheme} (${t.withVotes} samples on their votes, ${t.relabeled} relabeled ones on their label, ${nTrain - t.withVotes - t.relabeled} without usable votes on their label)` });
  const w = run.loss.classWeights;
  if (cfg.balance && cfg.balance !== 'none') await run.log({ type: 'log', level: 'info', message: `class balance: ${cfg.balance}${w ? ` (Ls weights ${w.map((x) => x.toFixed(2)).join(', ')})` : ''}` });
}
