// The runtimes by name: each folder (tfjs, onnx, onednn, cuda) exports one RuntimeDefinition; adding a
// runtime means adding its folder and its line here. 'auto' picks the fastest one that can run here.
import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '../model/index.js';
import { cudaRuntime } from './cuda/index.js';
import { onednnRuntime } from './onednn/index.js';
import { onnxRuntime } from './onnx/index.js';
import { tfjsRuntime } from './tfjs/index.js';
import type { Availability, EvalEncoder, EvalEncoderOptions, RuntimeDefinition, RuntimeName, StepInputs, TrainStep } from './types.js';

export const RUNTIMES: Readonly<Record<RuntimeName, RuntimeDefinition>> = { tfjs: tfjsRuntime, onnx: onnxRuntime, onednn: onednnRuntime, cuda: cudaRuntime };

export type RuntimeChoice = 'auto' | RuntimeName;
export const RUNTIME_NAMES = Object.keys(RUNTIMES) as RuntimeName[];
export const RUNTIME_CHOICES: readonly RuntimeChoice[] = ['auto', ...RUNTIME_NAMES];

export function isRuntimeName(s: string): s is RuntimeName {
  return s in RUNTIMES;
}

export interface Resolved {
  name: RuntimeName;
  /** Faster runtimes 'auto' passed over, and why (for the run log). */
  skipped: string[];
}

/**
 * 'auto': with data-parallel workers tfjs (they are tfjs replicas); else cuda where it can run; else, when
 * tfjs would run on wasm (a CPU), onednn where its addon loads, else onnx; on a GPU tfjs backend (tensorflow,
 * webgpu) tfjs. `available` is injectable for tests.
 */
export function resolveRuntime(choice: RuntimeChoice | undefined, ctx: { backend: string; workers?: number }, available: (name: RuntimeName) => Availability = (n) => RUNTIMES[n].available()): Resolved {
  if (choice && choice !== 'auto') return { name: choice, skipped: [] };
  if ((ctx.workers ?? 1) > 1) return { name: 'tfjs', skipped: [] };
  const skipped: string[] = [];
  const cuda = available('cuda');
  if (cuda.ok) return { name: 'cuda', skipped };
  skipped.push(`cuda not used: ${cuda.why}`);
  if (ctx.backend !== 'wasm') return { name: 'tfjs', skipped };
  const onednn = available('onednn');
  if (onednn.ok) return { name: 'onednn', skipped };
  skipped.push(`onednn not used: ${onednn.why}`);
  return { name: 'onnx', skipped };
}

function ready(name: RuntimeName): RuntimeDefinition {
  const def = RUNTIMES[name];
  const a = def.available();
  if (!a.ok) throw new Error(`--runtime ${name}: ${a.why}`);
  return def;
}

/** The runtime's training step; throws, saying why, where it cannot run. */
export function createTrainStep(name: RuntimeName, inputs: StepInputs): Promise<TrainStep> {
  return ready(name).create(inputs);
}

/**
 * A saved model's encoder in inference mode on `name`; throws, saying why, where it cannot run. A quick
 * retrain's projection (encoder.proj, model/checkpoint.ts withProjection) runs after it on tfjs.
 */
export async function createEvalEncoder(name: RuntimeName, encoder: Encoder, opts: EvalEncoderOptions = {}): Promise<EvalEncoder> {
  if (opts.int8 && name !== 'onednn') throw new Error(`int8 inference runs on onednn (or the onnx export), not on ${name}`);
  const ev = await ready(name).evalEncoder(encoder, opts);
  const w = encoder.params.get('proj.weight');
  const b = encoder.params.get('proj.bias');
  if (!w || !b || name === 'tfjs') return ev;
  const project = async (v: Float32Array, n: number) => {
    const out = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(v, [n, w.shape[0]]), w), b));
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  };
  const pixels = ev.forwardPixels;
  return {
    ...ev,
    forward: async (x, n) => project(await ev.forward(x, n), n),
    forwardPixels: pixels && (async (rgb, n, norm) => project(await pixels(rgb, n, norm), n)),
    detail: `${ev.detail}; the projection on tfjs`,
  };
}
