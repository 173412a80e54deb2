// WebGPU in Node through Dawn (npm `webgpu`). Node has no navigator.gpu, so we install one before
// tfjs-backend-webgpu is imported (it registers itself only if navigator.gpu exists).
// Software adapters (lavapipe, SwiftShader) train ~10x slower than wasm, so they are refused
// unless KEFER_WEBGPU_ALLOW_SOFTWARE=1 (tests use that to exercise this path on a CPU machine).
import * as tf from '@tensorflow/tfjs-core';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { BackendReport } from '../events.js';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe|software|basic render/i;

/** True for CPU-implemented adapters, which we do not train on by default. */
export function isSoftwareAdapter(info: AdapterDescription): boolean {
  if (info.isFallbackAdapter) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}

export function describeAdapter(info: AdapterDescription): string {
  const parts = [info.vendor, info.architecture, info.description || info.device].filter(Boolean);
  return `Dawn: ${parts.join(' ') || 'unknown adapter'}`;
}

let gpu: GPU | null = null;
let probed: Promise<string | null> | undefined;

/**
 * Dawn's native code writes to file descriptor 2 when it looks for Vulkan and finds no loader or
 * driver ("Warning: Couldn't load Vulkan ... BackendVk.cpp:368", with its CI's build path), which
 * a Node process cannot silence. So the first look for an adapter runs in a short child process
 * (the same Node, ~0.2 s) whose stderr is kept: null when it found an adapter, else one line that
 * says why not. Dawn is loaded into this process only when there is an adapter to use.
 */
function probeInChild(): Promise<string | null> {
  probed ??= new Promise((resolve) => {
    let entry: string;
    try {
      entry = pathToFileURL(createRequire(__filename).resolve('webgpu')).href;
    } catch (err) {
      resolve(`npm package 'webgpu' (Dawn) is not installed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      return;
    }
    const flags = (process.env.KEFER_DAWN_FLAGS ?? '').split(' ').filter(Boolean);
    const script = `const m = await import(${JSON.stringify(entry)}); Object.assign(globalThis, m.globals);
      const a = await m.create(${JSON.stringify(flags)}).requestAdapter({ powerPreference: 'high-performance' });
      process.stdout.write(a ? 'adapter' : 'none'); process.exit(0);`;
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } }, (err, stdout, stderr) => {
      if (!err && stdout === 'adapter') return resolve(null);
      // the loader's own reason ("Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file"), without the stack
      const reason = /Couldn't load [^\n]*/.exec(stderr)?.[0] ?? (err ? (stderr.trim().split('\n')[0] || err.message.split('\n')[0]) : undefined);
      resolve(`no adapter found${reason ? ` (${reason.trim()})` : ' (no Vulkan driver or GPU on this machine)'}`);
    });
  });
  return probed;
}

async function nodeGpu(): Promise<GPU> {
  if (gpu) return gpu;
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu) return (gpu = g.navigator.gpu);
  const noAdapter = await probeInChild();
  if (noAdapter) throw new Error(`webgpu: ${noAdapter}`);
  let mod: { create(flags: string[]): GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (err) {
    throw new Error(`webgpu: npm package 'webgpu' (Dawn) failed to load: ${err instanceof Error ? err.message : String(err)}`);
  }
  // GPUBufferUsage etc. are globals in browsers; tfjs-backend-webgpu uses them.
  Object.assign(globalThis, mod.globals);
  const flags = (process.env.KEFER_DAWN_FLAGS ?? '').split(' ').filter(Boolean);
  gpu = mod.create(flags);
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  Object.defineProperty(g.navigator as object, 'gpu', { value: gpu, configurable: true });
  return gpu;
}

/**
 * The adapter other GPU users (onnxruntime's WebGPU provider) would get: its description when it is
 * hardware (or software allowed by KEFER_WEBGPU_ALLOW_SOFTWARE=1), else null. Never throws.
 */
export async function usableAdapter(): Promise<string | null> {
  try {
    const adapter = await (await nodeGpu()).requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return null;
    const raw = adapter.info as unknown as AdapterDescription;
    const info: AdapterDescription = { vendor: raw.vendor ?? '', architecture: raw.architecture ?? '', device: raw.device ?? '', description: raw.description ?? '', isFallbackAdapter: raw.isFallbackAdapter };
    if (isSoftwareAdapter(info) && process.env.KEFER_WEBGPU_ALLOW_SOFTWARE !== '1') return null;
    return describeAdapter(info);
  } catch {
    return null;
  }
}

export async function initWebGpu(log: (msg: string) => void = () => {}): Promise<BackendReport> {
  const g = await nodeGpu();
  const adapter = await g.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('webgpu: no adapter found (no Vulkan driver or GPU on this machine)');
  const raw = adapter.info as unknown as AdapterDescription;
  const info: AdapterDescription = {
    vendor: raw.vendor ?? '', architecture: raw.architecture ?? '', device: raw.device ?? '', description: raw.description ?? '',
    isFallbackAdapter: raw.isFallbackAdapter ?? (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  };
  const detail = describeAdapter(info);
  if (isSoftwareAdapter(info)) {
    if (process.env.KEFER_WEBGPU_ALLOW_SOFTWARE !== '1') {
      throw new Error(`webgpu: only a software adapter is available (${detail}); it trains slower than wasm (set KEFER_WEBGPU_ALLOW_SOFTWARE=1 to use it anyway)`);
    }
    log(`webgpu: using software adapter (${detail}) because KEFER_WEBGPU_ALLOW_SOFTWARE=1`);
  }
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!tf.findBackendFactory('webgpu')) throw new Error('webgpu: tfjs-backend-webgpu did not register (navigator.gpu missing at import)');
  if (!(await tf.setBackend('webgpu'))) throw new Error(`webgpu: backend failed to initialise on ${detail}`);
  await tf.ready();
  explainSyncReads();
  return { name: 'webgpu', detail };
}

/**
 * tfjs-backend-webgpu reads GPU-resident tensors synchronously (dataSync, arraySync) through an
 * OffscreenCanvas, which Node lacks ("OffscreenCanvas is not defined"), and Dawn has no blocking
 * buffer map, so no synchronous read can work here. Say so and name the way out (await data()).
 */
function explainSyncReads(): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const be = tf.backend() as unknown as { readSync(dataId: object): unknown; keferSyncGuard?: boolean };
  if (be.keferSyncGuard) return;
  const readSync = be.readSync.bind(be);
  be.readSync = (dataId: object) => {
    try {
      return readSync(dataId);
    } catch (err) {
      if (err instanceof ReferenceError && /OffscreenCanvas/.test(err.message)) {
        throw new Error('webgpu: synchronous tensor reads (dataSync/arraySync) are impossible in Node (no OffscreenCanvas, no blocking GPU map); read with await tensor.data()');
      }
      throw err;
    }
  };
  be.keferSyncGuard = true;
}
