// Picks and initialises the tfjs backend the engine trains on. Order for 'auto': native TensorFlow
// (tfjs-node-gpu, tfjs-node; optional dependencies that are often absent), WebGPU on a hardware
// adapter, then wasm (XNNPACK) with the project's training kernels. The pure-JS 'cpu' backend is
// never chosen: it cannot train a CNN in useful time.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradient functions; training needs all of them (gradients.ts: tfjs's,
// with cheaper Sum and Mean gradients).
import './gradients.js';
import type { BackendReport } from '../events.js';
import { initWasm } from './wasm.js';
import { initWebGpu } from './webgpu.js';
import { initTensorflowAny } from './tensorflow.js';

export type BackendPreference = 'auto' | 'tensorflow' | 'webgpu' | 'wasm';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'webgpu', 'wasm'];

export function isBackendPreference(s: string): s is BackendPreference {
  return (BACKEND_PREFERENCES as readonly string[]).includes(s);
}

type Attempt = (log: (msg: string) => void) => Promise<BackendReport>;

const ATTEMPTS: Record<Exclude<BackendPreference, 'auto'>, Attempt[]> = {
  // one attempt for both packages, so probing logs one line per backend
  tensorflow: [(log) => initTensorflowAny(log)],
  webgpu: [(log) => initWebGpu(log)],
  wasm: [(log) => initWasm(log)],
};

let active: BackendReport | null = null;
/** Serialises concurrent calls: tf.setBackend is global state. */
let pending: Promise<unknown> = Promise.resolve();

async function tryInOrder(attempts: Attempt[], log: (msg: string) => void): Promise<{ report: BackendReport | null; reasons: string[] }> {
  const reasons: string[] = [];
  for (const attempt of attempts) {
    try {
      return { report: await attempt(log), reasons };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      reasons.push(reason);
      log(`backend: ${reason}`);
    }
  }
  return { report: null, reasons };
}

async function init(pref: BackendPreference, log: (msg: string) => void): Promise<BackendReport> {
  // Idempotent: a second call keeps what is running if it satisfies the request.
  if (active && tf.getBackend() === active.name && (pref === 'auto' || pref === active.name)) return active;
  if (pref === 'auto') {
    const { report, reasons } = await tryInOrder([...ATTEMPTS.tensorflow, ...ATTEMPTS.webgpu, ...ATTEMPTS.wasm], log);
    if (!report) throw new Error(`no usable tensor backend: ${reasons.join('; ')}`);
    active = report;
  } else {
    const { report, reasons } = await tryInOrder(ATTEMPTS[pref], log);
    if (!report) throw new Error(`backend '${pref}' is not available: ${reasons.join('; ')}`);
    active = report;
  }
  log(`backend: ${active.name} (${active.detail})`);
  return active;
}

/**
 * Initialises a training backend and makes it tfjs's active backend.
 * 'auto' takes the fastest one available; an explicit preference that cannot be
 * initialised throws an Error that says why.
 */
export async function initBackend(pref: BackendPreference = 'auto', log: (msg: string) => void = () => {}): Promise<BackendReport> {
  if (!isBackendPreference(pref)) throw new Error(`unknown backend '${String(pref)}' (expected one of ${BACKEND_PREFERENCES.join(', ')})`);
  const run = pending.then(() => init(pref, log));
  pending = run.catch(() => undefined);
  return run;
}

/** The backend initBackend last activated, or null. */
export function activeBackend(): BackendReport | null {
  return active && tf.getBackend() === active.name ? active : null;
}

/**
 * Makes sure tfjs has some backend (reading a checkpoint only moves data; wasm always loads here), without
 * replacing one that is already active.
 */
export async function ensureTfBackend(log: (m: string) => void = () => {}): Promise<void> {
  try {
    tf.backend();
  } catch {
    await initBackend('wasm', log);
  }
}
