// Opt-in data-parallel training across worker_threads. tfjs-wasm runs one thread in Node, so a
// training step uses one core; with N replicas each core computes the loss and gradients of one
// shard of the batch.
//
// Layout: the calling thread is replica 0 (its encoder, F_n and Sgd stay the canonical ones, so
// checkpoints, evaluation and resume are unchanged); replicas 1..N-1 are worker threads, each with
// its own wasm backend and a copy of the weights and optimizer state. One step:
//   1. main copies each worker's shard of the batch into that worker's SharedArrayBuffer and
//      computes shard 0 itself while the workers compute theirs (gradients into their own SAB);
//   2. main reduces the gradients in replica order 0..N-1, weighted by shard size (so for a loss
//      that is a per-sample mean this is the full-batch gradient), into one shared buffer;
//   3. every replica applies the same averaged gradient with its own Sgd (same backend, same ops,
//      same inputs: bit-identical weights everywhere, no weight broadcast needed).
// The fixed reduction order makes a run reproducible for a given seed and worker count.
//
// What differs from one big batch (as in PyTorch DDP without SyncBatchNorm):
//   - BatchNorm normalises with each shard's own statistics; the running mean/variance are the
//     shard-size-weighted average of the replicas' updated running stats after every step.
//   - KE-FER's Lt/Lc are means over the non-neutral samples of a shard and the pairwise Lc pairs
//     samples within a shard only, so their gradient is the average of per-shard losses.
//   Changing the worker count therefore changes the result (like changing the batch size a little);
//   the same worker count and seed give the same result.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { keferLoss, softTargets, type LossOptions, type SoftTargetRows } from '../../losses.js';
import type { Encoder, Transform } from '../../model/index.js';
import type { Sgd } from '../sgd.js';

/** A replica's model and loss: everything one shard step needs. */
export interface Replica {
  encoder: Encoder;
  transform: Transform;
  /** Trainable parameters in reduction order: encoder.* then F_n (the trainer's naming). */
  params: Map<string, tf.Variable>;
  textNorm: tf.Tensor2D;
  loss: LossOptions;
}

export interface ShardStats {
  /** ls, lt, lc of this shard. */
  terms: [number, number, number];
  /** argmax class per sample. */
  preds: Int32Array;
}

/** Names of the BN buffers that are averaged across replicas (num_batches_tracked agrees anyway). */
export function averagedBufferNames(encoder: Encoder): string[] {
  return [...encoder.buffers.keys()].filter((k) => k.endsWith('.running_mean') || k.endsWith('.running_var'));
}

export function paramsOf(encoder: Encoder, transform: Transform): Map<string, tf.Variable> {
  return new Map<string, tf.Variable>([...[...encoder.params].map(([k, v]) => [`encoder.${k}`, v] as const), ...transform.params]);
}

export function flatSize(vars: Iterable<tf.Variable>): number {
  let n = 0;
  for (const v of vars) n += v.size;
  return n;
}

/**
 * Loss and gradients of one shard, training mode (updates this replica's BN running stats).
 * Gradients go into gradOut in params order; x holds n images of size x size x 3.
 */
export function shardGradients(r: Replica, x: Float32Array, n: number, labels: ArrayLike<number>, gradOut: Float32Array, soft?: SoftTargetRows): ShardStats {
  const size = r.encoder.inputSize;
  return tf.tidy(() => {
    const xb = tf.tensor4d(x.subarray(0, n * size * size * 3), [n, size, size, 3]);
    const lab = tf.tensor1d(Int32Array.from(labels), 'int32');
    const q = softTargets(soft, n, r.textNorm.shape[0]);
    let terms: [number, number, number] = [0, 0, 0];
    let preds: Int32Array = new Int32Array(0);
    const vars = [...r.params.values()];
    const { grads } = tf.variableGrads(() => {
      const v = r.encoder.apply(xb, true);
      const t = keferLoss(v, r.transform.apply(v), r.textNorm, lab, r.loss, q);
      terms = [t.ls.dataSync()[0], t.lt.dataSync()[0], t.lc.dataSync()[0]];
      preds = tf.argMax(t.logits, 1).dataSync() as Int32Array;
      return t.total;
    }, vars);
    let off = 0;
    for (const v of vars) {
      gradOut.set(grads[v.name].dataSync() as Float32Array, off);
      off += v.size;
    }
    return { terms, preds };
  });
}

/** Writes the averaged BN buffers (in `names` order) into the replica's variables. */
export function assignBuffers(encoder: Encoder, names: string[], data: Float32Array): void {
  let off = 0;
  tf.tidy(() => {
    for (const k of names) {
      const b = encoder.buffers.get(k)!;
      b.assign(tf.tensor(data.slice(off, off + b.size), b.shape));
      off += b.size;
    }
  });
}

export function readBuffers(encoder: Encoder, names: string[], out: Float32Array): void {
  let off = 0;
  for (const k of names) {
    const b = encoder.buffers.get(k)!;
    out.set(b.dataSync() as Float32Array, off);
    off += b.size;
  }
}

/** Sgd step with a flat gradient laid out in params order. */
export function applyFlat(sgd: Sgd, params: Map<string, tf.Variable>, flat: Float32Array, lr: number): void {
  tf.tidy(() => {
    const named: Record<string, tf.Tensor> = {};
    let off = 0;
    for (const [name, v] of params) {
      named[name] = tf.tensor(flat.subarray(off, off + v.size), v.shape);
      off += v.size;
    }
    sgd.step(params, named, lr);
  });
}

/** Shard boundaries: sizes differ by at most one, larger shards first. */
export function shardBounds(batch: number, replicas: number): number[] {
  const b = [0];
  for (let i = 0; i < replicas; i++) b.push(b[i] + Math.floor(batch / replicas) + (i < batch % replicas ? 1 : 0));
  return b;
}

// ------------------------------------------------------------------------------------------------
// Messages between main and workers (parallelWorker.ts).
// ------------------------------------------------------------------------------------------------
export interface InitMessage {
  type: 'init';
  backbone: Encoder['name'];
  inputSize: number;
  paramNames: string[];
  paramShapes: number[][];
  params: Float32Array[];
  bufferNames: string[];
  buffers: Float32Array[];
  averagedBuffers: string[];
  sgd: { momentum: number; weightDecay: number; state: Array<[string, number[], Float32Array]> };
  textNorm: { data: Float32Array; shape: [number, number] };
  loss: LossOptions;
  /** Shared buffers: this worker's input shard, its gradients and BN stats; the averaged ones (shared by all). */
  input: SharedArrayBuffer;
  grad: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  avgGrad: SharedArrayBuffer;
  avgStats: SharedArrayBuffer;
}
export type ToWorker = InitMessage | { type: 'step'; n: number; labels: number[]; soft?: SoftTargetRows } | { type: 'apply'; lr: number } | { type: 'dump' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'stepped'; terms: [number, number, number]; preds: Int32Array; ms?: number }
  | { type: 'dumped'; params: Float32Array; buffers: Float32Array }
  | { type: 'error'; message: string };

/**
 * Starts a worker running parallelWorker: the .ts source through tsx in development/tests, the
 * bundled dist/parallelWorker.js (next to dist/cli.js, see esbuild.mjs) in the bundle.
 */
function spawnWorker(): Worker {
  const ts = path.join(__dirname, 'parallelWorker.ts');
  if (existsSync(ts)) {
    // A .ts worker entry is not picked up by tsx's --import hooks in the worker; register tsx's
    // require hook explicitly, then load the source.
    return new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(ts)});`, { eval: true });
  }
  return new Worker(path.join(__dirname, 'parallelWorker.js'));
}

export interface ParallelOptions {
  /** Replicas including the calling thread (default: the number of cores). */
  workers?: number;
  encoder: Encoder;
  transform: Transform;
  sgd: Sgd;
  textNorm: tf.Tensor2D;
  loss: LossOptions;
  /** Largest batch step() will be given. */
  batchSize: number;
}

interface Pending { resolve: (m: FromWorker) => void; reject: (e: Error) => void }

class WorkerLink {
  private pending: Pending | null = null;
  private failure: Error | null = null;
  readonly grad: Float32Array;
  readonly stats: Float32Array;
  readonly input: Float32Array;

  constructor(readonly worker: Worker, buffers: { input: SharedArrayBuffer; grad: SharedArrayBuffer; stats: SharedArrayBuffer }) {
    this.input = new Float32Array(buffers.input);
    this.grad = new Float32Array(buffers.grad);
    this.stats = new Float32Array(buffers.stats);
    // Idle workers must not keep the process alive (e.g. after the trainer throws); ref() while waiting.
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'error') this.fail(new Error(`parallel worker: ${m.message}`));
      else this.settle(m);
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`parallel worker exited (code ${code})`)));
  }

  private settle(m: FromWorker): void {
    const p = this.pending;
    this.pending = null;
    this.worker.unref();
    p?.resolve(m);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const p = this.pending;
    this.pending = null;
    this.worker.unref();
    p?.reject(e);
  }

  /** Posts a message; with expectReply, resolves with the worker's answer. */
  send(msg: ToWorker, expectReply: boolean, transfer: ArrayBuffer[] = []): Promise<FromWorker> | void {
    if (this.failure) throw this.failure;
    this.worker.postMessage(msg, transfer);
    if (!expectReply) return;
    this.worker.ref();
    return new Promise<FromWorker>((resolve, reject) => { this.pending = { resolve, reject }; });
  }

  markClosed(): void {
    this.failure ??= new Error('parallel trainer is closed');
  }
}

export interface ParallelStepResult {
  /** Shard-size-weighted mean of the shards' ls, lt, lc. */
  terms: [number, number, number];
  /** Correctly classified samples over the whole batch. */
  correct: number;
  /** Milliseconds: this thread's shard, then waiting for the workers, then the reduction; each worker's shard. */
  timing?: { mainMs: number; waitMs: number; reduceMs: number; workerMs: number[] };
}

export class ParallelTrainer {
  private closed = false;
  private readonly own: Float32Array;
  private readonly ownStats: Float32Array;
  private readonly avgGrad: Float32Array;
  private readonly avgStats: Float32Array;
  private readonly params: Map<string, tf.Variable>;
  private readonly replica: Replica;
  private readonly statNames: string[];

  private constructor(private readonly opts: ParallelOptions, private readonly links: WorkerLink[], shared: { avgGrad: SharedArrayBuffer; avgStats: SharedArrayBuffer }) {
    this.params = paramsOf(opts.encoder, opts.transform);
    this.replica = { encoder: opts.encoder, transform: opts.transform, params: this.params, textNorm: opts.textNorm, loss: opts.loss };
    this.statNames = averagedBufferNames(opts.encoder);
    this.avgGrad = new Float32Array(shared.avgGrad);
    this.avgStats = new Float32Array(shared.avgStats);
    this.own = new Float32Array(this.avgGrad.length);
    this.ownStats = new Float32Array(this.avgStats.length);
  }

  /** Number of replicas, the calling thread included. */
  get replicas(): number {
    return this.links.length + 1;
  }

  static async start(opts: ParallelOptions): Promise<ParallelTrainer> {
    // Every replica needs at least one image per step.
    const n = Math.min(opts.batchSize, Math.max(1, Math.floor(opts.workers ?? (os.availableParallelism?.() ?? os.cpus().length))));
    if (tf.getBackend() !== 'wasm') throw new Error(`parallel training (workers > 1) runs on the wasm backend, the active one is '${tf.getBackend()}'`);
    const params = paramsOf(opts.encoder, opts.transform);
    const statNames = averagedBufferNames(opts.encoder);
    const nGrad = flatSize(params.values());
    const nStats = flatSize(statNames.map((k) => opts.encoder.buffers.get(k)!));
    const size = opts.encoder.inputSize;
    const maxShard = Math.ceil(opts.batchSize / n);
    const f32 = (k: number) => new SharedArrayBuffer(4 * Math.max(1, k));
    const shared = { avgGrad: f32(nGrad), avgStats: f32(nStats) };
    const bufferNames = [...opts.encoder.buffers.keys()];
    const links: WorkerLink[] = [];
    try {
      const ready: Array<Promise<FromWorker> | void> = [];
      const sgdState = await opts.sgd.export();
      for (let i = 1; i < n; i++) {
        const own = { input: f32(maxShard * size * size * 3), grad: f32(nGrad), stats: f32(nStats) };
        const link = new WorkerLink(spawnWorker(), own);
        links.push(link);
        // Fresh copies per worker: they are transferred.
        const init: InitMessage = {
          type: 'init', backbone: opts.encoder.name, inputSize: size,
          paramNames: [...params.keys()], paramShapes: [...params.values()].map((v) => v.shape),
          params: [...params.values()].map((v) => (v.dataSync() as Float32Array).slice()),
          bufferNames, buffers: bufferNames.map((k) => (opts.encoder.buffers.get(k)!.dataSync() as Float32Array).slice()),
          averagedBuffers: statNames,
          sgd: { momentum: opts.sgd.momentum, weightDecay: opts.sgd.weightDecay, state: [...sgdState].map(([k, b]) => [k, b.shape, b.data.slice()]) },
          textNorm: { data: (opts.textNorm.dataSync() as Float32Array).slice(), shape: opts.textNorm.shape as [number, number] },
          loss: opts.loss, ...own, ...shared,
        };
        ready.push(link.send(init, true));
      }
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(links.map((l) => l.worker.terminate()));
      throw e;
    }
    return new ParallelTrainer(opts, links, shared);
  }

  /**
   * Loss and gradients of the batch (x: batch images, labels), split into one shard per replica;
   * the shard-size-weighted mean gradient is left in the shared buffer and returned (a view: valid
   * until the next call). Every replica's BN running stats are updated and then averaged.
   */
  async gradients(x: Float32Array, labels: ArrayLike<number>, soft?: SoftTargetRows): Promise<ParallelStepResult & { grad: Float32Array }> {
    if (this.closed) throw new Error('parallel trainer is closed');
    const n = labels.length;
    const per = this.opts.encoder.inputSize ** 2 * 3;
    const b = shardBounds(n, this.replicas);
    const k = this.replica.textNorm.shape[0];
    const rows = (lo: number, hi: number): SoftTargetRows | undefined => (soft ? { kind: soft.kind, q: soft.q.slice(lo * k, hi * k) } : undefined);
    if (b[1] - b[0] < 1 || b[1] > Math.ceil(this.opts.batchSize / this.replicas)) throw new Error(`batch of ${n} does not fit ${this.replicas} replicas (batchSize ${this.opts.batchSize})`);
    try {
      const replies = this.links.map((l, j) => {
        const [lo, hi] = [b[j + 1], b[j + 2]];
        l.input.set(x.subarray(lo * per, hi * per));
        return l.send({ type: 'step', n: hi - lo, labels: Array.from(labels).slice(lo, hi), soft: rows(lo, hi) }, true) as Promise<FromWorker>;
      });
      // Our shard runs while the workers run theirs.
      const t0 = performance.now();
      const mine = shardGradients(this.replica, x, b[1], Array.from(labels).slice(0, b[1]), this.own, rows(0, b[1]));
      readBuffers(this.opts.encoder, this.statNames, this.ownStats);
      const t1 = performance.now();
      const results = await Promise.all(replies);
      const t2 = performance.now();
      // Fixed order 0..N-1: the same sums, in the same float order, every run.
      const w0 = b[1] / n;
      const g = this.avgGrad, s = this.avgStats;
      for (let k = 0; k < g.length; k++) g[k] = this.own[k] * w0;
      for (let k = 0; k < s.length; k++) s[k] = this.ownStats[k] * w0;
      const terms: [number, number, number] = [mine.terms[0] * w0, mine.terms[1] * w0, mine.terms[2] * w0];
      const labelsArr = Array.from(labels);
      let correct = 0;
      for (let i = 0; i < b[1]; i++) if (mine.preds[i] === labelsArr[i]) correct++;
      results.forEach((r, j) => {
        if (r.type !== 'stepped') throw new Error(`parallel worker: unexpected reply ${r.type}`);
        const wj = (b[j + 2] - b[j + 1]) / n;
        const gj = this.links[j].grad, sj = this.links[j].stats;
        for (let k = 0; k < g.length; k++) g[k] += gj[k] * wj;
        for (let k = 0; k < s.length; k++) s[k] += sj[k] * wj;
        for (let t = 0; t < 3; t++) terms[t] += r.terms[t] * wj;
        for (let i = 0; i < r.preds.length; i++) if (r.preds[i] === labelsArr[b[j + 1] + i]) correct++;
      });
      const workerMs = results.map((r) => (r.type === 'stepped' ? r.ms ?? NaN : NaN));
      return { terms, correct, grad: g, timing: { mainMs: t1 - t0, waitMs: t2 - t1, reduceMs: performance.now() - t2, workerMs } };
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** One training step: gradients(), then every replica applies the averaged gradient and BN stats. */
  async step(x: Float32Array, labels: ArrayLike<number>, lr: number, soft?: SoftTargetRows): Promise<ParallelStepResult> {
    const r = await this.gradients(x, labels, soft);
    // Workers apply concurrently with us; the next step's message queues behind this one.
    for (const l of this.links) l.send({ type: 'apply', lr }, false);
    applyFlat(this.opts.sgd, this.params, this.avgGrad, lr);
    assignBuffers(this.opts.encoder, this.statNames, this.avgStats);
    return { terms: r.terms, correct: r.correct, timing: r.timing };
  }

  /** A worker replica's weights and BN buffers (flat, params order / averaged-buffer order); for tests. */
  async replicaState(i: number): Promise<{ params: Float32Array; buffers: Float32Array }> {
    const r = await (this.links[i - 1].send({ type: 'dump' }, true) as Promise<FromWorker>);
    if (r.type !== 'dumped') throw new Error(`parallel worker: unexpected reply ${r.type}`);
    return { params: r.params, buffers: r.buffers };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.links) l.markClosed();
    await Promise.all(this.links.map((l) => l.worker.terminate()));
  }
}

/** Starts `workers` replicas (the calling thread is one of them); see ParallelTrainer. */
export function startParallel(opts: ParallelOptions): Promise<ParallelTrainer> {
  return ParallelTrainer.start(opts);
}
