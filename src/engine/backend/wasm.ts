// wasm backend (XNNPACK) set up for training in Node: wasm binaries resolved from node_modules,
// plus the project's gradient kernels (wasmKernels.ts).
import * as tf from '@tensorflow/tfjs-core';
import path from 'node:path';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { BackendReport } from '../events.js';
import { registerWasmKernels } from './wasmKernels.js';
import { installFrugalGradients } from './tapeMemory.js';

const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/**
 * Folder holding the .wasm binaries: $KEFER_WASM_DIR, else wasm/ beside the bundle (the packaged
 * extension, scripts/package.mjs), else the installed npm package's dist/.
 */
export function wasmDir(): string {
  const besideBundle = path.join(__dirname, 'wasm');
  // createRequire: the packaged bundle has no node_modules/@tensorflow, and esbuild must not resolve this at build time
  const dir = process.env.KEFER_WASM_DIR || (fs.existsSync(path.join(besideBundle, WASM_FILES[0])) ? besideBundle
    : path.join(path.dirname(createRequire(__filename).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'));
  const missing = WASM_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length === WASM_FILES.length) throw new Error(`wasm binaries not found in ${dir}`);
  return dir;
}

let wasmModule: typeof import('@tensorflow/tfjs-backend-wasm') | null = null;

export async function initWasm(log: (msg: string) => void = () => {}): Promise<BackendReport> {
  if (!wasmModule) {
    wasmModule = await import('@tensorflow/tfjs-backend-wasm');
    // A trailing separator makes this a prefix; the backend appends the binary's file name.
    wasmModule.setWasmPaths(wasmDir() + path.sep);
  }
  registerWasmKernels();
  // tfjs keeps every intermediate gradient until backprop ends; that alone overflows the 4 GB wasm
  // heap for ResNet-18 at batch 64 (tapeMemory.ts).
  installFrugalGradients();
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialise');
  await tf.ready();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const threads = wasmModule.getThreadsCount();
  if (!simd) log('wasm: this runtime lacks WebAssembly SIMD; training will be several times slower');
  return { name: 'wasm', detail: `XNNPACK${simd ? ' SIMD' : ' (no SIMD)'}, ${threads} thread${threads === 1 ? '' : 's'}` };
}
