// `npm run bench:torch`: step throughput of `kefer train --engine torch` (PyTorch under torchrun, gloo on
// this CPU) with 1 and 2 processes, beside the engine's own oneDNN runtime on the same data and settings,
// all in this run. Every figure is the real trainer end to end (decode, augmentation, step, events), timed
// from its step events after 2 warm-up steps; ratios are against the engine's oneDNN step measured here.
//   -- --steps N (12)  --batch N (16)  --size N (112)  --backbone resnet18|compact|swin_t (resnet18)
// Needs a Python with torch (KEFER_PYTHON, python3, /usr/bin/python3); the oneDNN line needs
// build/kefer_dnnl.node (npm run build:native). Data: FERPlus PNGs from ../shared/data when present
// (48 px, enlarged as the engine does), else generated faces.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { generateSyntheticDataset, loadDataset } from '../src/engine/data/index.js';
import { loadOnednn } from '../src/engine/runtimes/onednn/addon.js';
import { findTorchPython } from '../src/engine/torch/python.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const steps = Number(arg('steps', '12'));
const batch = Number(arg('batch', '16'));
const size = Number(arg('size', '112'));
const backbone = arg('backbone', 'resnet18');
const WARM = 2;
const ROOT = path.resolve(__dirname, '..');
const FERPLUS = path.join(process.env.KEFER_SHARED_DATA ?? path.resolve(ROOT, '../shared/data'), 'ferplus');

/** CPU model and the vector ISA extensions that matter to oneDNN and PyTorch. */
function cpuIsa(): string {
  const info = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
  const isa = ['avx512_bf16', 'avx512_vnni', 'avx512bw', 'avx512f', 'avx2', 'fma', 'sse4_2'].filter((f) => flags.has(f));
  return `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ISA ${isa.join(' ') || 'unknown'}`;
}

/**
 * Debian's python3-torch calls the system libblas.so.3 for matrix products (convolutions go to oneDNN):
 * the reference BLAS unless OpenBLAS or BLIS is installed, which decides Swin-T's speed.
 */
function blasLibrary(): string {
  const lib = ['/usr/lib/x86_64-linux-gnu/libblas.so.3', '/usr/lib/aarch64-linux-gnu/libblas.so.3'].find((f) => existsSync(f));
  return lib ? `BLAS ${realpathSync(lib)}` : 'BLAS: not the system one';
}

/** img/s of a finished run from its step events' times, after the warm-up steps. */
function throughput(runDir: string): number {
  const times = readFileSync(path.join(runDir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; step?: number; time: string })
    .filter((e) => e.type === 'step').map((e) => Date.parse(e.time));
  if (times.length <= WARM + 1) throw new Error(`${runDir}: only ${times.length} steps`);
  return ((times.length - 1 - WARM) * batch * 1000) / (times[times.length - 1] - times[WARM]);
}

function train(runDir: string, data: string, extra: string[], env: NodeJS.ProcessEnv = {}): number {
  const args = ['train', '--data', data, '--val', 'none', '--diagnose', 'none', '--out', runDir, '--backbone', backbone, '--input-size', String(size),
    '--epochs', '100', '--max-steps', String(steps), '--batch', String(batch), '--text', 'standin', '--events', 'json', ...extra];
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/kefer.js'), ...args], { encoding: 'utf8', env: { ...process.env, KEFER_ORT_PROVIDERS: 'cpu', ...env } });
  if (r.status !== 0) throw new Error(`kefer ${args.join(' ')}: ${r.stderr.trim().split('\n').pop()}`);
  return throughput(runDir);
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'kefer-bench-torch-'));
  try {
    console.log(`CPU: ${cpuIsa()}`);
    const py = await findTorchPython();
    if (!py.ok) {
      console.log(`SKIPPED: ${py.why}`);
      return;
    }
    console.log(`PyTorch ${py.info.torch} (${py.info.python}; ${blasLibrary()}); ${backbone} @${size}, global batch ${batch}, ${steps} steps (${WARM} warm-up), augment standard`);
    let data: string;
    const n = batch * (steps + 1);
    if (existsSync(path.join(FERPLUS, 'data', 'FER2013Train', 'label.csv'))) {
      const ds = await loadDataset(`ferplus:${FERPLUS}#train`);
      const file = path.join(work, 'train.txt');
      writeFileSync(file, ds.samples.filter((s) => s.label < 7).slice(0, n).map((s) => `${s.path} ${s.label}`).join('\n') + '\n');
      data = `list:${file}?root=${encodeURIComponent(ds.root)}&classes=7`;
      console.log(`data: ${n} FERPlus training images (48 px PNG)`);
    } else {
      await generateSyntheticDataset(path.join(work, 'faces'), { perClass: Math.ceil(n / 7), classes: 7, seed: 1, size });
      data = `synthetic:${path.join(work, 'faces')}#train`;
      console.log(`data: ${n} generated faces (${size} px; no FERPlus at ${FERPLUS})`);
    }
    const threads = String(cpus().length);
    const engineOk = !!loadOnednn().addon && backbone !== 'swin_t';
    // equal threads on both sides: 1 thread is the baseline (a loaded machine hurts multi-threaded steps most)
    const onednn = engineOk ? train(path.join(work, 'onednn'), data, ['--runtime', 'onednn', '--onnx-threads', '1']) : undefined;
    const onednnAll = engineOk ? train(path.join(work, 'onednn-all'), data, ['--runtime', 'onednn', '--onnx-threads', threads]) : undefined;
    const one = train(path.join(work, 'torch1'), data, ['--engine', 'torch']);
    // one thread: what each of 2 processes gets on 2 cores (OpenMP threads suffer most from a loaded machine)
    const oneThread = train(path.join(work, 'torch1t'), data, ['--engine', 'torch'], { OMP_NUM_THREADS: '1' });
    const two = train(path.join(work, 'torch2'), data, ['--engine', 'torch', '--nproc', '2', '--sync-bn']);
    const vs = (x: number) => (onednn ? `= ${(x / onednn).toFixed(2)}x the engine's 1-thread oneDNN step` : '');
    if (onednn && onednnAll) {
      console.log(`engine oneDNN (kefer train --runtime onednn), 1 thread: ${onednn.toFixed(2)} img/s (baseline)`);
      console.log(`engine oneDNN, ${threads} threads: ${onednnAll.toFixed(2)} img/s ${vs(onednnAll)}`);
    } else console.log(`engine oneDNN: SKIPPED (${backbone === 'swin_t' ? 'no swin_t in the engine' : loadOnednn().why})`);
    console.log(`torch, 1 process, ${threads} threads: ${one.toFixed(2)} img/s ${vs(one)}`);
    console.log(`torch, 1 process, 1 thread: ${oneThread.toFixed(2)} img/s ${vs(oneThread)}`);
    console.log(`torch, 2 processes x 1 thread (gloo, SyncBatchNorm): ${two.toFixed(2)} img/s ${vs(two)}; ${(two / one).toFixed(2)}x 1 process (${threads} threads), ${(two / oneThread).toFixed(2)}x 1 process (1 thread)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

void main();
