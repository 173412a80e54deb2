// `kefer train --engine torch`: the same training on PyTorch under torchrun (python/kefer_torch), for
// runs that outgrow one machine. This side does what the engine does around its own loop: the data
// pre-flight, the relabel overlay, the validation choice and the text embeddings; it hands the trainer
// the resolved sample lists (RUN_DIR/torch/), streams rank 0's events, then evaluates the selected
// checkpoint on onnxruntime (per-sample records, scatter) and registers the run in the store.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Dataset } from '../data/types.js';
import { describeDataset } from '../data/types.js';
import type { EngineEvent } from '../events.js';
import type { EvalResult } from '../eval/evaluate.js';
import { pca2d } from '../eval/projection.js';
import { evaluateCheckpointOnnx } from '../onnx/runtime.js';
import { resolveTextEmbeddings, writeTextEmbeddingsJson } from '../text/index.js';
import { readCheckpointConfig } from '../model/checkpoint.js';
import type { EpochHistory, TrainResult } from '../train/trainer.js';
import { readSafetensors } from '../util/safetensors.js';
import { describeFailure, rootFailure, runTorchrun, torchrunArgs, type Distribution } from '../torch/launch.js';
import { findTorchPython } from '../torch/python.js';
import { num, oneOf } from './args.js';
import { UserError } from './errors.js';
import { openStore, registerTrainedRun, withOverlay } from './storeLink.js';
import { chooseValidation, trainSplitOnly } from './validation.js';
import { overlaid, parseTrainConfig, preflight } from './trainSetup.js';
import type { DataCheckRecord } from '../data/preflight.js';

export const TORCH_BACKBONES = ['resnet18', 'compact', 'swin_t'] as const;

type Flags = Record<string, unknown>;
type Print = (e: EngineEvent) => void;

/** torchrun's layout from --nproc, --nnodes, --node-rank, --rdzv, --rdzv-id, --rdzv-backend. */
export function parseDistribution(f: Flags): Distribution {
  const nproc = num(f, 'nproc', 1, { int: true, min: 1 });
  const nnodes = f.nnodes === undefined ? undefined : String(f.nnodes);
  if (nnodes !== undefined && !/^\d+(:\d+)?$/.test(nnodes)) throw new UserError(`--nnodes: expected N or MIN:MAX, got '${nnodes}'`);
  const multi = nnodes !== undefined && nnodes !== '1';
  if (multi && !f.rdzv) throw new UserError('--nnodes over 1 needs --rdzv HOST:PORT (the rendezvous endpoint every node reaches, e.g. the first node of the job)');
  if (f.rdzv !== undefined && !/^[^\s:]+:\d+$/.test(String(f.rdzv))) throw new UserError(`--rdzv: expected HOST:PORT, got '${String(f.rdzv)}'`);
  return {
    nproc, nnodes,
    nodeRank: f['node-rank'] !== undefined ? num(f, 'node-rank', 0, { int: true, min: 0 }) : undefined,
    rdzv: f.rdzv as string | undefined, rdzvId: f['rdzv-id'] as string | undefined, rdzvBackend: f['rdzv-backend'] as string | undefined,
  };
}

/** The engine's flags that mean nothing to the torch trainer (a clear error instead of a silent ignore). */
function refuseEngineOnly(f: Flags): void {
  if (f.mode === 'head') throw new UserError('--mode head (the quick retrain) runs on the engine: drop --engine torch');
  if (f.runtime !== undefined && f.runtime !== 'auto') throw new UserError(`--runtime ${String(f.runtime)} picks one of the engine's runtimes; --engine torch trains on PyTorch (drop --runtime)`);
  if (f.workers !== undefined) throw new UserError('--workers is the engine\'s thread data parallelism; with --engine torch use --nproc');
  if (f['ferplus-labels'] !== undefined && f['ferplus-labels'] !== 'majority') throw new UserError(`--ferplus-labels ${String(f['ferplus-labels'])} is not in the torch trainer yet (it trains on the labels): drop it or train on the engine`);
  if (f.precision !== undefined && f.precision !== 'fp32' && f.precision !== 'amp') throw new UserError(`--precision ${String(f.precision)}: --engine torch takes fp32 or amp (CUDA autocast)`);
}

/** "relative/path label" lines (kefer_torch's list format, as `kefer labels export --format list`). */
function writeList(file: string, ds: Dataset): void {
  const lines: string[] = [];
  for (const s of ds.samples) {
    if (s.pixels) throw new UserError(`--engine torch reads image files; ${describeDataset(ds)} holds its pixels in ${s.path}: export it as image files first (kefer labels export --format folder)`);
    if (/[\r\n]/.test(s.path)) throw new UserError(`${describeDataset(ds)}: sample path '${s.path}' contains a line break`);
    lines.push(`${s.path} ${s.label}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}

const listSpec = (file: string, ds: Dataset) => `list:${file}?root=${encodeURIComponent(path.resolve(ds.root))}&classes=${ds.classes.length}`;

/** What `last` holds after a failure, checked by reading it as the engine would. */
function describeLast(runDir: string): string {
  const last = path.join(runDir, 'checkpoints', 'last');
  if (!existsSync(path.join(last, 'state.json'))) return `no checkpoint was saved yet (${last} is empty): start again`;
  try {
    const state = JSON.parse(readFileSync(path.join(last, 'state.json'), 'utf8')) as { epoch: number; stepInEpoch: number; globalStep: number };
    return `${last} (saved at step ${state.globalStep}, ${state.stepInEpoch ? `step ${state.stepInEpoch} of epoch ${state.epoch + 1}` : `the end of epoch ${state.epoch}`}) is intact: run the same command with --resume`;
  } catch (e) {
    return `${last} could not be read (${(e as Error).message})`;
  }
}

async function checkLastLoads(runDir: string): Promise<void> {
  const last = path.join(runDir, 'checkpoints', 'last');
  if (!existsSync(last)) return;
  await readCheckpointConfig(last);
  await readSafetensors(path.join(last, 'model.safetensors'));
}

interface RunJson {
  history: EpochHistory[];
  bestEpoch: number;
  selectedOn: 'validation' | 'last-epoch';
  status: string;
  [k: string]: unknown;
}

export async function runTorchTrain(f: Flags, print: Print): Promise<number> {
  const log = (message: string) => print({ type: 'log', level: 'info', message });
  refuseEngineOnly(f);
  const backbone = oneOf(f, 'backbone', TORCH_BACKBONES, 'resnet18');
  const cfg = { ...parseTrainConfig({ ...f, backbone: undefined, runtime: undefined, precision: undefined }), backbone };
  const dist = parseDistribution(f);
  const nodes = dist.nnodes && /^\d+$/.test(dist.nnodes) ? Number(dist.nnodes) : undefined;
  const world = dist.nproc * (nodes ?? 1);
  if ((nodes || !dist.nnodes) && cfg.batchSize % world) throw new UserError(`--batch ${cfg.batchSize} is the global batch: it must split evenly over ${world} processes`);
  const found = await findTorchPython();
  if (!found.ok) throw new UserError(`--engine torch: ${found.why}`);
  const py = found.info;
  log(`PyTorch ${py.torch}, torchvision ${py.torchvision} (${py.python}${py.cuda ? `; CUDA: ${py.devices.join(', ')}` : '; no CUDA device'})`);

  const pre = await preflight(f.data as string, !!f['skip-bad'], log);
  const original = trainSplitOnly(pre.dataset);
  if (original.samples.length === 0) throw new UserError(`--data ${String(f.data)}: no samples`);
  const store = f.store ? openStore(f.store as string) : undefined;
  try {
    const full = store ? overlaid(store, original, f.store as string, log) : original;
    let valCheck: DataCheckRecord | undefined;
    const loadVal = async (spec: string) => {
      const p = await preflight(spec, !!f['skip-bad'], log, '--val');
      valCheck = p.record;
      return p.dataset;
    };
    const choice = await chooseValidation(f.data as string, full, f.val as string | undefined, num(f, 'holdout', 0.1, { min: 0 }), cfg.seed, loadVal);
    if (store && choice.val) choice.val = withOverlay(store, choice.val).dataset;
    log(`validation (selects the checkpoint): ${choice.description}`);
    const text = await resolveTextEmbeddings((f.text as string | undefined) ?? 'auto', choice.train.classes, { log });

    const runDir = path.resolve(f.out as string);
    const job = path.join(runDir, 'torch');
    mkdirSync(job, { recursive: true });
    writeList(path.join(job, 'train.txt'), choice.train);
    if (choice.val) writeList(path.join(job, 'val.txt'), choice.val);
    writeTextEmbeddingsJson(path.join(job, 'text.json'), text);
    const dataCheck = valCheck ? { ...pre.record, val: valCheck } : pre.record;
    const t = choice.train;
    writeFileSync(path.join(job, 'meta.json'), JSON.stringify({
      dataset: describeDataset(t), synthetic: !!t.synthetic, validation: choice.description, dataCheck,
      datasetInfo: { format: t.format, root: t.root, split: t.split, n: t.samples.length, synthetic: !!t.synthetic },
    }, null, 2) + '\n');

    const args = [
      '--data', listSpec(path.join(job, 'train.txt'), t), '--val', choice.val ? listSpec(path.join(job, 'val.txt'), choice.val) : 'none',
      '--text', path.join(job, 'text.json'), '--meta', path.join(job, 'meta.json'), '--out', runDir, '--backbone', backbone,
      '--epochs', String(cfg.epochs), '--batch', String(cfg.batchSize), '--lr', String(cfg.lr), '--warmup-epochs', String(cfg.warmupEpochs),
      '--warmup-lr', String(cfg.warmupLr), '--momentum', String(cfg.momentum), '--weight-decay', String(cfg.weightDecay), '--contrast', cfg.contrast,
      '--logit-scale', String(cfg.logitScale), '--lambda-s', String(cfg.lambdaS), '--lambda-t', String(cfg.lambdaT), '--lambda-c', String(cfg.lambdaC),
      '--seed', String(cfg.seed), '--augment', cfg.augment ?? 'standard', '--balance', cfg.balance ?? 'none', '--events', 'json',
    ];
    if (cfg.inputSize) args.push('--input-size', String(cfg.inputSize));
    if (cfg.maxSteps) args.push('--max-steps', String(cfg.maxSteps));
    if (cfg.init) args.push('--init', path.resolve(cfg.init));
    if (f.resume) args.push('--resume');
    if (f['sync-bn']) args.push('--sync-bn');
    if (f.precision === 'amp') args.push('--amp');
    if (f.device) args.push('--device', oneOf(f, 'device', ['auto', 'cpu', 'cuda'] as const, 'auto'));
    if (f['loader-workers'] !== undefined) args.push('--loader-workers', String(num(f, 'loader-workers', 0, { int: true, min: 0 })));

    if (f['prepare-only']) {
      // For clusters whose compute nodes have Python but no node: the lists and the command, no training.
      const quote = (x: string) => (/^[\w@%+=:,./-]+$/.test(x) ? x : `'${x.replace(/'/g, `'\\''`)}'`);
      const cmd = [`PYTHONPATH=${quote(py.pythonPath)}`, quote(py.python), ...torchrunArgs(dist), '-m', 'kefer_torch', 'train', ...args].map((x, i) => (i < 2 ? x : quote(x))).join(' ');
      writeFileSync(path.join(job, 'command.sh'), `#!/bin/sh\n# kefer train --engine torch --prepare-only: the trainer for ${runDir}\n${cmd} "$@"\n`, { mode: 0o755 });
      log(`prepared ${job} (train.txt${choice.val ? ', val.txt' : ''}, text.json, meta.json, command.sh); the trainer: ${cmd}`);
      return 0;
    }
    const handle = runTorchrun({ python: py, dist, args, runDir, onEvent: print, onText: (line) => process.stderr.write(line + '\n') });
    let signals = 0;
    const onSignal = () => {
      // First: every rank stops at its next step and `last` is saved. Second: torchrun is stopped.
      log(++signals === 1 ? 'cancelling: the ranks stop at the next step and save a resumable checkpoint' : 'stopping torchrun');
      handle.stop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const r = await handle.result.finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });

    if (!r.done) {
      if (r.code === 0 && dist.nnodes && dist.nnodes !== '1') {
        log('this node\'s ranks finished; the node that ran rank 0 evaluates the run and registers it');
        return 0;
      }
      const root = rootFailure(r.failures);
      await checkLastLoads(runDir).catch((e: Error) => log(`checkpoints/last does not load: ${e.message}`));
      // a rank that stopped on bad input printed one "kefer_torch: ..." line: the reason in its words
      const own = r.stderr.split('\n').reverse().find((l) => l.startsWith('kefer_torch: '))?.slice('kefer_torch: '.length);
      if (root && own && (!root.reason || /To enable traceback|<N\/A>/.test(root.reason))) root.reason = own;
      const why = root ? describeFailure(root) : own ?? `torchrun exited with ${r.signal ?? `code ${r.code}`}`;
      const others = r.failures.filter((x) => x !== root).map((x) => `rank ${x.rank}`);
      const message = `--engine torch: ${why}; the job was stopped${others.length ? ` (${others.join(', ')} stopped with it)` : ''}. ${describeLast(runDir)}`;
      // the extension shows an error event's message; on a terminal the thrown error is the one line
      if (f.events === 'json') print({ type: 'error', message });
      throw new UserError(message);
    }
    const done = r.done;
    const runFile = path.join(runDir, 'run.json');
    const run = JSON.parse(readFileSync(runFile, 'utf8')) as RunJson;
    const diagnose = oneOf(f, 'diagnose', ['none', 'val', 'all'] as const, 'val');
    let valEval: EvalResult | undefined;
    const best = path.join(runDir, 'checkpoints', 'best');
    if (!done.cancelled && diagnose !== 'none' && existsSync(best)) {
      // Per-sample records of the selected checkpoint, as the engine writes them after training.
      const lines: string[] = [];
      const scatter: { id: string; x: number; y: number }[] = [];
      const add = (res: EvalResult) => {
        for (const x of res.records) lines.push(JSON.stringify(x));
        const xy = pca2d(res.embeddings!, res.records.length, 512);
        res.records.forEach((rec, i) => scatter.push({ id: rec.id, x: Math.round(xy[2 * i] * 1e4) / 1e4, y: Math.round(xy[2 * i + 1] * 1e4) / 1e4 }));
      };
      const evalLog = (m: string) => /^onnx(runtime)?:/.test(m) && log(m);
      if (choice.val) {
        valEval = await evaluateCheckpointOnnx(best, choice.val, { keepEmbeddings: true, log: evalLog });
        add(valEval);
        writeFileSync(path.join(runDir, 'eval-val.json'), JSON.stringify(valEval.summary, null, 2) + '\n');
      }
      if (diagnose === 'all') {
        const tr = await evaluateCheckpointOnnx(best, choice.train, { keepEmbeddings: true, log: evalLog });
        add(tr);
        writeFileSync(path.join(runDir, 'eval-train.json'), JSON.stringify(tr.summary, null, 2) + '\n');
      }
      writeFileSync(path.join(runDir, 'records.jsonl'), lines.join('\n') + (lines.length ? '\n' : ''));
      writeFileSync(path.join(runDir, 'scatter.json'), JSON.stringify(scatter) + '\n');
      log(`per-sample records: ${lines.length} (onnxruntime on ${path.relative(runDir, best)})`);
    }
    writeFileSync(runFile, JSON.stringify({ ...run, valMeanClassAccuracy: valEval?.summary.meanClassAccuracy ?? null }, null, 2) + '\n');
    if (store) {
      const result: TrainResult = {
        runDir, bestCheckpoint: best, lastCheckpoint: path.join(runDir, 'checkpoints', 'last'), bestEpoch: run.bestEpoch,
        selectedOn: run.selectedOn, history: run.history, cancelled: done.cancelled, valEval,
      };
      const reg = registerTrainedRun(store, original, f.data as string, result, { backbone, config: run.config, textSource: text.source.description, backend: `torch (${(run.backend as { detail?: string } | undefined)?.detail ?? ''})`, parent: f.parent as string | undefined });
      log(`registered run ${reg.runId} with ${reg.records} per-sample records in ${String(f.store)}`);
    }
    print(done);
    return done.cancelled ? 130 : 0;
  } finally {
    store?.close();
  }
}
