// The input pipeline that keeps the step fed: batches are decoded and augmented on worker threads
// (prefetchWorker.ts), at most `depth` batches ahead (a bounded queue: memory stays depth x batch),
// and handed out in order. While a step runs (oneDNN on the CPU, CUDA on the GPU), the workers already
// build the next batches. A LoaderPool keeps its workers across epochs.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AugmentMode, Normalisation } from './augment.js';
import type { DecodeReply, DecodeRequest, PrefetchReply, PrefetchRequest } from './prefetchWorker.js';

export interface BatchJob {
  files: string[];
  labels: number[];
  epoch: number;
  step: number;
}

export interface PrefetchOptions {
  size: number;
  norm: Normalisation;
  augment: AugmentMode;
  seed: number;
  /** Worker threads (default: 8). */
  workers?: number;
  /** Batches in flight or waiting (default: 2 x workers). */
  depth?: number;
  /** The worker script; default: prefetchWorker.ts through tsx in development, prefetchWorker.js / .cjs beside a bundle. */
  workerFile?: string;
  /** Workers to use (and leave running) instead of starting `workers` new ones. */
  pool?: LoaderPool;
}

/** Loader workers kept across calls of prefetchBatches (one training run's epochs). */
export class LoaderPool {
  readonly workers: Worker[];
  closed = false;
  constructor(n: number, workerFile?: string) {
    this.workers = Array.from({ length: Math.max(1, n) }, () => spawn(workerFile));
    // Idle workers must not keep the process alive.
    for (const w of this.workers) w.unref();
  }
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

let decodeIds = 0;
const decodesInFlight = new WeakMap<Worker, number>();

/**
 * The files' RGB bytes at `size` (size*size*3 each, decode.ts's result) from worker `w` of a pool: evaluation
 * decodes a share of each batch there while the main thread decodes the rest. Rejects with the worker's
 * message; the caller then decodes those files itself for its usual error.
 */
export function decodeOnWorker(w: Worker, files: string[], size: number): Promise<Uint8Array> {
  const decodeId = ++decodeIds;
  return new Promise<Uint8Array>((resolve, reject) => {
    const done = () => {
      w.off('message', onMessage);
      w.off('error', onError);
      const left = (decodesInFlight.get(w) ?? 1) - 1;
      decodesInFlight.set(w, left);
      if (left === 0) w.unref();
    };
    const onMessage = (m: PrefetchReply | DecodeReply) => {
      if (!('decodeId' in m) || m.decodeId !== decodeId) return;
      done();
      if ('error' in m) reject(new Error(m.error));
      else resolve(m.rgb);
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    w.on('message', onMessage);
    w.on('error', onError);
    // A pool's idle workers are unref'd; this one must keep the process alive until it answers.
    decodesInFlight.set(w, (decodesInFlight.get(w) ?? 0) + 1);
    w.ref();
    w.postMessage({ decodeId, files, size } satisfies DecodeRequest);
  });
}

function spawn(file?: string): Worker {
  if (file) return new Worker(file);
  const ts = path.join(__dirname, 'prefetchWorker.ts');
  if (existsSync(ts)) return new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(ts)});`, { eval: true });
  const cjs = path.join(__dirname, 'prefetchWorker.cjs'); // bench/gpu/bundle-cuda.mjs
  return new Worker(existsSync(cjs) ? cjs : path.join(__dirname, 'prefetchWorker.js'));
}

/** Yields each job's normalised, augmented [N, S, S, 3] batch, in order. Workers end when the loop does. */
export async function* prefetchBatches(jobs: BatchJob[], opts: PrefetchOptions): AsyncGenerator<{ job: BatchJob; x: Float32Array }> {
  const nWorkers = opts.pool ? opts.pool.workers.length : Math.max(1, opts.workers ?? 8);
  const depth = Math.max(1, opts.depth ?? 2 * nWorkers);
  const workers = opts.pool ? opts.pool.workers : Array.from({ length: Math.min(nWorkers, jobs.length || 1) }, () => spawn(opts.workerFile));
  const idle = [...workers];
  const waiting = new Map<number, { resolve: (x: Float32Array) => void; reject: (e: Error) => void }>();
  const results = new Map<number, Promise<Float32Array>>();
  const queue: number[] = [];
  let failure: Error | undefined;
  const listeners: Array<[Worker, 'message' | 'error', (a: never) => void]> = [];
  const listen = <T>(w: Worker, event: 'message' | 'error', fn: (a: T) => void) => {
    w.on(event, fn);
    listeners.push([w, event, fn as (a: never) => void]);
  };
  for (const w of workers) {
    if (opts.pool) w.ref();
    listen(w, 'message', (m: PrefetchReply | DecodeReply) => {
      if ('decodeId' in m) return; // decodeOnWorker's
      const p = waiting.get(m.id)!;
      waiting.delete(m.id);
      idle.push(w);
      if ('error' in m) p.reject(new Error(m.error));
      else p.resolve(m.x);
      pump();
    });
    listen(w, 'error', (e: Error) => {
      failure = e;
      for (const p of waiting.values()) p.reject(e);
      waiting.clear();
    });
  }
  let next = 0;
  // Hands queued jobs to idle workers.
  const pump = () => {
    while (idle.length && queue.length) {
      const id = queue.shift()!;
      const job = jobs[id];
      const req: PrefetchRequest = { id, files: job.files, size: opts.size, norm: opts.norm, augment: opts.augment, seed: opts.seed, epoch: job.epoch, step: job.step };
      idle.shift()!.postMessage(req);
    }
  };
  const enqueue = () => {
    while (next < jobs.length && results.size < depth) {
      const id = next++;
      const p = new Promise<Float32Array>((resolve, reject) => waiting.set(id, { resolve, reject }));
      p.catch(() => {}); // awaited in order below; a failure ahead of that must not count as unhandled
      results.set(id, p);
      queue.push(id);
    }
    pump();
  };
  try {
    for (let id = 0; id < jobs.length; id++) {
      enqueue();
      if (failure) throw failure;
      const x = await results.get(id)!;
      results.delete(id);
      enqueue();
      yield { job: jobs[id], x };
    }
  } finally {
    for (const [w, event, fn] of listeners) w.off(event, fn as (a: unknown) => void);
    if (opts.pool) {
      for (const w of workers) w.unref();
      // A job still running on a kept worker would answer into the next epoch's listeners: drain it.
      if (waiting.size > queue.length) await opts.pool.close();
    } else {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }
}
