// `kefer train --engine torch` (python/kefer_torch under torchrun, gloo on CPU) against the engine:
//   - without a Python that imports torch: one clear line;
//   - the trainer's losses and gradients against the float64 reference (loss-reference.ts);
//   - 2 processes with SyncBatchNorm step as 1 process on the same global batch (without it they differ:
//     BatchNorm statistics per process, as documented); the run is registered in the store;
//   - a killed rank: one error line naming it, `last` loads, and the resumed run equals an uninterrupted one;
//   - one step from the same initial safetensors against one step of the engine's oneDNN runtime;
//   - `kefer eval` of a torch-trained checkpoint gives the torch-side predictions;
//   - a released-code (KE2NT) Swin-T checkpoint imported: the same encoder output as an independent forward
//     of the released architecture, its ONNX export in onnxruntime equal to PyTorch, bad tensors named.
// Needs Debian's python3-torch + python3-torchvision (or KEFER_PYTHON); skipped, visibly, without them.
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeBatch, generateSyntheticDataset, loadDataset } from '../../src/engine/data/index.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import { openOnnxCheckpoint, runBatch } from '../../src/engine/onnx/runtime.js';
import { openStore, getRun } from '../../src/engine/store/index.js';
import { augmentInto, normaliseInto } from '../../src/engine/data/augment.js';
import { loadCheckpoint } from '../../src/engine/model/checkpoint.js';
import { findTorchPython, kefertorchRoot, withPythonPath, type TorchPython } from '../../src/engine/torch/python.js';
import { encodeNpy, readNpy, npyToFloat64 } from '../../src/engine/util/npy.js';
import { readSafetensors, type SafeTensor } from '../../src/engine/util/safetensors.js';
import { deriveSeed, Rng } from '../../src/engine/util/rng.js';
import * as tf from '@tensorflow/tfjs-core';
import { createEncoder, createTransform } from '../../src/engine/model/index.js';
import { initBackend } from '../../src/engine/backend/index.js';
import { assertClose, finiteDiff, randMat, reference } from './loss-reference.js';

const BIN = path.resolve(__dirname, '../../bin/kefer.js');
const PY_TESTS = path.resolve(__dirname, 'torch-py');
const SHARED = process.env.KEFER_SHARED_DATA ?? path.resolve(__dirname, '../../../shared/data');
const FERPLUS = path.join(SHARED, 'ferplus');
const MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const STD: [number, number, number] = [0.229, 0.224, 0.225];

let py: TorchPython | undefined;
let skip: string | false = 'not probed';
let work: string;
let faces: string;
/** Skips the test (visibly, with the reason) unless every condition is false. */
function unmet(t: TestContext, ...reasons: (string | false | undefined)[]): boolean {
  const why = reasons.find((r) => r);
  if (why) t.skip(why);
  return !!why;
}

const noFerplus = existsSync(path.join(FERPLUS, 'data', 'FER2013Train', 'label.csv')) ? false : `no FERPlus data at ${FERPLUS}`;

// The runs under it take about 1.2 GB; every CI run used to leave them in the temp folder.
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'kefer-torch-'));
  const found = await findTorchPython();
  if (!found.ok) {
    skip = `no Python with torch: ${found.why}`;
    console.log(`# SKIP torch tests: ${skip}`);
    return;
  }
  py = found.info;
  skip = false;
  faces = path.join(work, 'faces');
  await generateSyntheticDataset(faces, { perClass: 4, classes: 7, seed: 5, size: 32 });
});

function kefer(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1', KEFER_ORT_PROVIDERS: 'cpu', ...env }, timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function python(script: string, args: string[]) {
  const r = spawnSync(py!.python, [path.join(PY_TESTS, script), ...args], { encoding: 'utf8', env: withPythonPath(py!.pythonPath), timeout: 600_000 });
  assert.equal(r.status, 0, `${script} failed: ${r.stderr}`);
  return r.stdout;
}

interface StepEvent { type: 'step'; step: number; loss: number; ls: number; lt: number; lc: number }
/** The last step event of each step number in RUN/events.jsonl (a resumed run repeats some). */
function steps(runDir: string): Map<number, StepEvent> {
  const out = new Map<number, StepEvent>();
  for (const line of readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as StepEvent;
    if (e.type === 'step') out.set(e.step, e);
  }
  return out;
}

async function weights(dir: string): Promise<Map<string, SafeTensor>> {
  return (await readSafetensors(path.join(dir, 'model.safetensors'))).tensors;
}

/** Largest |a - b| of a tensor relative to the largest |b| in it, over every tensor of b. */
function worstRelative(a: Map<string, SafeTensor>, b: Map<string, SafeTensor>, skipName = /num_batches_tracked/): { name: string; err: number } {
  let worst = { name: '', err: 0 };
  for (const [name, t] of b) {
    if (skipName.test(name)) continue;
    const x = a.get(name);
    assert.ok(x, `missing ${name}`);
    let scale = 1e-12, diff = 0;
    for (let i = 0; i < t.data.length; i++) {
      scale = Math.max(scale, Math.abs(t.data[i]));
      diff = Math.max(diff, Math.abs(x.data[i] - t.data[i]));
    }
    if (diff / scale > worst.err) worst = { name, err: diff / scale };
  }
  return worst;
}

const synthArgs = (out: string, extra: string[] = []) => [
  'train', '--engine', 'torch', '--data', `synthetic:${faces}#train`, '--out', out, '--backbone', 'compact', '--input-size', '32',
  '--epochs', '2', '--batch', '8', '--text', 'standin', '--diagnose', 'none', '--events', 'json', ...extra,
];

test('without a Python that imports torch, --engine torch says so in one line', { skip: !!process.env.KEFER_PYTHON && 'KEFER_PYTHON is set' }, () => {
  const r = kefer(['train', '--engine', 'torch', '--data', 'synthetic:/nowhere#train', '--out', 'x'], { KEFER_PYTHON: '/nonexistent/python3' });
  assert.equal(r.code, 1);
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
  assert.match(r.err, /^kefer: --engine torch: no Python with PyTorch found \(KEFER_PYTHON=\/nonexistent\/python3: not found\): install torch and torchvision/);
  const plain = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (plain.status !== 0 && !plain.error) {
    // e.g. a pyenv python3 ahead of Debian's on PATH
    const which = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
    const r2 = kefer(['train', '--engine', 'torch', '--data', 'synthetic:/nowhere#train', '--out', 'x'], { KEFER_PYTHON: which });
    assert.match(r2.err, new RegExp(`KEFER_PYTHON=${which.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no module named torch`));
  }
});

test('the torch trainer\'s losses and gradients equal the float64 reference', async (t) => {
  if (unmet(t, skip)) return;
  const rng = new Rng(7);
  const cases: Record<string, unknown>[] = [];
  const want: { ref: ReturnType<typeof reference>; v: number[][]; n: number[][]; t: number[][]; y: number[]; contrast: 'pairwise' | 'per-sample'; dtype: string; cw?: number[] }[] = [];
  for (const dtype of ['float64', 'float32']) {
    for (const contrast of ['pairwise', 'per-sample'] as const) {
      for (const [y, cw] of [[[0, 6, 3, 3, 5, 6], undefined], [[6, 6, 6, 6, 6, 6], undefined], [[0, 6, 3, 3, 5, 1], [0.5, 2, 1, 0.8, 1, 1.5, 0.7]]] as const) {
        const t = randMat(rng, 7, 10), v = randMat(rng, 6, 10, 0.5), n = randMat(rng, 6, 10, 0.5);
        cases.push({ v, n, t, y, neutral: 6, contrast, dtype, ...(cw ? { classWeights: cw } : {}) });
        want.push({ ref: reference(v, n, t, [...y], 6, contrast, [1, 1, 1], 100, cw ? [...cw] : undefined), v, n, t, y: [...y], contrast, dtype, cw: cw ? [...cw] : undefined });
      }
    }
  }
  await writeFile(path.join(work, 'loss-cases.json'), JSON.stringify(cases));
  python('losses.py', [path.join(work, 'loss-cases.json'), path.join(work, 'loss-out.json')]);
  const got = JSON.parse(readFileSync(path.join(work, 'loss-out.json'), 'utf8')) as { total: number; ls: number; lt: number; lc: number; gv: number[][]; gn: number[][] }[];
  got.forEach((g, i) => {
    const w = want[i];
    const f64 = w.dtype === 'float64';
    const what = `${w.dtype} ${w.contrast} y=[${w.y}]${w.cw ? ' class weights' : ''}`;
    assertClose(g.ls, w.ref.ls, f64 ? 1e-10 : 1e-4, `${what}: Ls`);
    assertClose(g.lt, w.ref.lt, f64 ? 1e-10 : 1e-5, `${what}: Lt`);
    assertClose(g.lc, w.ref.lc, f64 ? 1e-10 : 1e-5, `${what}: Lc`);
    assertClose(g.total, w.ref.total, f64 ? 1e-10 : 1e-4, `${what}: L`);
    const fdV = finiteDiff((m) => reference(m, w.n, w.t, w.y, 6, w.contrast, [1, 1, 1], 100, w.cw).total, w.v);
    const fdN = finiteDiff((m) => reference(w.v, m, w.t, w.y, 6, w.contrast, [1, 1, 1], 100, w.cw).total, w.n);
    assertClose(g.gv, fdV, f64 ? 1e-6 : 2e-3, `${what}: dL/dv`);
    assertClose(g.gn, fdN, f64 ? 1e-6 : 2e-3, `${what}: dL/dn`);
    if (w.y.every((y) => y === 6)) assert.ok(g.lt === 0 && g.lc === 0 && g.gn.flat().every((x) => x === 0), `${what}: an all-neutral batch has Lt = Lc = 0 and no gradient on n`);
  });
});

test('the torch trainer draws the engine\'s data order, augmentation and initial weights from the same seed', async (t) => {
  if (unmet(t, skip)) return;
  const dir = path.join(work, 'parity');
  await mkdir(dir, { recursive: true });
  // augmentation: a batch of 6 generated faces, every mode, as trainer.ts draws it for (seed, epoch, step)
  const ds = await loadDataset(`synthetic:${faces}#train`);
  const S = 32, B = 6;
  const raw = await decodeBatch(ds, [0, 3, 7, 11, 15, 20], S);
  await writeFile(path.join(dir, 'images.npy'), encodeNpy(Float32Array.from(raw), [B, S, S, 3]));
  python('to_uint8.py', [path.join(dir, 'images.npy')]);
  for (const mode of ['standard', 'light', 'affine', 'none'] as const) {
    python('engine_parity.py', ['augment', path.join(dir, 'images.npy'), '29', '3', '5', mode, path.join(dir, `aug-${mode}.npy`)]);
    const got = npyToFloat64(readNpy(path.join(dir, `aug-${mode}.npy`)));
    const want = new Float32Array(B * S * S * 3);
    const rng = new Rng(deriveSeed(29, 3, 5, 1));
    for (let i = 0; i < B; i++) augmentInto(raw.subarray(i * S * S * 3, (i + 1) * S * S * 3), S, { mean: MEAN, std: STD }, rng, want, i * S * S * 3, mode);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst <= (mode === 'affine' ? 1e-5 : 0), `${mode}: the augmented batch differs by ${worst}`);
  }
  // the epoch order
  python('engine_parity.py', ['order', '50', '29', '4', path.join(dir, 'order.json')]);
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'order.json'), 'utf8')), new Rng(deriveSeed(29, 4)).shuffle(Array.from({ length: 50 }, (_, i) => i)));
  // the initial ResNet-18 and F_n
  python('engine_parity.py', ['init', 'resnet18', '29', '112', path.join(dir, 'init.safetensors')]);
  await initBackend('wasm', () => {});
  const enc = createEncoder('resnet18', { seed: 29 });
  const fn = createTransform(29);
  const mine = (await readSafetensors(path.join(dir, 'init.safetensors'))).tensors;
  try {
    for (const [name, v] of [...[...enc.params].map(([k, x]) => [`encoder.${k}`, x] as const), ...fn.params]) {
      const want = v.rank === 4 ? tf.transpose(v, [3, 2, 0, 1]) : v.rank === 2 ? tf.transpose(v) : v;
      const a = want.dataSync(), b = mine.get(name)!.data;
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), 1e-6));
      assert.ok(worst < 1e-6, `${name}: initial values differ by ${worst} (relative)`);
    }
  } finally {
    enc.dispose();
    fn.dispose();
  }
});

test('2 processes with SyncBatchNorm step as 1 process on the same global batch; the run is registered in the store', async (t) => {
  if (unmet(t, skip)) return;
  // One step at the base lr from the same initial weights (more steps drift apart by float rounding,
  // amplified by the logit scale of 100, as any two runtimes do).
  const step = ['--max-steps', '1', '--warmup-epochs', '0'];
  const oneProcess = path.join(work, 'one');
  const store = path.join(work, 'store.db');
  const a = kefer(synthArgs(oneProcess, [...step, '--diagnose', 'val', '--store', store]));
  assert.equal(a.code, 0, a.err);
  const two = path.join(work, 'two');
  const b = kefer(synthArgs(two, [...step, '--nproc', '2', '--sync-bn', '--val', 'none']));
  assert.equal(b.code, 0, b.err);
  const [ea, eb] = [steps(oneProcess).get(1)!, steps(two).get(1)!];
  for (const term of ['ls', 'lt', 'lc'] as const) assert.ok(Math.abs(eb[term] - ea[term]) <= 1e-6 * Math.max(1, Math.abs(ea[term])), `${term}: 2 processes ${eb[term]}, 1 process ${ea[term]}`);
  // weights and BatchNorm running statistics (the global batch's, with SyncBatchNorm) after the step
  const w = worstRelative(await weights(path.join(two, 'checkpoints', 'last')), await weights(path.join(oneProcess, 'checkpoints', 'last')));
  assert.ok(w.err < 1e-5, `after the step ${w.name} differs by ${w.err} of its largest value`);
  // the engine's events, in the engine's order; the run and its per-sample records in the store
  const events = readFileSync(path.join(oneProcess, 'events.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
  assert.equal(events.find((e) => e.type !== 'log')!.type, 'start');
  assert.deepEqual(events.filter((e) => e.type !== 'log').map((e) => e.type), ['start', 'step', 'epoch', 'done']);
  const s = openStore(store);
  try {
    const run = getRun(s, 'one');
    assert.equal(run.status, 'done');
    assert.equal(run.records, 7, 'one record per validation image');
  } finally {
    s.close();
  }

  // Without SyncBatchNorm each process normalises with its own half of the batch: the step differs.
  const c = path.join(work, 'two-nosync');
  const r = kefer(synthArgs(c, [...step, '--nproc', '2', '--val', 'none']));
  assert.equal(r.code, 0, r.err);
  const first = steps(c).get(1)!;
  assert.ok(Math.abs(first.loss - ea.loss) > 1e-4 * Math.abs(ea.loss), `without --sync-bn the step's loss ${first.loss} should differ from ${ea.loss}`);
});

/** Pids of this test's rank processes (environ RANK=rank, cmdline naming the run directory). */
function rankPids(runDir: string, rank: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (!cmd.includes('kefer_torch') || !cmd.includes(runDir)) continue;
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (env.includes(`RANK=${rank}`) && env.some((e) => e.startsWith('LOCAL_RANK='))) out.push(Number(d));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

test('a killed rank ends the job with one line naming it; `last` loads and resuming equals the uninterrupted run', async (t) => {
  if (unmet(t, skip || (process.platform !== 'linux' && 'reads /proc'))) return;
  const straightDir = path.join(work, 'straight');
  const runDir = path.join(work, 'killed');
  const args = synthArgs(runDir, ['--nproc', '2', '--sync-bn', '--val', 'none']);
  const u = kefer(synthArgs(straightDir, ['--nproc', '2', '--sync-bn', '--val', 'none']));
  assert.equal(u.code, 0, u.err);
  const child = spawn(process.execPath, [BIN, ...args], { cwd: work, env: { ...process.env, KEFER_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let killed: number[] = [];
  for (let i = 0; i < 600 && !killed.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    // in epoch 2: `last` holds the end of epoch 1
    if (existsSync(path.join(runDir, 'events.jsonl')) && [...steps(runDir).keys()].some((k) => k >= 4)) {
      killed = rankPids(runDir, 1);
      for (const pid of killed) process.kill(pid, 'SIGKILL');
    }
  }
  assert.ok(killed.length === 1, 'rank 1 was found and killed');
  assert.equal(await exited, 1);
  const lines = err.split('\n').filter((l) => l.startsWith('kefer: '));
  assert.equal(lines.length, 1, err);
  assert.match(lines[0], /^kefer: --engine torch: rank 1 \(local rank 1 on \S+\) was killed by SIGKILL; the job was stopped .*checkpoints[/\\]last \(saved at step 3, the end of epoch 1\) is intact: run the same command with --resume$/);
  await initBackend('wasm', () => {});
  const last = await loadCheckpoint(path.join(runDir, 'checkpoints', 'last'));
  assert.equal(last.config.epoch, 1);
  last.dispose();

  const r = kefer([...args, '--resume']);
  assert.equal(r.code, 0, r.err);
  const [resumed, straight] = [steps(runDir), steps(straightDir)];
  assert.equal(straight.size, 6, '2 epochs of 3 steps');
  for (const [k, e] of straight) assert.equal(resumed.get(k)?.loss, e.loss, `step ${k}: resumed ${resumed.get(k)?.loss}, uninterrupted ${e.loss}`);
  const w = worstRelative(await weights(path.join(runDir, 'checkpoints', 'last')), await weights(path.join(straightDir, 'checkpoints', 'last')));
  assert.equal(w.err, 0, `${w.name} differs by ${w.err}`);
});

/** A list file of FERPlus images (path label), `perClass` per class of the first 7, from one split. */
async function ferplusList(split: 'train' | 'valid', perClass: number, file: string): Promise<string> {
  const ds = await loadDataset(`ferplus:${FERPLUS}#${split}`);
  const taken = new Map<number, number>();
  const lines: string[] = [];
  for (const s of ds.samples) {
    if (s.label > 6 || (taken.get(s.label) ?? 0) >= perClass) continue;
    taken.set(s.label, (taken.get(s.label) ?? 0) + 1);
    lines.push(`${s.path} ${s.label}`);
  }
  await writeFile(file, lines.join('\n') + '\n');
  return `list:${file}?root=${encodeURIComponent(ds.root)}&classes=7`;
}

let torchStepRun: string | undefined;

test('one step of the torch trainer equals one step of the engine\'s oneDNN runtime from the same initial safetensors', async (t) => {
  if (unmet(t, skip || noFerplus || (!loadOnednn().addon && `oneDNN addon unavailable: ${loadOnednn().why}`))) return;
  const dir = path.join(work, 'step');
  await mkdir(dir, { recursive: true });
  const data = await ferplusList('train', 2, path.join(dir, 'train.txt'));
  const init = path.join(dir, 'init.safetensors');
  python('init_weights.py', ['resnet18', '17', init]);
  // the method's base lr 0.002 from the first step (no warm-up): a step that moves the weights
  const common = ['--data', data, '--val', 'none', '--diagnose', 'none', '--backbone', 'resnet18', '--input-size', '64', '--epochs', '1', '--batch', '14',
    '--warmup-epochs', '0', '--augment', 'none', '--text', 'standin', '--init', init, '--seed', '3', '--events', 'json'];
  const engine = path.join(dir, 'engine');
  const e = kefer(['train', ...common, '--out', engine, '--runtime', 'onednn', '--conv-algorithm', 'direct']);
  assert.equal(e.code, 0, e.err);
  torchStepRun = path.join(dir, 'torch');
  const tr = kefer(['train', '--engine', 'torch', ...common, '--out', torchStepRun]);
  assert.equal(tr.code, 0, tr.err);
  const [se, st] = [steps(engine).get(1)!, steps(torchStepRun).get(1)!];
  for (const term of ['ls', 'lt', 'lc'] as const) assert.ok(Math.abs(st[term] - se[term]) <= 1e-5 * Math.max(1, Math.abs(se[term])), `${term}: torch ${st[term]}, oneDNN ${se[term]}`);
  // Per tensor, by norm: the weights after the step, and the step itself (w1 - w0). At logit scale 100
  // the gradient is ill-conditioned: the engine's own runtimes (onnx vs tfjs) differ by up to 7e-3 of an
  // update's norm here, hence 1e-2 for the updates.
  const [we, wt, w0] = [await weights(path.join(engine, 'checkpoints', 'last')), await weights(path.join(torchStepRun, 'checkpoints', 'last')), (await readSafetensors(init)).tensors];
  let worstW = { name: '', err: 0 }, worstU = { name: '', err: 0 };
  for (const [name, b] of we) {
    if (!/\.(weight|bias)$/.test(name)) continue;
    const a = wt.get(name)!.data, z = name.startsWith('encoder.') ? w0.get(name.slice(8))?.data : undefined;
    let dw = 0, nw = 0, du = 0, nu = 0;
    for (let i = 0; i < b.data.length; i++) {
      dw += (a[i] - b.data[i]) ** 2;
      nw += b.data[i] ** 2;
      if (z) {
        du += ((a[i] - z[i]) - (b.data[i] - z[i])) ** 2;
        nu += (b.data[i] - z[i]) ** 2;
      }
    }
    if (Math.sqrt(dw / nw) > worstW.err) worstW = { name, err: Math.sqrt(dw / nw) };
    if (z && nu > 0 && Math.sqrt(du / nu) > worstU.err) worstU = { name, err: Math.sqrt(du / nu) };
  }
  assert.ok(worstW.err < 1e-4, `after one step ${worstW.name} differs by ${worstW.err} of its norm`);
  assert.ok(worstU.err < 1e-2, `the step of ${worstU.name} differs by ${worstU.err} of its norm`);
  console.log(`# torch vs oneDNN after one step: weights ${worstW.err.toExponential(2)} (${worstW.name}), updates ${worstU.err.toExponential(2)} (${worstU.name}) of their norms`);
});

async function engineImages(spec: string, size: number): Promise<{ x: Float32Array; n: number }> {
  const ds = await loadDataset(spec);
  const n = ds.samples.length;
  const raw = await decodeBatch(ds, ds.samples.map((_, i) => i), size);
  const x = new Float32Array(n * size * size * 3);
  for (let i = 0; i < n; i++) normaliseInto(raw.subarray(i * size * size * 3, (i + 1) * size * size * 3), size, { mean: MEAN, std: STD }, x, i * size * size * 3);
  return { x, n };
}

test('kefer eval of a torch-trained checkpoint gives the torch-side predictions: 0 mismatches, logits to 1e-4', async (t) => {
  if (unmet(t, skip || noFerplus)) return;
  assert.ok(torchStepRun, 'needs the torch run above');
  const best = path.join(torchStepRun, 'checkpoints', 'best');
  const data = await ferplusList('valid', 5, path.join(work, 'valid.txt'));
  // torch side: kefer_torch decodes the images itself
  const preds = path.join(work, 'torch-preds.jsonl');
  const r = spawnSync(py!.python, ['-m', 'kefer_torch', 'predict', '--checkpoint', best, '--data', data, '--out', preds], { encoding: 'utf8', env: withPythonPath(kefertorchRoot()!) });
  assert.equal(r.status, 0, r.stderr);
  const torch = readFileSync(preds, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pred: number; logits: number[] });
  // engine side: kefer eval (onnxruntime, the default) and its per-sample records
  const recs = path.join(work, 'eval-records.jsonl');
  const e = kefer(['eval', '--checkpoint', best, '--data', data, '--json', '--per-sample', recs]);
  assert.equal(e.code, 0, e.err);
  const records = readFileSync(recs, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pred: number; probs: number[] });
  assert.equal(records.length, torch.length);
  assert.equal(records.filter((x, i) => x.pred !== torch[i].pred).length, 0, 'prediction mismatches');
  records.forEach((x, i) => {
    const l = torch[i].logits, m = Math.max(...l), z = l.reduce((s, v) => s + Math.exp(v - m), 0);
    x.probs.forEach((p, k) => assert.ok(Math.abs(p - Math.exp(l[k] - m) / z) <= 1e-4, `sample ${i} p[${k}]: ${p} vs ${Math.exp(l[k] - m) / z}`));
  });
  // the logits themselves, from the engine's decoding and its onnxruntime session
  const { x, n } = await engineImages(data, 64);
  const ck = await openOnnxCheckpoint(best, { providers: ['cpu'] });
  try {
    const out = await runBatch(ck.session.session, x, n, 64);
    let worst = 0;
    torch.forEach((p, i) => p.logits.forEach((v, k) => (worst = Math.max(worst, Math.abs(out.logits[i * 7 + k] - v)))));
    assert.ok(worst <= 1e-4, `logits differ by ${worst}`);
    console.log(`# kefer eval vs torch predict: ${torch.length} images, 0 prediction mismatches, logits within ${worst.toExponential(2)} (logit scale 100)`);
  } finally {
    await ck.release();
  }
});

test('a released-code Swin-T checkpoint imports (same encoder as the released architecture), its ONNX export equals PyTorch in onnxruntime, and bad tensors are named', async (t) => {
  if (unmet(t, skip)) return;
  const dir = path.join(work, 'ke2nt');
  await mkdir(dir, { recursive: true });
  // images at 112 px (the released code's size): FERPlus when present, else the generated faces
  const spec = noFerplus ? `synthetic:${faces}#valid` : await ferplusList('valid', 1, path.join(dir, 'images.txt'));
  // one image: Swin-T at 112 px on Debian's reference BLAS takes seconds per image
  const all = await engineImages(spec, 112);
  const n = 1, x = all.x.subarray(0, 112 * 112 * 3);
  await writeFile(path.join(dir, 'images.npy'), encodeNpy(x, [n, 112, 112, 3]));
  const pth = path.join(dir, 'model-best.pth.tar');
  const damaged = [
    ['drop', 'encoder.layers.2.blocks.3.attn.qkv.weight', /missing tensor 'encoder\.layers\.2\.blocks\.3\.attn\.qkv\.weight'/],
    ['reshape', 'encoder.feature.2.weight', /tensor 'encoder\.feature\.2\.weight' \(ours: encoder\.head\.2\.weight\) has shape \[512, 767\], expected \[512, 768\]/],
    ['drop', 'MLP.fc2.bias', /missing tensor 'MLP\.fc2\.bias'/],
  ] as const;
  const variants = damaged.flatMap(([kind, name]) => ['--variant', path.join(dir, `bad-${name}.pth`), kind, name]);
  python('ke2nt_fixture.py', [pth, path.join(dir, 'images.npy'), path.join(dir, 'v-released.npy'), ...variants]);
  const run = path.join(dir, 'run');
  const imp = kefer(['import-checkpoint', pth, '--from', 'ke2nt', '--out', run, '--text', 'standin', '--data', spec]);
  // (--data evaluates every image of spec: 7 with FERPlus, through onnxruntime)
  assert.equal(imp.code, 0, imp.err);
  const best = path.join(run, 'checkpoints', 'best');
  assert.ok(existsSync(path.join(best, 'model.onnx')), 'model.onnx beside the checkpoint');
  python('forward.py', [best, path.join(dir, 'images.npy'), path.join(dir, 'torch')]);
  const load = (f: string) => npyToFloat64(readNpy(path.join(dir, f)));
  const [vReleased, vTorch, nTorch, lTorch] = ['v-released.npy', 'torch.v.npy', 'torch.n.npy', 'torch.logits.npy'].map(load);
  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const scale = Math.max(...Array.from(vReleased, Math.abs));
  assert.ok(maxDiff(vTorch, vReleased) <= 1e-4 * scale, `imported encoder vs the released architecture: v differs by ${maxDiff(vTorch, vReleased)}`);
  const ck = await openOnnxCheckpoint(best, { providers: ['cpu'] });
  try {
    const out = await runBatch(ck.session.session, x, n, 112);
    assert.ok(maxDiff(out.v, vTorch) <= 1e-4 * scale, `onnxruntime v differs from PyTorch by ${maxDiff(out.v, vTorch)}`);
    assert.ok(maxDiff(out.n, nTorch) <= 1e-4 * Math.max(...Array.from(nTorch, Math.abs)), `onnxruntime n differs from PyTorch by ${maxDiff(out.n, nTorch)}`);
    assert.ok(maxDiff(out.logits, lTorch) <= 1e-4, `onnxruntime logits differ from PyTorch by ${maxDiff(out.logits, lTorch)}`);
    console.log(`# Swin-T: torch vs released architecture |dv| ${maxDiff(vTorch, vReleased).toExponential(2)}; onnxruntime vs PyTorch |dv| ${maxDiff(out.v, vTorch).toExponential(2)}, |dn| ${maxDiff(out.n, nTorch).toExponential(2)}, |dlogits| ${maxDiff(out.logits, lTorch).toExponential(2)} (max |v| ${scale.toFixed(2)})`);
  } finally {
    await ck.release();
  }
  // kefer eval's per-sample records of the import (gap, alignment) predict as PyTorch does
  const records = readFileSync(path.join(run, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pred: number; gap: number; align: number | null });
  assert.equal(records.length, all.n);
  records.slice(0, n).forEach((r, i) => {
    const row = Array.from(lTorch.subarray(i * 7, i * 7 + 7));
    assert.equal(r.pred, row.indexOf(Math.max(...row)), `sample ${i}`);
    assert.ok(Number.isFinite(r.gap));
  });

  // the first through kefer (what the user runs), the others through the converter directly (faster)
  for (const [i, [, name, message]] of damaged.entries()) {
    const bad = path.join(dir, `bad-${name}.pth`);
    const r = i === 0
      ? kefer(['import-checkpoint', bad, '--from', 'ke2nt', '--out', path.join(dir, 'bad'), '--text', 'standin'])
      : (({ status, stderr }) => ({ code: status, err: stderr.replace(/^kefer_torch: /m, 'kefer: ') }))(spawnSync(py!.python, ['-m', 'kefer_torch', 'import-ke2nt', bad, '--out', path.join(dir, 'bad'), '--text', path.join(run, 'torch', 'text.json')], { encoding: 'utf8', env: withPythonPath(py!.pythonPath) }));
    assert.equal(r.code, 1, r.err);
    const last = r.err.trim().split('\n').pop()!;
    assert.match(last, message);
    assert.match(last, new RegExp(`^kefer: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  }
});
