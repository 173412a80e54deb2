// Runs torchrun (`python -m kefer_torch.torchrun`: torch's launcher, patched where torch 1.13 breaks on Python 3.11) with kefer_torch's trainer and streams rank 0's JSON
// event lines. A cancel writes RUN_DIR/.stop (every rank stops at the same step, rank 0 saves `last`); a
// second one stops torchrun. When a rank dies, torchrun ends the job and prints which rank failed and how:
// parseRankFailures reads that report, so the user gets one line naming the rank.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { EngineEvent } from '../events.js';
import { withPythonPath, type TorchPython } from './python.js';

export interface Distribution {
  /** Processes on this node (torchrun --nproc_per_node). */
  nproc: number;
  /** Nodes: N or MIN:MAX (torchrun --nnodes). */
  nnodes?: string;
  nodeRank?: number;
  /** host:port of the rendezvous (torchrun --rdzv_endpoint); required with more than one node. */
  rdzv?: string;
  rdzvId?: string;
  rdzvBackend?: string;
}

/** torchrun's own flags: --standalone on one node, rendezvous flags across nodes. */
export function torchrunArgs(d: Distribution): string[] {
  const a = ['-m', 'kefer_torch.torchrun', `--nproc_per_node=${d.nproc}`];
  const multi = d.nnodes !== undefined && d.nnodes !== '1';
  if (!multi && !d.rdzv) return [...a, '--standalone'];
  a.push(`--nnodes=${d.nnodes ?? '1'}`);
  if (d.nodeRank !== undefined) a.push(`--node_rank=${d.nodeRank}`);
  a.push(`--rdzv_backend=${d.rdzvBackend ?? 'c10d'}`, `--rdzv_endpoint=${d.rdzv}`, `--rdzv_id=${d.rdzvId ?? 'kefer'}`);
  return a;
}

export interface RankFailure {
  rank: number;
  localRank?: number;
  host?: string;
  exitCode?: number;
  /** The failure's last traceback line or signal, as torchrun reports it. */
  reason?: string;
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

/** The failures in torchrun's ChildFailedError report ("rank : 1 (local_rank: 1)", "exitcode : -9 ..."). */
export function parseRankFailures(stderr: string): RankFailure[] {
  const out: RankFailure[] = [];
  // each "[i]:" entry, up to the next ---- or ==== rule
  const blocks = stderr.split(/\n\s*\[\d+\]:\s*\n/).slice(1).map((b) => b.split(/\n\s*(?:-{10,}|={10,})\s*(?:\n|$)/)[0]);
  for (const b of blocks) {
    const rank = /^\s*rank\s*:\s*(\d+)(?:\s*\(local_rank:\s*(\d+)\))?/m.exec(b);
    if (!rank) continue;
    const f: RankFailure = { rank: Number(rank[1]) };
    if (rank[2] !== undefined) f.localRank = Number(rank[2]);
    const host = /^\s*host\s*:\s*(\S+)/m.exec(b);
    if (host) f.host = host[1];
    const code = /^\s*exitcode\s*:\s*(-?\d+)/m.exec(b);
    if (code) f.exitCode = Number(code[1]);
    const tb = /^\s*traceback\s*:\s*(.*)$/m.exec(b);
    if (tb) {
      const first = tb[1].trim();
      const rest = b.slice(tb.index + tb[0].length).split('\n').map((l) => l.trim()).filter(Boolean);
      f.reason = /Traceback/.test(first) && rest.length ? rest[rest.length - 1] : first;
    }
    if (!out.some((o) => o.rank === f.rank)) out.push(f);
  }
  return out;
}

/** A dead rank in words: a signal (SIGKILL from the OOM killer or a scheduler) or an exception. */
export function describeFailure(f: RankFailure): string {
  const where = `rank ${f.rank}${f.localRank !== undefined ? ` (local rank ${f.localRank}${f.host ? ` on ${f.host}` : ''})` : ''}`;
  if (f.exitCode !== undefined && f.exitCode < 0) return `${where} was killed by ${SIGNALS[-f.exitCode] ?? `signal ${-f.exitCode}`}`;
  // kefer_torch's own errors (bad data, checkpoint, text) already name the file: drop the class path
  const reason = f.reason?.replace(/^kefer_torch\.\w+\.(DataError|CheckpointError|TextError): /, '');
  return `${where} failed${f.exitCode !== undefined ? ` with exit code ${f.exitCode}` : ''}${reason && reason !== '<N/A>' ? `: ${reason}` : ''}`;
}

/**
 * The rank that caused the failure: a rank killed by a signal, or one that did not fail on a broken
 * connection (the other ranks then fail in their next collective, which names no cause).
 */
export function rootFailure(failures: RankFailure[]): RankFailure | undefined {
  const knockOn = (f: RankFailure) => /Connection (closed|reset)|Broken pipe|gloo|NCCL|timed? ?out/i.test(f.reason ?? '');
  return failures.find((f) => (f.exitCode ?? 0) < 0) ?? failures.find((f) => !knockOn(f)) ?? failures[0];
}

export interface TorchrunRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** rank 0's `done` event, held back (the caller emits it after its own diagnostics). */
  done?: Extract<EngineEvent, { type: 'done' }>;
  stderr: string;
  failures: RankFailure[];
}

export interface TorchrunOptions {
  python: TorchPython;
  dist: Distribution;
  /** kefer_torch train arguments. */
  args: string[];
  runDir: string;
  onEvent: (e: EngineEvent) => void;
  /** Lines that are not events (stdout) and torchrun's / the ranks' stderr. */
  onText?: (line: string, stream: 'stdout' | 'stderr') => void;
  env?: NodeJS.ProcessEnv;
}

export interface TorchrunHandle {
  result: Promise<TorchrunRun>;
  /** First call: every rank stops at its next step and `last` is saved. Second: SIGTERM to torchrun. */
  stop(): void;
}

export function runTorchrun(o: TorchrunOptions): TorchrunHandle {
  const base = o.env ?? process.env;
  // torchrun sets one OpenMP thread per process when it starts several; share this node's cores instead.
  const threads = base.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / o.dist.nproc)));
  const env = { ...withPythonPath(o.python.pythonPath, base), OMP_NUM_THREADS: threads, PYTHONUNBUFFERED: '1' };
  const args = [...torchrunArgs(o.dist), '-m', 'kefer_torch', 'train', ...o.args];
  const p = spawn(o.python.python, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let done: TorchrunRun['done'];
  const onOut = (line: string) => {
    if (line.startsWith('{')) {
      try {
        const e = JSON.parse(line) as EngineEvent;
        if (e.type === 'done') done = e;
        else o.onEvent(e);
        return;
      } catch {
        // not an event line
      }
    }
    if (line.trim()) o.onText?.(line, 'stdout');
  };
  const out = lineSplitter(onOut);
  const err = lineSplitter((l) => l.trim() && o.onText?.(l, 'stderr'));
  p.stdout.setEncoding('utf8').on('data', out.push);
  p.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    err.push(d);
  });
  const result = new Promise<TorchrunRun>((resolve) => {
    p.on('error', (e) => {
      stderr += `\n${e.message}`;
    });
    p.on('close', (code, signal) => {
      out.end();
      err.end();
      resolve({ code, signal, done, stderr, failures: parseRankFailures(stderr) });
    });
  });
  let asked = 0;
  const stop = () => {
    if (++asked === 1) writeFileSync(path.join(o.runDir, '.stop'), new Date().toISOString() + '\n');
    else p.kill('SIGTERM');
  };
  return { result, stop };
}

function lineSplitter(each: (line: string) => void): { push: (chunk: string) => void; end: () => void } {
  let buf = '';
  return {
    push(chunk) {
      const lines = (buf + chunk).split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) each(l);
    },
    end() {
      if (buf) each(buf);
      buf = '';
    },
  };
}
