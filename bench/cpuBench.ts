// What the CPU benchmarks share: the instruction-set cap (--isa avx2 emulates an AVX2-only x86 on an
// AVX-512 one, for oneDNN on both sides and ATen's own kernels in PyTorch), the python with torch, the load
// average, and the versions and ISA printed beside every figure.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { loadOnednn } from '../src/engine/runtimes/onednn/addon.js';

export type IsaCap = 'native' | 'avx2';

/**
 * Re-runs this script with the cap in the environment when --isa asks for one: oneDNN reads
 * DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA once, when the library is first used. Returns the cap in force.
 */
export function applyIsaCap(requested: string | undefined): IsaCap {
  const isa = (requested ?? 'native').toLowerCase();
  if (isa !== 'native' && isa !== 'avx2') throw new Error(`--isa: native or avx2, got ${requested}`);
  if (isa === 'native' || process.env.KEFER_BENCH_ISA === 'avx2') return isa as IsaCap;
  const env = { ...process.env, KEFER_BENCH_ISA: 'avx2', DNNL_MAX_CPU_ISA: 'AVX2', ONEDNN_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2' };
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/** What oneDNN dispatches to in this process (after the cap), e.g. "avx2" or "avx512_core_bf16". */
export function onednnIsa(): string {
  const { addon } = loadOnednn();
  return addon ? addon.isa() : 'unknown (no oneDNN addon)';
}

export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(1)).join(' ');
}

/** A python with torch + torchvision: $KEFER_PYTHON, python3 on PATH, or Debian's /usr/bin/python3. */
export function findTorchPython(): { python: string; version: string } | null {
  for (const py of [process.env.KEFER_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p)) {
    const r = spawnSync(py, ['-c', 'import torch, torchvision; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py, version: r.stdout.trim() };
  }
  return null;
}

/** Runs a bench/*.py baseline with a JSON argument; its last stdout line is JSON. */
export function runTorch<T>(python: string, script: string, args: unknown[], timeoutMs = 30 * 60_000): T {
  const r = spawnSync(python, [script, ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))], { encoding: 'utf8', maxBuffer: 16 << 20, timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`${script} failed: ${(r.stderr || String(r.error ?? '')).trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]) as T;
}

/** The versions line a baseline prints. */
export interface TorchInfo {
  torch: string;
  torchvision: string;
  onednn: string;
  threads: number;
  isa_cap: string;
  aten_capability: string;
}

export function describeTorch(i: TorchInfo): string {
  return `torch ${i.torch}, torchvision ${i.torchvision}, oneDNN ${i.onednn}, ${i.threads} thread(s), oneDNN ISA cap ${i.isa_cap}, ATen capability ${i.aten_capability}`;
}

export const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
