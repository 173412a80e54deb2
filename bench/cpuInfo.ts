// The line every CPU benchmark prints beside its figures: the CPU, its widest vector ISA and the load.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

/** The widest x86 vector ISA this CPU reports (AVX-512 changes which kernels oneDNN and PyTorch pick). */
export function vectorIsa(): string {
  let flags = '';
  try {
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    return process.arch;
  }
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  if (has('avx512f')) return `AVX-512${has('avx512_bf16') ? ' (bf16)' : ''}${has('amx_tile') ? ' + AMX' : ''}`;
  if (has('avx2')) return 'AVX2 (no AVX-512)';
  return flags ? 'no AVX2' : process.arch;
}

export function cpuLine(): string {
  const c = cpus();
  return `${c[0]?.model.trim() ?? 'cpu'}, ${c.length} cores, ${vectorIsa()}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;
}
