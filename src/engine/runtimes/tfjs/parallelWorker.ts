// A data-parallel training replica (see parallel.ts): its own wasm backend, encoder, F_n and Sgd.
// Computes its shard's gradients into shared memory and applies the averaged gradient it is given.
import * as tf from '@tensorflow/tfjs-core';
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../../backend/index.js';
import { createEncoder, createTransform } from '../../model/index.js';
import { applyFlat, assignBuffers, paramsOf, readBuffers, shardGradients, type FromWorker, type InitMessage, type Replica, type ToWorker } from './parallel.js';
import { Sgd } from '../sgd.js';

interface State {
  replica: Replica;
  sgd: Sgd;
  statNames: string[];
  input: Float32Array;
  grad: Float32Array;
  stats: Float32Array;
  avgGrad: Float32Array;
  avgStats: Float32Array;
}

const port = parentPort;
if (!port) throw new Error('parallelWorker runs as a worker thread');
let state: State | null = null;

async function init(m: InitMessage): Promise<State> {
  await initBackend('wasm');
  const encoder = createEncoder(m.backbone, { inputSize: m.inputSize });
  const transform = createTransform(0);
  const params = paramsOf(encoder, transform);
  const names = [...params.keys()];
  if (names.join() !== m.paramNames.join()) throw new Error('replica parameters differ from the main model');
  m.paramNames.forEach((k, i) => {
    const v = params.get(k)!;
    if (v.shape.join() !== m.paramShapes[i].join()) throw new Error(`${k}: shape [${v.shape.join()}] vs [${m.paramShapes[i].join()}]`);
    v.assign(tf.tensor(m.params[i], v.shape));
  });
  m.bufferNames.forEach((k, i) => {
    const b = encoder.buffers.get(k);
    if (!b) throw new Error(`replica has no buffer ${k}`);
    b.assign(tf.tensor(m.buffers[i], b.shape));
  });
  const sgd = new Sgd(m.sgd.momentum, m.sgd.weightDecay);
  sgd.import(new Map(m.sgd.state.map(([k, shape, data]) => [k, { shape, data }])));
  return {
    replica: { encoder, transform, params, textNorm: tf.tensor2d(m.textNorm.data, m.textNorm.shape), loss: m.loss },
    sgd, statNames: m.averagedBuffers,
    input: new Float32Array(m.input), grad: new Float32Array(m.grad), stats: new Float32Array(m.stats),
    avgGrad: new Float32Array(m.avgGrad), avgStats: new Float32Array(m.avgStats),
  };
}

function need(): State {
  if (!state) throw new Error('replica not initialised');
  return state;
}

async function handle(m: ToWorker): Promise<FromWorker | null> {
  switch (m.type) {
    case 'init':
      state = await init(m);
      return { type: 'ready' };
    case 'step': {
      const s = need();
      const t0 = performance.now();
      const r = shardGradients(s.replica, s.input, m.n, m.labels, s.grad, m.soft);
      readBuffers(s.replica.encoder, s.statNames, s.stats);
      return { type: 'stepped', terms: r.terms, preds: r.preds, ms: performance.now() - t0 };
    }
    case 'apply': {
      const s = need();
      applyFlat(s.sgd, s.replica.params, s.avgGrad, m.lr);
      assignBuffers(s.replica.encoder, s.statNames, s.avgStats);
      return null;
    }
    case 'dump': {
      const s = need();
      const params = new Float32Array([...s.replica.params.values()].reduce((a, v) => a + v.size, 0));
      let off = 0;
      for (const v of s.replica.params.values()) { params.set(v.dataSync() as Float32Array, off); off += v.size; }
      const buffers = new Float32Array(s.stats.length);
      readBuffers(s.replica.encoder, s.statNames, buffers);
      return { type: 'dumped', params, buffers };
    }
  }
}

// Messages are handled strictly in order (an 'apply' finishes before the next 'step' starts).
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => {
  queue = queue.then(async () => {
    try {
      const reply = await handle(m);
      if (reply) port.postMessage(reply);
    } catch (e) {
      port.postMessage({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies FromWorker);
    }
  });
});
