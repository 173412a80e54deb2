// `kefer train`: trains KE-FER on a dataset spec and writes a run directory.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { BACKEND_PREFERENCES, initBackend } from '../backend/index.js';
import { countsByClass } from '../data/index.js';
import type { DataCheckRecord } from '../data/preflight.js';
import { resolveTextEmbeddings } from '../text/index.js';
import { train } from '../train/trainer.js';
import { num, oneOf } from './args.js';
import { UserError } from './errors.js';
import { createPrinter } from './output.js';
import { chooseValidation, trainSplitOnly } from './validation.js';
import { trainHead } from '../train/quickRetrain.js';
import { isOnnxOnlyBackbone, readCheckpointConfig } from '../model/checkpoint.js';
import { openStore, registerRunDir, registerTrainedRun, withOverlay } from './storeLink.js';
import { overlaid, parseTrainConfig, preflight } from './trainSetup.js';

export const summary = 'train KE-FER on a dataset (writes checkpoints, run.json, records.jsonl)';

const HELP = `usage: kefer train --data SPEC --out RUN_DIR [options]
  --data SPEC            <format>:<path>[#split], e.g. ferplus:../shared/data/ferplus#train
  --val SPEC|none        validation split that selects the checkpoint (default: the dataset's own
                         validation split, else a stratified 10% hold-out; never the test split)
  --out DIR              run directory (checkpoints/best, checkpoints/last, run.json, events.jsonl)
  --skip-bad             before the first step the dataset is checked (every label line and image, as
                         'kefer data check' does); with problems training is refused with that report.
                         --skip-bad trains without the bad samples instead, lists them, and records them
                         in run.json (dataCheck) and events.jsonl
  --backbone NAME        resnet18 (default) | compact
  --input-size N         image side (default: 112 for resnet18, 48 for compact)
  --epochs N (50)  --max-steps N  --batch N (64)  --lr X (0.002)  --warmup-epochs N (1)  --warmup-lr X (1e-4)
  --momentum X (0.9)  --weight-decay X (5e-4)  --contrast pairwise|per-sample  --logit-scale X (100)
  --lambda-s X  --lambda-t X  --lambda-c X (1.0 each)
  --text SOURCE          auto | standin | clip[:MODEL|DIR] | file:PATH (.json/.npy)
  --init FILE            torchvision-named ResNet-18 safetensors as pretrained backbone
  --augment MODE         standard (released code: crop, flip, random erasing) | light (no erasing) |
                         affine (the FER+ paper's: rotation +-20 deg, scale, skew, shift 8%, flip) | none
  --ferplus-labels S     training targets from the annotators' votes (FER+ paper, Barsoum et al. 2016):
                         majority (default: the label) | crossentropy (the vote distribution as soft
                         target) | probability (a label drawn from it every epoch) | multitarget (every
                         emotion with >= 30% of the votes counts as correct); needs a ferplus: dataset
  --balance MODE         class imbalance: none (default) | sampler (class-balanced sampling) |
                         weights (Ls weighted n / (K n_class))
  --backend NAME         auto | tensorflow | webgpu | wasm
  --runtime NAME         encoder forward/backward: auto (default, without --workers: cuda when a CUDA
                         device and cuDNN are there; else, when tfjs would use wasm, i.e. on a CPU:
                         onednn if its addon is built, else onnx) | cuda (the CUDA/cuDNN addon: encoder,
                         F_n, losses and SGD on the GPU; npm run build:native) | onednn (the oneDNN
                         addon, npm run build:native; fastest on a CPU) | onnx (onnxruntime-node native
                         CPU kernels) | tfjs (the tfjs backend above)
  --precision P          --runtime cuda: fp32 (default; no TF32) | tf32 (cuDNN's default math, as
                         PyTorch's default) | amp (fp16 convolutions on tensor cores, fp32 master weights)
  --loader-workers N     decode + augment batches on N worker threads, ahead of the step (plain 8-bit
                         PNG datasets such as FERPlus; keeps a GPU fed); default 0: on the main thread
  --onnx-threads N       threads of --runtime onednn or onnx (default: one per core)
  --conv-algorithm A     onednn convolutions: auto (default: Winograd where oneDNN expects a gain) |
                         direct (PyTorch's algorithm: slower, closest numerics)
  --workers N            data-parallel replicas on worker threads, wasm only (default 1); each takes
                         batch/N images of a step; BatchNorm uses per-replica statistics
  --seed N (29)  --resume  --holdout X (0.1)
  --diagnose none|val|all  per-sample records written after training (default val)
  --events text|json     progress output format (json: one event per line, for programs)
  --store PATH           workspace store (.kefer/kefer.db): apply its relabel overlay before training,
                         register the run and its per-sample records after
  --parent RUN_ID        the run this one retrains (shown in run comparisons)
  --engine kefer|torch   kefer (default): this engine. torch: the same training on PyTorch under torchrun
                         (python/kefer_torch; DDP, many GPUs and nodes; the Python is $KEFER_PYTHON, else
                         python3, else /usr/bin/python3, with torch + torchvision). Same data, overlay,
                         checkpoints, events, records and store registration. With it:
    --backbone swin_t    also Swin-T (the released code's: 2x2 patches at 112 px, window 7, 512-d head);
                         its runs carry model.onnx, which kefer eval and the panel run on onnxruntime
    --nproc N            processes on this node (one per GPU; CPU: gloo); --batch is the global batch
    --sync-bn            BatchNorm over the global batch (all ranks): N processes step as one would
    --nnodes N|MIN:MAX --node-rank N --rdzv HOST:PORT [--rdzv-id ID] [--rdzv-backend c10d]
                         several nodes through torchrun's rendezvous (run the command on every node;
                         docs/curation.md has a SLURM sbatch template)
    --device auto|cpu|cuda  --precision amp (CUDA autocast)  --loader-workers N (DataLoader workers)
    --prepare-only       write RUN_DIR/torch/ (sample lists, text embeddings, command.sh) and print the
                         torchrun command instead of training (compute nodes without node)
  --mode full|head       full (default): the whole model. head: quick retrain — the encoder of
                         --checkpoint DIR is frozen, its features cached (onnxruntime), and only a
                         projection head + F_n train with the full KE-FER loss; re-scores every sample`;

const OPTIONS = {
  data: { type: 'string' }, val: { type: 'string' }, out: { type: 'string' }, backbone: { type: 'string' },
  'input-size': { type: 'string' }, epochs: { type: 'string' }, 'max-steps': { type: 'string' }, batch: { type: 'string' },
  lr: { type: 'string' }, 'warmup-epochs': { type: 'string' }, 'warmup-lr': { type: 'string' }, momentum: { type: 'string' },
  'weight-decay': { type: 'string' }, contrast: { type: 'string' }, 'logit-scale': { type: 'string' },
  'lambda-s': { type: 'string' }, 'lambda-t': { type: 'string' }, 'lambda-c': { type: 'string' }, text: { type: 'string' },
  init: { type: 'string' }, augment: { type: 'string' }, 'ferplus-labels': { type: 'string' }, balance: { type: 'string' }, backend: { type: 'string' }, runtime: { type: 'string' }, 'onnx-threads': { type: 'string' }, 'conv-algorithm': { type: 'string' }, precision: { type: 'string' }, 'loader-workers': { type: 'string' }, workers: { type: 'string' }, seed: { type: 'string' }, resume: { type: 'boolean' },
  engine: { type: 'string' }, nproc: { type: 'string' }, nnodes: { type: 'string' }, 'node-rank': { type: 'string' }, rdzv: { type: 'string' }, 'rdzv-id': { type: 'string' }, 'rdzv-backend': { type: 'string' }, 'sync-bn': { type: 'boolean' }, device: { type: 'string' }, 'prepare-only': { type: 'boolean' },
  holdout: { type: 'string' }, 'skip-bad': { type: 'boolean' }, store: { type: 'string' }, parent: { type: 'string' }, mode: { type: 'string' }, checkpoint: { type: 'string' }, diagnose: { type: 'string' }, events: { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values: f } = parseArgs({ args: argv, options: OPTIONS, strict: true });
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  if (!f.data) throw new UserError('--data SPEC is required (e.g. --data ferplus:../shared/data/ferplus#train); see kefer train --help');
  if (!f.out) throw new UserError('--out RUN_DIR is required');
  const engine = oneOf(f, 'engine', ['kefer', 'torch'] as const, 'kefer');
  if (engine === 'torch') return (await import('./trainTorch.js')).runTorchTrain(f, createPrinter(oneOf(f, 'events', ['text', 'json'] as const, 'text')));
  for (const flag of ['nproc', 'nnodes', 'node-rank', 'rdzv', 'rdzv-id', 'rdzv-backend', 'sync-bn', 'device', 'prepare-only'] as const) {
    if (f[flag] !== undefined) throw new UserError(`--${flag} belongs to --engine torch`);
  }
  if (f.backbone === 'swin_t') throw new UserError('--backbone swin_t trains on PyTorch: add --engine torch');
  const cfg = parseTrainConfig(f);
  const backendPref = oneOf(f, 'backend', BACKEND_PREFERENCES, 'auto');
  const mode = oneOf(f, 'events', ['text', 'json'] as const, 'text');
  const print = createPrinter(mode);
  const log = (message: string) => print({ type: 'log', level: 'info', message });

  const backend = await initBackend(backendPref, log);
  if (oneOf(f, 'mode', ['full', 'head'] as const, 'full') === 'head') return runHead(f, print, log);
  const pre = await preflight(f.data, !!f['skip-bad'], log);
  const original = trainSplitOnly(pre.dataset);
  if (original.samples.length === 0) throw new UserError(`--data ${f.data}: no samples`);
  const store = f.store ? openStore(f.store) : undefined;
  const full = store ? overlaid(store, original, f.store!, log) : original;
  let valCheck: DataCheckRecord | undefined;
  const loadVal = async (spec: string) => {
    const p = await preflight(spec, !!f['skip-bad'], log, '--val');
    valCheck = p.record;
    return p.dataset;
  };
  const choice = await chooseValidation(f.data, full, f.val, num(f, 'holdout', 0.1, { min: 0 }), cfg.seed, loadVal);
  if (store && choice.val) choice.val = withOverlay(store, choice.val).dataset;
  log(`validation (selects the checkpoint): ${choice.description}`);
  const counts = countsByClass(choice.train).total;
  log(`train per class: ${choice.train.classes.map((c, i) => `${c} ${counts[i]}`).join(', ')}`);
  const text = await resolveTextEmbeddings(f.text ?? 'auto', choice.train.classes, { log });

  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    // First signal: finish the current step and save a resumable checkpoint. Second: exit now.
    if (++signals > 1) process.exit(130);
    log('cancelling: finishing the current step and saving a resumable checkpoint');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await train(cfg, {
      train: choice.train, val: choice.val, valDescription: choice.description, text, backend,
      outDir: path.resolve(f.out), resume: !!f.resume, signal: controller.signal, onEvent: print,
      diagnose: oneOf(f, 'diagnose', ['none', 'val', 'all'] as const, 'val'), dataCheck: valCheck ? { ...pre.record, val: valCheck } : pre.record,
    });
    if (store) {
      const r = registerTrainedRun(store, original, f.data, result, { backbone: cfg.backbone, config: cfg, textSource: text.source.description, backend: `${backend.name} (${backend.detail})`, parent: f.parent });
      log(`registered run ${r.runId} with ${r.records} per-sample records in ${f.store}`);
    }
    return result.cancelled ? 130 : 0;
  } finally {
    store?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `--mode head`: the quick retrain on a frozen encoder's cached features. */
async function runHead(f: Record<string, unknown>, print: ReturnType<typeof createPrinter>, log: (m: string) => void): Promise<number> {
  if (!f.checkpoint) throw new UserError("--mode head needs --checkpoint DIR (a full run's checkpoints/best)");
  const base = await readCheckpointConfig(path.resolve(f.checkpoint as string));
  if (isOnnxOnlyBackbone(base.backbone)) throw new UserError(`--mode head retrains resnet18 and compact checkpoints; ${String(f.checkpoint)} is ${base.backbone}: retrain it in full (--engine torch)`);
  const all = (await preflight(f.data as string, !!f['skip-bad'], log)).dataset; // every split: trains on 'train', re-scores all
  const store = f.store ? openStore(f.store as string) : undefined;
  try {
    const ds = store ? overlaid(store, all, f.store as string, log) : all;
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    const result = await trainHead({ checkpoint: path.resolve(f.checkpoint as string), dataset: ds, out: path.resolve(f.out as string), signal: controller.signal, onEvent: print });
    log(`head retrain: checkpoint ${result.checkpoint}, records ${result.records}`);
    if (store) {
      const metrics = { accuracy: result.summary.accuracy, meanClassAccuracy: result.summary.meanClassAccuracy, mode: 'head', baseCheckpoint: f.checkpoint, seconds: result.seconds };
      const r = registerRunDir(store, all, f.data as string, path.resolve(f.out as string), 'done', metrics, { backbone: 'head', config: { mode: 'head', checkpoint: f.checkpoint }, textSource: 'from base checkpoint', backend: 'onnxruntime-node + tfjs', parent: f.parent as string | undefined });
      log(`registered run ${r.runId} with ${r.records} per-sample records in ${String(f.store)}`);
    }
    return 0;
  } finally {
    store?.close();
  }
}
