// Loads the oneDNN training addon (native/dnnl_encoder.cc, built by scripts/build-native.sh into
// build/kefer_dnnl.node). It is optional: without it (no libdnnl here, or not built) the engine trains
// the encoder on onnxruntime as before, and says why onednn was not used.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { findAddon } from '../native/addonPath.js';

export interface NativeEncoder {
  forward(images: Float32Array): { v: Float32Array; stats: Float32Array };
  backward(dv: Float32Array): void;
  sgd(lr: number, momentum: number, weightDecay: number): void;
  setParam(name: string, values: Float32Array): void;
  getParam(name: string): Float32Array;
  getGrad(name: string): Float32Array;
  setMomentum(name: string, values: Float32Array | null): void;
  getMomentum(name: string): Float32Array | null;
  /** convolution / backward: the forward and the backward implementations oneDNN chose, comma-separated. */
  /** Frees the native memory now (not at garbage collection); the encoder is unusable afterwards. */
  release(): void;
  info(): { version: string; block: number; threads: number; convolution: string; backward: string };
}

interface Addon {
  Encoder: new (spec: unknown) => NativeEncoder;
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
