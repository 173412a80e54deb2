// Loads the CUDA training addon (native/cuda_encoder.cu, built by scripts/build-native.sh into
// build/kefer_cuda.node) and says whether this machine can run it. Optional, like the oneDNN addon: without
// it (no nvcc at install, no NVIDIA driver or device, no cuDNN 9) the engine trains as before and the run
// log says why cuda was not used.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { findAddon } from '../../util/addonPath.js';
import type { NativeEncoderMethods } from '../nativeEncoder.js';

export type CudaPrecision = 'fp32' | 'tf32' | 'amp';
export const CUDA_PRECISIONS: readonly CudaPrecision[] = ['fp32', 'tf32', 'amp'];

export interface CudaEncoderInfo {
  gpu: string;
  computeCapability: string;
  memoryMiB: number;
  driver: string;
  cuda: string;
  cudnn: string;
  cudnnPath: string;
  precision: CudaPrecision;
  layout: 'NCHW' | 'NHWC';
  workspaceMiB: number;
  lossScale: number;
  /** cuDNN's chosen algorithms per convolution shape, e.g. "fwd1/bwdData1/bwdFilter1 x3". */
  algorithms: string;
  deterministic: boolean;
}

export interface NativeCudaEncoder extends NativeEncoderMethods {
  /** One training step on the GPU; images null = the batch already on the device. Returns [ls, lt, lc, correct, total, skipped, lossScale]. */
  trainStep(images: Float32Array | null, labels: Int32Array, lr: number, momentum: number, weightDecay: number): Float32Array;
  /** Encoder forward; train: batch statistics (and running statistics updated), else running statistics. */
  forward(images: Float32Array | null, train?: boolean): Float32Array;
  head(v: Float32Array, labels: Int32Array): { terms: Float32Array; dv: Float32Array; n: Float32Array };
  setBuffer(name: string, values: Float32Array): void;
  getBuffer(name: string): Float32Array;
  synchronize(): void;
  info(): CudaEncoderInfo;
}

export interface CudaProbe {
  cuda: string;
  driver: string;
  deviceError?: string;
  devices: { name: string; computeCapability: string; memoryMiB: number }[];
  cudnn: { loaded: boolean; version?: string; path?: string; why?: string };
  headersChecked: boolean;
}

export interface CudaAddon {
  Encoder: new (spec: unknown) => NativeCudaEncoder;
  probe(): CudaProbe;
}

/** build/kefer_cuda.node above this module (src/engine under tsx, dist/ in the bundle), or $KEFER_CUDA_ADDON. */
export function cudaAddonPath(): string | undefined {
  return findAddon('kefer_cuda.node', 'KEFER_CUDA_ADDON');
}

export interface CudaAvailability {
  addon?: CudaAddon;
  probe?: CudaProbe;
  /** True when a device, its driver and cuDNN are there: --runtime cuda can train. */
  ok: boolean;
  /** Why not, when not ok: 'addon not built', 'no device', 'no cuDNN', with the detail. */
  why?: string;
}

let cached: CudaAvailability | undefined;

/** Whether the CUDA runtime can train here, and why not (cached: it loads the driver once). */
export function cudaAvailability(): CudaAvailability {
  if (cached) return cached;
  const p = cudaAddonPath();
  if (!p) return (cached = { ok: false, why: 'addon not built: the CUDA addon is not built (needs nvcc at npm install, or npm run build:native -- --cuda=require)' });
  if (!existsSync(p)) return (cached = { ok: false, why: `addon not built: KEFER_CUDA_ADDON names ${p}, which does not exist` });
  let addon: CudaAddon;
  try {
    addon = createRequire(__filename)(p) as CudaAddon;
  } catch (e) {
    return (cached = { ok: false, why: `addon not built: ${p} does not load: ${(e as Error).message.split('\n')[0]}` });
  }
  const probe = addon.probe();
  if (!probe.devices.length) {
    const reason = probe.driver === 'none' ? 'no NVIDIA driver on this machine' : (probe.deviceError ?? 'none visible');
    return (cached = { addon, probe, ok: false, why: `no device: no CUDA device (${reason})` });
  }
  if (!probe.cudnn.loaded) return (cached = { addon, probe, ok: false, why: `no cuDNN: ${probe.cudnn.why}` });
  return (cached = { addon, probe, ok: true });
}

/** For tests that swap KEFER_CUDA_ADDON. */
export function resetCudaAvailability(): void {
  cached = undefined;
}

/** The run log's line: GPU, driver, CUDA, cuDNN, precision. */
export function describeCuda(i: CudaEncoderInfo): string {
  return `${i.gpu} (compute ${i.computeCapability}, ${Math.round(i.memoryMiB / 1024)} GiB), driver CUDA ${i.driver}, CUDA runtime ${i.cuda}, cuDNN ${i.cudnn}, precision ${i.precision} (${i.layout})`;
}
