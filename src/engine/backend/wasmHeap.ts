// Direct access to tensors living in the wasm backend's heap. The backend's own data-movement
// kernels (StridedSlice, Reverse, DepthToSpace, channel Concat) are element-by-element loops, 5-20x
// slower than a memcpy; the gather/scatter steps of the conv gradients are done here instead with
// copyWithin on the heap (a memmove of whole pixel rows, no JS-side allocation).
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's BackendWasm we use (not exported as a type by the package). */
export interface WasmBackendInternals {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

export function internals(backend: unknown): WasmBackendInternals {
  const b = backend as Partial<WasmBackendInternals>;
  if (!b.wasm || !b.dataIdMap || typeof b.makeOutput !== 'function') throw new Error('not a tfjs wasm backend');
  return b as WasmBackendInternals;
}

/** Float index of a tensor's first element in HEAPF32. */
export function f32Offset(be: WasmBackendInternals, t: tf.TensorInfo): number {
  const d = be.dataIdMap.get(t.dataId);
  if (!d) throw new Error('tensor is not on the wasm backend');
  return d.memoryOffset >>> 2;
}

/**
 * A new float32 tensor on the wasm heap (contents undefined). Created through the engine so tidy()
 * tracks and frees it. Re-read be.wasm.HEAPF32 after calling this: allocation may grow the heap.
 */
export function allocTensor<R extends tf.Rank>(be: WasmBackendInternals, shape: number[]): tf.Tensor<R> {
  const info = be.makeOutput(shape, 'float32');
  return tf.engine().makeTensorFromTensorInfo(info, be as unknown as tf.KernelBackend) as tf.Tensor<R>;
}

/** Copies n floats inside the heap; short rows by hand (copyWithin's call cost dominates there). */
function copy(h: Float32Array, dst: number, src: number, n: number): void {
  if (n >= 16) h.copyWithin(dst, src, src + n);
  else for (let k = 0; k < n; k++) h[dst + k] = h[src + k];
}

/**
 * im2col for NHWC: row (b, oy, ox) holds the kh*kw*c input values under that output pixel, in
 * filter order (i, j, c); zero where the window hangs over the padding. Shape [n*oh*ow, kh*kw*c]
 * for images b0 <= b < b1 (default: the whole batch; a range lets callers chunk the batch).
 * For one output pixel and kernel row i the kw taps are adjacent in x, so each (pixel, i) is a
 * single copy of kw*c floats (clipped at the borders).
 */
export function im2col(be: WasmBackendInternals, x: tf.Tensor4D, kh: number, kw: number, sh: number, sw: number, pt: number, pl: number, oh: number, ow: number, b0 = 0, b1 = x.shape[0]): tf.Tensor2D {
  const [, H, W, c] = x.shape;
  const rowLen = kh * kw * c;
  const out = allocTensor<tf.Rank.R2>(be, [(b1 - b0) * oh * ow, rowLen]);
  const h = be.wasm.HEAPF32;
  const xo = f32Offset(be, x);
  let dst = f32Offset(be, out);
  for (let b = b0; b < b1; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const ix0 = ox * sw - pl;
        const jLo = Math.max(0, -ix0);
        const jHi = Math.min(kw, W - ix0); // exclusive
        for (let i = 0; i < kh; i++) {
          const iy = oy * sh + i - pt;
          if (iy < 0 || iy >= H || jHi <= jLo) {
            h.fill(0, dst, dst + kw * c);
          } else {
            if (jLo > 0) h.fill(0, dst, dst + jLo * c);
            copy(h, dst + jLo * c, xo + ((b * H + iy) * W + ix0 + jLo) * c, (jHi - jLo) * c);
            if (jHi < kw) h.fill(0, dst + jHi * c, dst + kw * c);
          }
          dst += kw * c;
        }
      }
    }
  }
  return out;
}

/** x[:, 0::sh, 0::sw, :] limited to oh x ow (the input a strided 1x1 conv actually reads). */
export function subsample(be: WasmBackendInternals, x: tf.Tensor4D, sh: number, sw: number, oh: number, ow: number): tf.Tensor4D {
  const [n, H, W, c] = x.shape;
  const out = allocTensor<tf.Rank.R4>(be, [n, oh, ow, c]);
  const h = be.wasm.HEAPF32;
  const xo = f32Offset(be, x);
  let dst = f32Offset(be, out);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        copy(h, dst, xo + ((b * H + oy * sh) * W + ox * sw) * c, c);
        dst += c;
      }
    }
  }
  return out;
}

/**
 * Interleaves stride phases into one NHWC tensor: out[b, s*a+p, s*q'+q, :] = phases[p*s+q][b, a, q', :]
 * (a null phase means zeros), cropped to H x W.
 */
export function interleavePhases(be: WasmBackendInternals, phases: Array<tf.Tensor4D | null>, s: number, n: number, H: number, W: number, c: number): tf.Tensor4D {
  const out = allocTensor<tf.Rank.R4>(be, [n, H, W, c]);
  const h = be.wasm.HEAPF32;
  const oo = f32Offset(be, out);
  if (phases.some((p) => p === null)) h.fill(0, oo, oo + n * H * W * c);
  for (let p = 0; p < s; p++) {
    for (let q = 0; q < s; q++) {
      const ph = phases[p * s + q];
      if (!ph) continue;
      const [, A, B] = ph.shape;
      const po = f32Offset(be, ph);
      for (let b = 0; b < n; b++) {
        for (let a = 0; a < A; a++) {
          const y = s * a + p;
          if (y >= H) break;
          for (let bb = 0; bb < B; bb++) {
            const xcol = s * bb + q;
            if (xcol >= W) break;
            copy(h, oo + ((b * H + y) * W + xcol) * c, po + ((b * A + a) * B + bb) * c, c);
          }
        }
      }
    }
  }
  return out;
}

/**
 * Builds a [rows.length, cols.length, cout, cin] filter from w [kh, kw, cin, cout] taking tap
 * (rows[u], cols[v]) and swapping the channel axes (the transposed filter the input gradient
 * convolves with). Filters are small; a plain loop is fine.
 */
export function gatherTransposedTaps(be: WasmBackendInternals, w: tf.Tensor4D, rows: number[], cols: number[]): tf.Tensor4D {
  const [, kw, cin, cout] = w.shape;
  const out = allocTensor<tf.Rank.R4>(be, [rows.length, cols.length, cout, cin]);
  const h = be.wasm.HEAPF32;
  const wo = f32Offset(be, w);
  let dst = f32Offset(be, out);
  for (const i of rows) {
    for (const j of cols) {
      const tap = wo + (i * kw + j) * cin * cout;
      for (let co = 0; co < cout; co++) {
        for (let ci = 0; ci < cin; ci++) h[dst++] = h[tap + ci * cout + co];
      }
    }
  }
  return out;
}
