// Training kernels for @tensorflow/tfjs-backend-wasm (4.22). As shipped, the wasm backend cannot
// train a CNN: Conv2DBackpropFilter is not registered, Conv2DBackpropInput is a scalar loop, and a
// few forward kernels fall off XNNPACK's fast paths (transposed MatMul, strided 1x1 Conv2D).
// Every kernel here is a composition of ops the wasm backend runs through XNNPACK (plain conv2d,
// plain matMul) plus cheap copies (slice, pad, transpose, concat), so it inherits XNNPACK's speed.
// Each one was measured against the cpu backend's kernels (test/engine/backendKernels.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import { gatherTransposedTaps, im2col, interleavePhases, internals, subsample } from './wasmHeap.js';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type KernelArgs = Parameters<KernelFunc>[0];
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

const BACKEND = 'wasm';

/** Original (shipped) kernels we delegate to, captured before we override them. */
const originals = new Map<string, tf.KernelConfig>();
let registered = false;

/** Inputs arrive as Tensors when ops call runKernel; wrap bare TensorInfos so tf ops accept them. */
function asTensor<R extends tf.Rank>(info: tf.TensorInfo | undefined, backend: tf.KernelBackend): tf.Tensor<R> {
  if (!info) throw new Error('missing kernel input');
  if (info instanceof tf.Tensor) return info as tf.Tensor<R>;
  // incRef so that disposing the wrapper (tidy) does not free the caller's buffer.
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend) as tf.Tensor<R>;
}

/** Runs a shipped kernel directly (used for the cases our override does not change). */
function callOriginal(name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const k = originals.get(name);
  if (!k) throw new Error(`no shipped wasm kernel '${name}' to delegate to`);
  return k.kernelFunc(args);
}

function convInfo(xShape: number[], wShape: number[], strides: number | [number, number], pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil') {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], wShape as [number, number, number, number],
    strides, 1, pad, dimRoundingMode, false, 'channelsLast');
}

function isNHWC(dataFormat: unknown): boolean {
  return dataFormat == null || dataFormat === 'NHWC';
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW[i,j,ci,co] = sum_{n,oy,ox} xpad[n, oy*s+i, ox*s+j, ci] * dy[n,oy,ox,co]
// im2col (JS copies on the heap, wasmHeap.ts) and ONE plain XNNPACK matMul. MatMul with transpose
// flags is ~20x slower on wasm than a plain one, so an operand is transposed explicitly (a copy):
//   'colsT': cols^T[T*cin, P] @ dy[P, cout]  -> already in filter layout
//   'dyT'  : dy^T[cout, P] @ cols[P, T*cin]  -> transposed back (small)
// XNNPACK is fastest with a large M and a small N, so 'colsT' wins when cout is small relative
// to T*cin (measured; see bench/README.md).
// ---------------------------------------------------------------------------------------------
export type FilterGradMode = 'colsT' | 'dyT';

export function pickFilterGradMode(P: number, K: number, cout: number): FilterGradMode {
  const forced = process.env.KEFER_DW_MODE;
  if (forced === 'colsT' || forced === 'dyT') return forced;
  return K >= cout ? 'colsT' : 'dyT';
}

/**
 * Memory bounds of the kernels' temporaries. im2colMaxFloats caps the im2col matrix of one
 * filter-gradient matMul (its transposed copy is as large again): larger batches are processed in
 * chunks of whole images and dW is accumulated over the chunks. 16 M floats (64 MB) keeps
 * ResNet-18's stem and layer1 at batch 16 in one piece (7.4 M) and splits batch 64 in two.
 * Mutable so tests can force the chunked path on small shapes.
 */
export const wasmKernelLimits = { im2colMaxFloats: 1 << 24 };

export function conv2dBackpropFilterImpl(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], strides: number | [number, number], pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  const be = internals(tf.backend());
  const info = convInfo(x.shape, filterShape, strides, pad, dimRoundingMode);
  const [kh, kw, cin, cout] = filterShape;
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, padInfo } = info;
  const n = x.shape[0];
  const P = n * oh * ow;
  const K = kh * kw * cin;
  const direct = kh === 1 && kw === 1 && sh === 1 && sw === 1 && padInfo.top === 0 && padInfo.left === 0;
  const mode = pickFilterGradMode(P, K, cout);
  // 'colsT' accumulates [K, cout] (filter layout), 'dyT' accumulates [cout, K].
  const partial = (b0: number, b1: number): tf.Tensor2D => tf.tidy(() => {
    const rows = (b1 - b0) * oh * ow;
    const dy2 = b0 === 0 && b1 === n ? tf.reshape(dy, [P, cout]) : tf.slice(tf.reshape(dy, [P, cout]), [b0 * oh * ow, 0], [rows, cout]);
    const cols = direct
      ? (b0 === 0 && b1 === n ? tf.reshape(x, [P, cin]) : tf.slice(tf.reshape(x, [P, cin]), [b0 * oh * ow, 0], [rows, cin]))
      : im2col(be, x, kh, kw, sh, sw, padInfo.top, padInfo.left, oh, ow, b0, b1);
    return mode === 'colsT' ? tf.matMul(tf.transpose(cols), dy2) : tf.matMul(tf.transpose(dy2), cols);
  });
  // Whole images per chunk; at least one even if a single image exceeds the cap.
  const per = Math.max(1, Math.floor(wasmKernelLimits.im2colMaxFloats / (oh * ow * K)));
  let acc: tf.Tensor2D | null = null;
  for (let b0 = 0; b0 < n; b0 += per) {
    // Each chunk's temporaries are freed before the next chunk allocates its own.
    const part = partial(b0, Math.min(n, b0 + per));
    if (!acc) { acc = part; continue; }
    const sum: tf.Tensor2D = tf.add(acc, part);
    tf.dispose([acc, part]);
    acc = sum;
  }
  const out = acc!;
  const dW: tf.Tensor4D = tf.tidy(() => (mode === 'colsT' ? tf.reshape(out, filterShape) : tf.reshape(tf.transpose(out), filterShape)));
  out.dispose();
  return dW;
}

function conv2dBackpropFilterKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (!isNHWC(a.dataFormat)) throw new Error(`wasm Conv2DBackpropFilter supports NHWC only, got ${a.dataFormat}`);
  const x = asTensor<tf.Rank.R4>(inputs.x, backend as tf.KernelBackend);
  const dy = asTensor<tf.Rank.R4>(inputs.dy, backend as tf.KernelBackend);
  return conv2dBackpropFilterImpl(x, dy, a.filterShape, a.strides, a.pad as Pad, a.dimRoundingMode);
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropInput: dx[h,w] = sum_{i,j : s | (h+pt-i), s | (w+pl-j)} dy[(h+pt-i)/s, (w+pl-j)/s] W[i,j]^T
// Split dx into s*s phases (h = s*a + p). Within a phase only taps i = p+pt (mod s) contribute and
// they hit dy at consecutive offsets, so each phase is a stride-1 forward conv of dy with a small
// flipped, transposed sub-kernel (XNNPACK, padding done inside XNNPACK). Phases are interleaved on
// the heap. For stride 1 this is the textbook "conv with the flipped, transposed filter"; for
// stride 2 it does exactly the useful multiply-adds instead of convolving a 4x zero-inserted dy.
// ---------------------------------------------------------------------------------------------
interface PhaseTaps { taps: number[]; minOffset: number; maxOffset: number }

/** For each output phase p in [0,s): the taps reaching it, ordered by ascending dy offset. */
export function phaseTaps(k: number, s: number, padBefore: number): PhaseTaps[] {
  const out: PhaseTaps[] = [];
  for (let p = 0; p < s; p++) {
    const taps: number[] = [];
    const offsets: number[] = [];
    // Descending tap index = ascending offset d = (p + padBefore - i) / s: the kernel flip.
    for (let i = k - 1; i >= 0; i--) {
      const d = p + padBefore - i;
      if (((d % s) + s) % s === 0) { taps.push(i); offsets.push(d / s); }
    }
    out.push({ taps, minOffset: offsets.length ? offsets[0] : 0, maxOffset: offsets.length ? offsets[offsets.length - 1] : -1 });
  }
  return out;
}

/** Crops dy where the needed window starts/ends inside it (negative padding). */
function cropForPads(dy: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return dy;
  const [n, h, w, c] = dy.shape;
  const t = Math.max(0, -top), b = Math.max(0, -bottom), l = Math.max(0, -left), r = Math.max(0, -right);
  return tf.slice(dy, [0, t, l, 0], [n, h - t - b, w - l - r, c]);
}

export function conv2dBackpropInputImpl(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], strides: number | [number, number], pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  const be = internals(tf.backend());
  const info = convInfo(inputShape, filter.shape, strides, pad, dimRoundingMode);
  const [kh, kw, cin] = filter.shape;
  const [n, H, W] = inputShape;
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, padInfo } = info;
  const A = Math.ceil(H / sh);
  const B = Math.ceil(W / sw);
  return tf.tidy(() => {
    const rows = phaseTaps(kh, sh, padInfo.top);
    const cols = phaseTaps(kw, sw, padInfo.left);
    const phases: Array<tf.Tensor4D | null> = [];
    for (const r of rows) {
      for (const c of cols) {
        if (r.taps.length === 0 || c.taps.length === 0) { phases.push(null); continue; }
        const sub = gatherTransposedTaps(be, filter, r.taps, c.taps);
        // dy rows a+minOffset .. a+maxOffset for a in [0, A): pad (or crop) so 'valid' gives A x B.
        const top = -r.minOffset, bottom = A - 1 + r.maxOffset - (oh - 1);
        const left = -c.minOffset, right = B - 1 + c.maxOffset - (ow - 1);
        const d = cropForPads(dy, top, bottom, left, right);
        const pads: tf.backend_util.ExplicitPadding = [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]];
        phases.push(tf.conv2d(d, sub, 1, pads));
      }
    }
    if (sh === 1 && sw === 1 && phases[0]) return phases[0];
    if (sh !== sw) throw new Error('unequal strides');
    return interleavePhases(be, phases, sh, n, H, W, cin);
  });
}

function conv2dBackpropInputKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const filterShape = (inputs.filter as tf.TensorInfo).shape as [number, number, number, number];
  const info = convInfo(a.inputShape, filterShape, a.strides, a.pad as Pad, a.dimRoundingMode);
  // Unusual shapes (NCHW, unequal strides, padding beyond the kernel) keep the shipped kernel.
  const supported = isNHWC(a.dataFormat) && info.strideHeight === info.strideWidth &&
    info.padInfo.top < filterShape[0] && info.padInfo.left < filterShape[1] && a.inputShape.length === 4;
  if (!supported) return callOriginal(tf.Conv2DBackpropInput, args);
  const dy = asTensor<tf.Rank.R4>(inputs.dy, backend as tf.KernelBackend);
  const w = asTensor<tf.Rank.R4>(inputs.filter, backend as tf.KernelBackend);
  return conv2dBackpropInputImpl(dy, w, a.inputShape, a.strides, a.pad as Pad, a.dimRoundingMode);
}

// ---------------------------------------------------------------------------------------------
// BatchMatMul: the shipped kernel is fast only without transpose flags (XNNPACK); with them it is a
// scalar loop (0.2-2 GFLOP/s vs ~20). Transposing the operand first is a cheap copy.
// ---------------------------------------------------------------------------------------------
function batchMatMulKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const a = attrs as unknown as tf.BatchMatMulAttrs;
  if (!a.transposeA && !a.transposeB) return callOriginal(tf.BatchMatMul, args);
  const A = asTensor(inputs.a, backend as tf.KernelBackend);
  const B = asTensor(inputs.b, backend as tf.KernelBackend);
  return tf.tidy(() => {
    const swapLast = (t: tf.Tensor) => {
      const perm = t.shape.map((_, i) => i);
      [perm[t.rank - 2], perm[t.rank - 1]] = [perm[t.rank - 1], perm[t.rank - 2]];
      return tf.transpose(t, perm);
    };
    const a2 = a.transposeA ? swapLast(A) : A;
    const b2 = a.transposeB ? swapLast(B) : B;
    return tf.matMul(a2, b2);
  });
}

// ---------------------------------------------------------------------------------------------
// Conv2D: a strided 1x1 conv (ResNet downsample shortcut) misses XNNPACK's fast path
// (~1 GFLOP/s). Subsample first, then it is a plain 1x1 conv (a GEMM).
// ---------------------------------------------------------------------------------------------
function conv2dKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, backend, attrs } = args;
  const a = attrs as unknown as tf.Conv2DAttrs;
  const wShape = (inputs.filter as tf.TensorInfo).shape;
  const xShape = (inputs.x as tf.TensorInfo).shape;
  const dil = typeof a.dilations === 'number' ? [a.dilations, a.dilations] : (a.dilations ?? [1, 1]);
  const st = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
  const is1x1Strided = wShape[0] === 1 && wShape[1] === 1 && (st[0] > 1 || st[1] > 1) &&
    dil[0] === 1 && dil[1] === 1 && isNHWC(a.dataFormat) && (a.pad === 'valid' || a.pad === 'same' || a.pad === 0);
  if (!is1x1Strided) return callOriginal(tf.Conv2D, args);
  const info = convInfo(xShape, wShape, a.strides, a.pad as Pad, a.dimRoundingMode);
  const x = asTensor<tf.Rank.R4>(inputs.x, backend as tf.KernelBackend);
  const w = asTensor<tf.Rank.R4>(inputs.filter, backend as tf.KernelBackend);
  return tf.tidy(() => {
    // 1x1 'same' pads only on the bottom/right, so sampling starts at 0 for both paddings.
    const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    return tf.conv2d(subsample(internals(backend), x, sh, sw, oh, ow), w, 1, 'valid');
  });
}

// ---------------------------------------------------------------------------------------------
// Identity: the shipped kernel copies the tensor. The engine clones every tensor it saves for
// backward through Identity, so each saved activation was a second full copy on the heap (and a
// memcpy). Tensors are immutable, so share the buffer by reference count like the cpu backend and
// Reshape do; the copy is freed when the last holder lets go.
// ---------------------------------------------------------------------------------------------
function identityKernel(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === 'string') return callOriginal(tf.Identity, args);
  (args.backend as tf.KernelBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

// ---------------------------------------------------------------------------------------------
// Sum / Mean: the shipped kernels add the reduced elements one after the other in float32, so the
// rounding error grows with the count (O(n eps)). Batch norm reduces over N*H*W, thousands of
// elements per channel in the stem and layer1 (12-50 k at 112 px, batch 16), and its statistics
// came out ~10x less accurate than the cpu backend's (which accumulates in float64) or
// onnxruntime's: enough to put ReLU inputs that lie within ~1e-5 of 0 on the other side of the
// kink, and one such flip moves whole layers' gradients by percents. Large float32 reductions are
// done in two levels instead (rows of ~sqrt(n) summed, then the row sums): error O(sqrt(n) eps),
// same number of additions, same shipped kernels underneath.
// ---------------------------------------------------------------------------------------------
/** Reductions at least this long are split (the inner sums recurse, so they stay short too). */
export const PAIRWISE_MIN = 256;

/** [rows, cols] with rows*cols >= n, cols ~ sqrt(n); an exact divisor of n when one is close. */
export function pairwiseSplit(n: number): [number, number] {
  const r = Math.round(Math.sqrt(n));
  for (let d = 0; d <= r / 2; d++) {
    if (n % (r + d) === 0) return [n / (r + d), r + d];
    if (r - d > 0 && n % (r - d) === 0) return [n / (r - d), r - d];
  }
  return [Math.ceil(n / r), r];
}

function reduceKernel(name: typeof tf.Sum | typeof tf.Mean): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const xi = inputs.x as tf.TensorInfo;
    const axes = tf.util.parseAxisParam(axis, xi.shape);
    const n = axes.reduce((p, a) => p * xi.shape[a], 1);
    if (xi.dtype !== 'float32' || n < PAIRWISE_MIN) return callOriginal(name, args);
    const x = asTensor(xi, backend as tf.KernelBackend);
    return tf.tidy(() => {
      const perm = tf.backend_util.getAxesPermutation(axes, x.rank);
      const outer = x.size / n;
      const [rows, cols] = pairwiseSplit(n);
      let flat = tf.reshape(perm ? tf.transpose(x, perm) : x, [outer, n]);
      if (rows * cols !== n) flat = tf.pad(flat, [[0, 0], [0, rows * cols - n]]);
      const s = tf.sum(tf.sum(tf.reshape(flat, [outer, rows, cols]), 2), 1);
      const [outShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
      const shape = keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
      return tf.reshape(name === tf.Mean ? tf.div(s, n) : s, shape);
    });
  };
}

const OVERRIDES: Array<[string, KernelFunc]> = [
  [tf.Conv2DBackpropFilter, conv2dBackpropFilterKernel],
  [tf.Conv2DBackpropInput, conv2dBackpropInputKernel],
  [tf.BatchMatMul, batchMatMulKernel],
  [tf.Conv2D, conv2dKernel],
  [tf.Identity, identityKernel],
  [tf.Sum, reduceKernel(tf.Sum)],
  [tf.Mean, reduceKernel(tf.Mean)],
];

/**
 * Registers the training kernels on the wasm backend. Idempotent. Must run after
 * '@tensorflow/tfjs-backend-wasm' has been imported (its kernels are what we wrap).
 */
export function registerWasmKernels(): void {
  if (registered) return;
  // For measuring what each kernel buys (bench/README.md): KEFER_WASM_KERNELS_DISABLE=Conv2DBackpropInput,BatchMatMul
  const disabled = new Set((process.env.KEFER_WASM_KERNELS_DISABLE ?? '').split(',').map((k) => k.trim()));
  for (const [name, kernelFunc] of OVERRIDES) {
    if (disabled.has(name) && tf.getKernel(name, BACKEND)) continue;
    const shipped = tf.getKernel(name, BACKEND);
    if (shipped) {
      originals.set(name, shipped);
      tf.unregisterKernel(name, BACKEND);
    }
    // Keep the shipped setup/dispose hooks: they cwrap the wasm functions we delegate to.
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc, setupFunc: shipped?.setupFunc, disposeFunc: shipped?.disposeFunc });
  }
  registered = true;
}

/** Names of the kernels this module registers (for reports and tests). */
export const WASM_KERNEL_OVERRIDES: readonly string[] = OVERRIDES.map(([n]) => n);
