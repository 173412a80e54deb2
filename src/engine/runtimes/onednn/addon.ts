// Loads the oneDNN training addon (native/dnnl_encoder.cc, built by scripts/build-native.sh into
// build/kefer_dnnl.node). It is optional: without it (no libdnnl here, or not built) the engine trains
// the encoder on onnxruntime as before, and says why onednn was not used.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { findAddon } from '../../util/addonPath.js';
import type { NativeEncoderMethods } from '../nativeEncoder.js';

export interface NativeEncoder extends NativeEncoderMethods {
  forward(images: Float32Array): { v: Float32Array; stats: Float32Array };
  /** convolution / backward: the forward and the backward implementations oneDNN chose, comma-separated; isa: what oneDNN dispatches to. */
  info(): { version: string; block: number; threads: number; convolution: string; backward: string; isa: string };
}

/** The encoder in inference mode (BatchNorm folded, post-ops fused, blocked layout): native/dnnl_encoder.cc Inference. */
export interface NativeInference {
  /** images [N, S, S, 3] normalised NHWC, N the batch it was built for -> v [N, D]. */
  forward(images: Float32Array): Float32Array;
  /** forward() from RGB bytes as decoded [N, S, S, 3], normalised (and int8: quantized) natively. */
  forwardPixels(rgb: Uint8Array, mean: readonly number[], std: readonly number[]): Float32Array;
  /** fp32 only: the largest |value| each op wrote for these images (0 for the GAP): the int8 calibration. */
  calibrate(images: Float32Array): Float32Array;
  /** A convolution's weights (tfjs's HWIO) and bias with its BatchNorm folded in, by the convolution's weight name. */
  setWeights(name: string, weights: Float32Array, bias: Float32Array, skipShared?: boolean): void;
  info(): { version: string; block: number; threads: number; precision: 'fp32' | 'int8'; convolution: string; winogradShared: number; winogradPerThreadChunks: number; winogradF4: number; winogradF7: number; greyStem: boolean; greyStemBatches: number; activationBytes: number; isa: string };
  release(): void;
}

interface Addon {
  Encoder: new (spec: unknown) => NativeEncoder;
  /** sibling: an instance of the same encoder (another batch size) whose Winograd weights this one shares. */
  Inference: new (spec: unknown, sibling?: NativeInference) => NativeInference;
  /** The instruction set oneDNN dispatches to here (after DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA). */
  isa(): string;
}

/** build/kefer_dnnl.node above this module (src/engine under tsx, dist/ in the bundle), or $KEFER_DNNL_ADDON. */
export function addonPath(): string | undefined {
  return findAddon('kefer_dnnl.node', 'KEFER_DNNL_ADDON');
}

let cached: { addon?: Addon; why?: string } | undefined;

/** The addon, or why it cannot be used (not built; libdnnl missing at load time). */
export function loadOnednn(): { addon?: Addon; why?: string } {
  if (cached) return cached;
  const p = addonPath();
  // dist/native.json beside the bundle marks an installed .vsix (scripts/package.mjs)
  const packaged = existsSync(path.join(__dirname, 'native.json'));
  if (!p) return (cached = { why: packaged ? 'this extension package has no oneDNN addon (dist/build/kefer_dnnl.node)' : 'the oneDNN addon is not built (apt-get install libdnnl-dev g++, then npm run build:native)' });
  if (!existsSync(p)) return (cached = { why: `KEFER_DNNL_ADDON names ${p}, which does not exist` });
  try {
    cached = { addon: createRequire(__filename)(p) as Addon };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    // the addon links libdnnl.so.2 dynamically: the system loader finds it (ld.so.cache, LD_LIBRARY_PATH)
    const hint = /libdnnl\.so/.test(msg) ? ' (oneDNN 2.x is not installed: Debian/Ubuntu apt-get install libdnnl2, or put libdnnl.so.2 on LD_LIBRARY_PATH)' : '';
    cached = { why: `the oneDNN addon ${p} does not load: ${msg}${hint}` };
  }
  return cached;
}
