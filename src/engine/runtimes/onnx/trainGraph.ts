// Training graphs for the visual encoder on onnxruntime: a forward pass in training mode (batch-statistics
// BatchNorm) and its hand-written backward pass, as two ONNX models. onnxruntime-node ships no training
// API, but its CPU kernels (MLAS GEMM/conv, native SIMD) are several times faster than tfjs-wasm, so the
// encoder's forward and backward run here while the small head (F_n + KE-FER losses) stays in tfjs.
//
//   forward:  images [N, S, S, 3] NHWC + parameters -> v [N, 512], each BN's batch mean/var, saved tensors
//   backward: dv [N, 512] + saved tensors + parameters -> grad.<param> for every encoder parameter
//
// Parameters are graph INPUTS (not initializers) so one session serves every step. Conv weights enter and
// their gradients leave in PyTorch's OIHW layout (what Conv/ConvTranspose take: no per-step transposes).
// The structure is the shared encoder description (../encoderGraph.ts); test/engine/onnxTrain.test.ts compares the
// loss terms and every gradient with tfjs autodiff.
import { BN_EPS } from '../../model/layers.js';
import { GraphBuilder } from '../../onnx/graph.js';
import { describe, type ParamInfo, type TrainGraphSpec, type TrainNode } from '../encoderGraph.js';

/** ScatterElements' `reduction` (max-pool backward) needs opset 16. */
const TRAIN_OPSET = 16;

export interface TrainGraphs {
  forward: Uint8Array;
  backward: Uint8Array;
  /** Every encoder parameter, in a fixed order (names as encoders.ts keys them, without `encoder.`). */
  params: ParamInfo[];
  /** BatchNorm layer names; forward outputs `<bn>.batch_mean` and `<bn>.batch_var` (biased) for each. */
  batchNorms: { name: string; channels: number; count: number }[];
  /** Forward outputs the backward graph takes as inputs (same names). */
  saved: string[];
  featureDim: number;
}

/** Builds the forward and backward ONNX models for one backbone, input size and batch size. */
export function buildTrainGraphs(spec: TrainGraphSpec): TrainGraphs {
  const { nodes, params, shapes } = describe(spec);
  const shapeOf = (name: string): number[] => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`train graph: no shape for ${name}`);
    return shape;
  };
  const N = spec.batch;
  const S = spec.inputSize;
  const paramShape = new Map(params.map((p) => [p.name, p.shape]));
  const batchNorms = nodes.flatMap((n) => (n.kind === 'bn' ? [{ name: n.name, channels: n.shape[1], count: n.shape[0] * n.shape[2] * n.shape[3] }] : []));
  const featureDim = (nodes[nodes.length - 1] as Extract<TrainNode, { kind: 'gap' }>).shape[1];

  // ---- forward
  const f = new GraphBuilder(TRAIN_OPSET);
  const i64 = (g: GraphBuilder, values: number[]) => g.constantInt64(g.fresh('i64'), values);
  const f32 = (g: GraphBuilder, value: number) => g.constant(g.fresh('f32'), new Float32Array([value]), [1]);
  for (const p of params) f.input(p.name, p.shape);
  f.op('Transpose', [f.input('images', [N, S, S, 3])], { perm: [0, 3, 1, 2] }, 'images_nchw');
  const saved = new Set<string>();
  const bnState = new Map<string, { xhat: string; invstd: string }>();
  const axesNHW = [0, 2, 3];
  for (const n of nodes) {
    switch (n.kind) {
      case 'conv': {
        f.op('Conv', [n.x, `${n.name}.weight`], { kernel_shape: [n.k, n.k], strides: [n.stride, n.stride], pads: [n.pad, n.pad, n.pad, n.pad] }, n.y);
        saved.add(n.x); // the filter gradient needs the conv's input
        break;
      }
      case 'bn': {
        const C = n.shape[1];
        const cshape = i64(f, [1, C, 1, 1]);
        const mean = f.op('ReduceMean', [n.x], { axes: axesNHW, keepdims: 1 });
        const d = f.op('Sub', [n.x, mean]);
        // Biased variance as sum(d^2) / M: ReduceSumSquare saves a full-size pass over Mul + ReduceMean.
        const variance = f.op('Mul', [f.op('ReduceSumSquare', [d], { axes: axesNHW, keepdims: 1 }), f32(f, 1 / (n.shape[0] * n.shape[2] * n.shape[3]))]);
        const invstd = f.op('Reciprocal', [f.op('Sqrt', [f.op('Add', [variance, f32(f, BN_EPS)])])], {}, `${n.name}.invstd`);
        const xhat = f.op('Mul', [d, invstd], {}, `${n.name}.xhat`);
        const gamma = f.op('Reshape', [`${n.name}.weight`, cshape]);
        const beta = f.op('Reshape', [`${n.name}.bias`, cshape]);
        f.op('Add', [f.op('Mul', [xhat, gamma]), beta], {}, n.y);
        const cvec = i64(f, [C]);
        f.op('Reshape', [mean, cvec], {}, `${n.name}.batch_mean`);
        f.op('Reshape', [variance, cvec], {}, `${n.name}.batch_var`);
        saved.add(xhat).add(invstd);
        bnState.set(n.name, { xhat, invstd });
        break;
      }
      case 'relu':
        f.op('Relu', [n.x], {}, n.y);
        saved.add(n.y); // the mask
        break;
      case 'add':
        f.op('Add', [n.a, n.b], {}, n.y);
        break;
      case 'maxpool':
        f.opMulti('MaxPool', [n.x], [n.y, n.indices], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
        saved.add(n.indices);
        break;
      case 'gap':
        f.op('Flatten', [f.op('GlobalAveragePool', [n.x])], { axis: 1 }, n.y);
        break;
    }
  }
  saved.delete('images_nchw');
  f.output('v', [N, featureDim]);
  for (const b of batchNorms) {
    f.output(`${b.name}.batch_mean`, [b.channels]);
    f.output(`${b.name}.batch_var`, [b.channels]);
  }
  const savedList = [...saved];
  for (const s of savedList) f.output(s, shapeOf(s), s.endsWith('.indices') ? 'int64' : 'float32');

  // ---- backward (reverse walk; a tensor used twice gets its gradients summed)
  const g = new GraphBuilder(TRAIN_OPSET);
  g.input('dv', [N, featureDim]);
  g.input('images', [N, S, S, 3]);
  g.op('Transpose', ['images'], { perm: [0, 3, 1, 2] }, 'images_nchw');
  for (const s of savedList) g.input(s, shapeOf(s), s.endsWith('.indices') ? 'int64' : 'float32');
  const usedParams = new Set<string>();
  const grad = new Map<string, string>([['v', 'dv']]);
  const accumulate = (tensor: string, dx: string) => {
    const prev = grad.get(tensor);
    grad.set(tensor, prev ? g.op('Add', [prev, dx]) : dx);
  };
  const sumAxes = i64(g, axesNHW);
  for (const n of [...nodes].reverse()) {
    const dy = grad.get(n.y);
    if (!dy) continue;
    switch (n.kind) {
      case 'gap': {
        const [, C, H, W] = n.shape;
        const scaled = g.op('Mul', [g.op('Reshape', [dy, i64(g, [N, C, 1, 1])]), f32(g, 1 / (H * W))]);
        accumulate(n.x, g.op('Expand', [scaled, i64(g, [N, C, H, W])]));
        break;
      }
      case 'relu': {
        const zero = f32(g, 0);
        accumulate(n.x, g.op('Where', [g.op('Greater', [n.y, zero]), dy, zero]));
        break;
      }
      case 'add':
        accumulate(n.a, dy);
        accumulate(n.b, dy);
        break;
      case 'bn': {
        const C = n.shape[1];
        const { xhat, invstd } = bnState.get(n.name)!;
        usedParams.add(`${n.name}.weight`);
        // With M = N*H*W per channel: dbeta = sum(dy), dgamma = sum(dy xhat),
        // dx = gamma invstd (dy - dbeta / M - xhat dgamma / M): fewer full passes than the textbook form.
        const M = n.shape[0] * n.shape[2] * n.shape[3];
        const cshape = i64(g, [1, C, 1, 1]);
        const dbeta = g.op('ReduceSum', [dy, sumAxes], { keepdims: 0 }, `grad.${n.name}.bias`);
        const dgamma = g.op('ReduceSum', [g.op('Mul', [dy, xhat]), sumAxes], { keepdims: 0 }, `grad.${n.name}.weight`);
        const invM = f32(g, 1 / M);
        const scale = g.op('Mul', [g.op('Reshape', [`${n.name}.weight`, cshape]), invstd]);
        const centred = g.op('Sub', [dy, g.op('Reshape', [g.op('Mul', [dbeta, invM]), cshape])]);
        const inner = g.op('Sub', [centred, g.op('Mul', [xhat, g.op('Reshape', [g.op('Mul', [dgamma, invM]), cshape])])]);
        accumulate(n.x, g.op('Mul', [inner, scale]));
        break;
      }
      case 'maxpool': {
        const [Nn, C, H, W] = n.inShape;
        const zeros = g.op('ConstantOfShape', [i64(g, [Nn * C * H * W])]);
        const flat = i64(g, [-1]);
        const scattered = g.op('ScatterElements', [zeros, g.op('Reshape', [n.indices, flat]), g.op('Reshape', [dy, flat])], { axis: 0, reduction: 'add' });
        accumulate(n.x, g.op('Reshape', [scattered, i64(g, [Nn, C, H, W])]));
        break;
      }
      case 'conv': {
        const [, Ci, H, W] = n.inShape;
        const [, Co, Ho, Wo] = n.outShape;
        const { k, stride: s, pad: p } = n;
        usedParams.add(`${n.name}.weight`);
        const dyT = g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }); // [Co, N, Ho, Wo]
        const xT = g.op('Transpose', [n.x], { perm: [1, 0, 2, 3] }); // [Ci, N, H, W]
        const gradW = `grad.${n.name}.weight`;
        if (Ci <= 4) {
          // The stem (3 input channels, large maps): dW as a convolution of x^T (batch Ci, channels N)
          // with dy^T as the filter (Co filters of Ho x Wo, dilated by the stride); MLAS does the im2col
          // natively, 2x faster than 49 Slices + Concat. With many input channels its per-channel GEMMs
          // are too thin, so the other convs build the im2col matrix themselves below.
          const full = g.op('Conv', [xT, dyT], { pads: [p, p, p, p], dilations: [s, s], strides: [1, 1] }); // [Ci, Co, k', k'], k' >= k
          const kk = H + 2 * p - s * (Ho - 1) === k ? full : g.op('Slice', [full, i64(g, [0, 0]), i64(g, [k, k]), i64(g, [2, 3])]);
          g.op('Transpose', [kk], { perm: [1, 0, 2, 3] }, gradW);
        } else {
          // dW [Co, Ci*k*k] = dy^T [Co, N*Ho*Wo] times cols^T, cols = im2col(x) [Ci*k*k, N*Ho*Wo]: one GEMM.
          const padded = p > 0 ? g.op('Pad', [xT, i64(g, [0, 0, p, p, 0, 0, p, p])]) : xT;
          const taps: string[] = [];
          for (let kh = 0; kh < k; kh++) {
            for (let kw = 0; kw < k; kw++) {
              taps.push(k === 1 && s === 1 ? padded : g.op('Slice', [padded, i64(g, [kh, kw]), i64(g, [kh + s * (Ho - 1) + 1, kw + s * (Wo - 1) + 1]), i64(g, [2, 3]), i64(g, [s, s])]));
            }
          }
          // Taps stacked on a new axis 1 -> [Ci, k*k, N, Ho, Wo], so rows come out in OIHW's (ci, kh, kw) order.
          const one = i64(g, [1]);
          const stacked = taps.length === 1 ? taps[0] : g.op('Concat', taps.map((t) => g.op('Unsqueeze', [t, one])), { axis: 1 });
          const cols = g.op('Reshape', [stacked, i64(g, [Ci * k * k, N * Ho * Wo])]);
          const dyFlat = g.op('Reshape', [dyT, i64(g, [Co, N * Ho * Wo])]);
          g.op('Reshape', [g.op('Gemm', [dyFlat, cols], { transB: 1 }), i64(g, [Co, Ci, k, k])], {}, gradW);
        }
        if (n.x !== 'images_nchw') {
          const w = `${n.name}.weight`;
          if (s === 1 && k > 1) {
            // Stride 1: dx is a plain convolution of dy with the filter transposed (in <-> out) and flipped,
            // which MLAS runs faster than ConvTranspose.
            const flipped = g.op('Slice', [g.op('Transpose', [w], { perm: [1, 0, 2, 3] }), i64(g, [k - 1, k - 1]), i64(g, [-(2 ** 62), -(2 ** 62)]), i64(g, [2, 3]), i64(g, [-1, -1])]);
            accumulate(n.x, g.op('Conv', [dy, flipped], { kernel_shape: [k, k], strides: [1, 1], pads: [k - 1 - p, k - 1 - p, k - 1 - p, k - 1 - p] }));
          } else {
            // OIHW is ConvTranspose's [C_in, C_out, k, k].
            const outPad = [H - ((Ho - 1) * s - 2 * p + k), W - ((Wo - 1) * s - 2 * p + k)];
            accumulate(n.x, g.op('ConvTranspose', [dy, w], { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], output_padding: outPad }));
          }
        }
        break;
      }
    }
  }
  for (const p of usedParams) g.input(p, paramShape.get(p)!);
  for (const p of params) g.output(`grad.${p.name}`, p.shape);
  return {
    forward: f.encode(`kefer-${spec.backbone}-train-forward`),
    backward: g.encode(`kefer-${spec.backbone}-train-backward`),
    params,
    batchNorms,
    saved: savedList,
    featureDim,
  };
}
