// `kefer issues --cross-val K`: out-of-fold records of every training sample (src/engine/issues/crossvalRun.ts),
// written as a run (OUT/records.jsonl + run.json + issues.json) and registered in the store, so the
// diagnostics panel's "suspicious labels" sort reads them.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { initBackend, BACKEND_PREFERENCES } from '../backend/index.js';
import { loadDataset } from '../data/index.js';
import type { SampleRecord } from '../eval/types.js';
import type { CrossValCliEvent } from '../events.js';
import { runCrossValidation, type CrossValEvent, type CrossValMode } from '../issues/crossvalRun.js';
import { confidentLearning } from '../issues/confidentLearning.js';
import { resolveTextEmbeddings } from '../text/index.js';
import { num, oneOf } from './args.js';
import { UserError } from './errors.js';
import { openStore, registerRunDir, withOverlay } from './storeLink.js';
import { parseTrainConfig } from './trainSetup.js';
import { trainSplitOnly } from './validation.js';

export const CROSS_VAL_HELP = `Cross-validation: kefer issues --cross-val K --data SPEC --out RUN_DIR [--features hog | --checkpoint DIR | --backbone NAME]
Trains K times, each time on K-1 stratified folds, and records every training sample's held-out
probabilities and KE-FER signals (simText, simNeutral, gap, align) in RUN_DIR/records.jsonl; then ranks.
  --features hog       (default) the KE-FER head on label-free HOG features: minutes, fully out-of-sample
  --checkpoint DIR     fast mode: the head on the frozen encoder features of a base run's checkpoint
                       (the encoder saw every label: a memorised wrong label ranks lower than it should)
  --backbone NAME      the whole model per fold (compact | resnet18; uses kefer train's --input-size,
                       --batch, --lr, --runtime, --onnx-threads, --augment, --backend): slow, honest
  --epochs N           head epochs (default 10) or model epochs (default 15) per fold
  --seed N (1)  --text SOURCE (standin: auto may load CLIP)  --store PATH (apply its relabel overlay;
  register the run and its records)  --events text|json
Resumable: finished folds are kept under RUN_DIR/folds/ and read back by a rerun with the same data,
K, seed and mode; an interrupted fold in --backbone mode resumes from its last checkpoint.`;

export const CROSS_VAL_OPTIONS = {
  'cross-val': { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, features: { type: 'string' }, checkpoint: { type: 'string' },
  backbone: { type: 'string' }, epochs: { type: 'string' }, seed: { type: 'string' }, text: { type: 'string' }, store: { type: 'string' },
  events: { type: 'string' }, 'input-size': { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, runtime: { type: 'string' },
  'onnx-threads': { type: 'string' }, augment: { type: 'string' }, backend: { type: 'string' },
} as const;

export interface CrossValCliResult {
  records: SampleRecord[];
  recordsFile: string;
  classes: string[];
}

export async function runCrossValCli(f: Record<string, unknown>): Promise<CrossValCliResult> {
  const k = num(f, 'cross-val', 5, { int: true, min: 2 });
  if (typeof f.data !== 'string') throw new UserError('--cross-val needs --data SPEC (the dataset whose training labels to check)');
  if (typeof f.out !== 'string') throw new UserError('--cross-val needs --out RUN_DIR (records, per-fold results for resuming)');
  const modes = [f.features !== undefined, f.checkpoint !== undefined, f.backbone !== undefined].filter(Boolean).length;
  if (modes > 1) throw new UserError('give at most one of --features hog, --checkpoint DIR, --backbone NAME');
  if (f.features !== undefined && f.features !== 'hog') throw new UserError(`--features: expected hog, got '${String(f.features)}' (for a base run's features use --checkpoint DIR)`);
  const json = oneOf(f, 'events', ['text', 'json'] as const, 'text') === 'json';
  // Typed: the extension parses these lines (src/extension/crossValidation.ts).
  const say = (e: CrossValCliEvent, text: string) => (json ? console.log(JSON.stringify(e)) : console.error(text));
  const seed = num(f, 'seed', 1, { int: true, min: 0 });
  const out = path.resolve(f.out);

  const original = trainSplitOnly(await loadDataset(f.data)); // cross-validation never touches test
  if (original.samples.length < k) throw new UserError(`--data ${f.data}: ${original.samples.length} samples, fewer than K = ${k}`);
  const store = typeof f.store === 'string' ? openStore(f.store) : undefined;
  try {
    let ds = original;
    if (store) {
      const o = withOverlay(store, original);
      ds = o.dataset;
      say({ type: 'log', message: 'overlay', relabeled: o.relabeled, excluded: o.excluded }, `label overlay from ${String(f.store)}: ${o.relabeled} relabeled, ${o.excluded} excluded`);
    }
    const text = f.checkpoint === undefined ? await resolveTextEmbeddings(typeof f.text === 'string' ? f.text : 'standin', ds.classes, { log: (m) => say({ type: 'log', message: m }, m) }) : undefined;
    let mode: CrossValMode;
    if (f.backbone !== undefined) {
      const backend = await initBackend(oneOf(f, 'backend', BACKEND_PREFERENCES, 'auto'), (m) => say({ type: 'log', message: m }, m));
      mode = { kind: 'backbone', config: { ...parseTrainConfig({ ...f, epochs: f.epochs ?? '15' }), seed }, backend };
    } else {
      await initBackend('wasm');
      const epochs = num(f, 'epochs', 10, { int: true, min: 1 });
      mode = typeof f.checkpoint === 'string' ? { kind: 'checkpoint', dir: path.resolve(f.checkpoint), epochs } : { kind: 'hog', epochs };
    }
    say({ type: 'start', k, samples: ds.samples.length, mode: mode.kind, epochs: mode.kind === 'backbone' ? mode.config.epochs : mode.epochs }, `cross-validating ${ds.samples.length} samples in ${k} folds (${mode.kind === 'backbone' ? `${mode.config.backbone}, ${mode.config.epochs} epochs` : `KE-FER head on ${mode.kind === 'hog' ? 'HOG' : 'checkpoint'} features, ${mode.epochs} epochs`} per fold)`);
    const t0 = performance.now();
    const onEvent = (e: CrossValEvent) => {
      if (e.type === 'features') say(e, `features: ${e.rows} x ${e.dim} in ${e.seconds.toFixed(1)} s`);
      else if (e.type === 'fold-start') say(e, `fold ${e.fold}/${e.k}: training on ${e.train}, holding out ${e.heldOut}`);
      else if (e.type === 'fold-done') say({ ...e, elapsed: (performance.now() - t0) / 1000 }, `fold ${e.fold}/${e.k}: ${e.resumed ? 'read back from a previous run' : `done in ${e.seconds.toFixed(1)} s`}`);
      else if (e.event.type === 'epoch') say({ type: 'fold-epoch', fold: e.fold, epoch: e.event.epoch, trainLoss: e.event.trainLoss }, `fold ${e.fold}/${k} epoch ${e.event.epoch}: train loss ${e.event.trainLoss.toFixed(4)}`);
    };
    const records = await runCrossValidation({ dataset: ds, mode, text, k, seed, dir: path.join(out, 'folds'), onEvent });

    await mkdir(out, { recursive: true });
    const recordsFile = path.join(out, 'records.jsonl');
    await writeFile(`${recordsFile}.tmp`, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await rename(`${recordsFile}.tmp`, recordsFile);
    const cl = confidentLearning(records.map((r) => r.probs), records.map((r) => r.label));
    const accuracy = records.filter((r) => r.pred === r.label).length / records.length;
    const summary = {
      crossVal: { k, seed, mode: mode.kind, epochs: mode.kind === 'backbone' ? mode.config.epochs : mode.epochs, checkpoint: mode.kind === 'checkpoint' ? mode.dir : undefined },
      outOfFoldAccuracy: accuracy,
      confidentLearning: {
        estimatedIssues: cl.estimatedIssues, perClass: ds.classes.map((c, i) => ({ class: c, samples: ds.samples.filter((s) => s.label === i).length, threshold: cl.thresholds[i], estimatedIssues: cl.issueCounts[i], noiseRate: cl.noiseRates[i] })),
        joint: cl.joint,
      },
    };
    await writeFile(path.join(out, 'issues.json'), JSON.stringify(summary, null, 2) + '\n');
    await writeFile(path.join(out, 'run.json'), JSON.stringify({ kind: 'cross-val', data: f.data, config: { classes: ds.classes, ...summary.crossVal }, records: records.length }, null, 2) + '\n');
    say({ type: 'done', records: records.length, accuracy, estimatedIssues: cl.estimatedIssues, recordsFile }, `${records.length} out-of-fold records in ${recordsFile}; out-of-fold accuracy ${(100 * accuracy).toFixed(1)}%; confident learning estimates ${cl.estimatedIssues} label issues`);
    if (store) {
      const r = registerRunDir(store, original, f.data, out, 'done', { outOfFoldAccuracy: accuracy, estimatedIssues: cl.estimatedIssues, crossVal: summary.crossVal }, {
        backbone: mode.kind === 'backbone' ? mode.config.backbone : `head on ${mode.kind} features`, config: summary.crossVal, textSource: text?.source.description ?? 'checkpoint', backend: 'cross-validation',
      });
      say({ type: 'registered', run: r.runId, records: r.records }, `registered run ${r.runId} with ${r.records} out-of-fold records in ${String(f.store)}`);
    }
    return { records, recordsFile, classes: ds.classes };
  } finally {
    store?.close();
  }
}
