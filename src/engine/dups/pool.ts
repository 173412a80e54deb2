// Worker threads for the duplicate finder's image scan (scan.ts): each runs scanWorker, reads the tables
// the threads share (SharedArrayBuffers, passed once at start) and answers one task at a time; tasks go to
// whichever thread is idle, so a thread slowed by other processes on the machine takes fewer.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { NearTables } from './near.js';

export type ScanTask =
  /** Decode PNGs (fast-png), hash them, and fill their rows of the near tables (when near): files[k] is row rows[k]. */
  | { kind: 'fingerprint'; rows: number[]; files: string[]; maxPixels: number; near: boolean }
  /** Near candidates of the pictures [from, to) as queries. */
  | { kind: 'search'; from: number; to: number; radius: number; threshold: number };

export type ScanReply =
  /** One hash per file; null where fast-png could not decode it (the caller decodes it another way). */
  | { kind: 'fingerprint'; hashes: (string | null)[] }
  | { kind: 'search'; keys: Float64Array; scores: Float64Array };

export interface ScanWorkerData {
  tables: NearTables | null;
}

/** Threads a scan uses by default: the machine's cores, at most 8. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, os.availableParallelism?.() ?? os.cpus().length));
}

function spawn(workerData: ScanWorkerData): Worker | null {
  // beside a bundle (dist/dupsScanWorker.js), else the sources through tsx (development, tests)
  const js = path.join(__dirname, 'dupsScanWorker.js');
  if (existsSync(js)) return new Worker(js, { workerData });
  const ts = path.join(__dirname, 'scanWorker.ts');
  if (existsSync(ts)) return new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(ts)});`, { eval: true, workerData });
  return null;
}

export class ScanPool {
  private readonly idle: Worker[];
  private readonly queue: { task: ScanTask; resolve: (r: ScanReply) => void; reject: (e: Error) => void }[] = [];
  private readonly busy = new Map<Worker, { resolve: (r: ScanReply) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly workers: Worker[]) {
    this.idle = [...workers];
    for (const w of workers) {
      w.on('message', (m: ScanReply | { error: string }) => {
        const job = this.busy.get(w)!;
        this.busy.delete(w);
        this.idle.push(w);
        if ('error' in m) job.reject(new Error(`duplicate scan thread: ${m.error}`));
        else job.resolve(m);
        this.pump();
      });
      w.on('error', (e) => this.fail(new Error(`duplicate scan thread failed: ${e.message}`)));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`duplicate scan thread exited (${code})`));
      });
    }
  }

  /** A pool of `threads` workers sharing `tables`; null when the worker script is not there to start. */
  static start(threads: number, tables: NearTables | null): ScanPool | null {
    const workers: Worker[] = [];
    for (let i = 0; i < threads; i++) {
      const w = spawn({ tables });
      if (!w) {
        for (const x of workers) void x.terminate();
        return null;
      }
      workers.push(w);
    }
    return new ScanPool(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  run<K extends ScanTask['kind']>(task: Extract<ScanTask, { kind: K }>): Promise<Extract<ScanReply, { kind: K }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve: resolve as (r: ScanReply) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.postMessage(job.task);
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const job of [...this.busy.values(), ...this.queue]) job.reject(e);
    this.busy.clear();
    this.queue.length = 0;
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the duplicate scan pool is closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
