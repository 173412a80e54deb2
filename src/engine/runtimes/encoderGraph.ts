// The encoder's graph, described once for every runtime that does not run it on tfjs:
//   describe()   a flat list of nodes over named tensors with every shape known (fixed batch): what the
//                ONNX training graphs (onnx/trainGraph.ts) are built from;
//   nativeSpec() the same list as both native addons take it (oneDNN: native/dnnl_encoder.cc; CUDA:
//                native/cuda_encoder.cu), each ReLU fused into the BatchNorm or residual add before it,
//                tensors numbered (0 = the images) and parameters in the graph's order;
//   inferenceSpec() (below) the inference-mode graph: BatchNorm folded into the convolutions.
// One description, so the runtimes cannot drift apart; the structure follows model/layout.ts.
import type { BackboneName } from '../model/encoders.js';
import { LAYOUT } from '../model/layout.js';

type Shape = [number, number, number, number]; // N, C, H, W

export type TrainNode =
  | { kind: 'conv'; name: string; x: string; y: string; k: number; stride: number; pad: number; inShape: Shape; outShape: Shape }
  | { kind: 'bn'; name: string; x: string; y: string; shape: Shape }
  | { kind: 'relu'; x: string; y: string }
  | { kind: 'add'; a: string; b: string; y: string }
  | { kind: 'maxpool'; x: string; y: string; indices: string; inShape: Shape; outShape: Shape }
  | { kind: 'gap'; x: string; y: string; shape: Shape };

export interface TrainGraphSpec {
  backbone: BackboneName;
  inputSize: number;
  batch: number;
}

export interface ParamInfo {
  name: string;
  /** conv [out, in, kh, kw] (OIHW), BN [C]. */
  shape: number[];
  conv: boolean;
}


const convOut = (h: number, k: number, s: number, p: number) => Math.floor((h + 2 * p - k) / s) + 1;

/** The encoder as a flat list of nodes over named tensors, with every shape known (fixed batch). */
export function describe(spec: TrainGraphSpec): { nodes: TrainNode[]; params: ParamInfo[]; shapes: Map<string, number[]> } {
  const layout = LAYOUT[spec.backbone];
  const nodes: TrainNode[] = [];
  const params: ParamInfo[] = [];
  const shapes = new Map<string, number[]>();
  let counter = 0;
  const t = (hint: string) => `${hint}.${counter++}`;
  const conv = (name: string, x: string, inShape: Shape, cout: number, k: number, stride: number): [string, Shape] => {
    const pad = Math.floor(k / 2);
    const outShape: Shape = [inShape[0], cout, convOut(inShape[2], k, stride, pad), convOut(inShape[3], k, stride, pad)];
    const y = t(`${name}.out`);
    nodes.push({ kind: 'conv', name, x, y, k, stride, pad, inShape, outShape });
    shapes.set(x, inShape).set(y, outShape);
    params.push({ name: `${name}.weight`, shape: [cout, inShape[1], k, k], conv: true });
    return [y, outShape];
  };
  const bn = (name: string, x: string, shape: Shape): string => {
    const y = t(`${name}.out`);
    nodes.push({ kind: 'bn', name, x, y, shape });
    shapes.set(y, shape).set(`${name}.xhat`, shape).set(`${name}.invstd`, [1, shape[1], 1, 1]);
    params.push({ name: `${name}.weight`, shape: [shape[1]], conv: false }, { name: `${name}.bias`, shape: [shape[1]], conv: false });
    return y;
  };
  const relu = (x: string): string => {
    const y = t('relu');
    nodes.push({ kind: 'relu', x, y });
    shapes.set(y, shapes.get(x)!);
    return y;
  };

  const [stem, stemShape] = conv('conv1', 'images_nchw', [spec.batch, 3, spec.inputSize, spec.inputSize], layout.stemWidth, layout.stemKernel, layout.stemStride);
  let shape = stemShape;
  let h = relu(bn('bn1', stem, shape));
  if (layout.maxPool) {
    const outShape: Shape = [shape[0], shape[1], convOut(shape[2], 3, 2, 1), convOut(shape[3], 3, 2, 1)];
    const p = t('maxpool');
    nodes.push({ kind: 'maxpool', x: h, y: p, indices: `${p}.indices`, inShape: shape, outShape });
    shapes.set(p, outShape).set(`${p}.indices`, outShape);
    h = p;
    shape = outShape;
  }
  layout.widths.forEach((width, s) => {
    for (let i = 0; i < layout.blocks[s]; i++) {
      const name = `layer${s + 1}.${i}`;
      const stride = i === 0 ? layout.strides[s] : 1;
      const inShape = shape;
      const [c1, s1] = conv(`${name}.conv1`, h, inShape, width, 3, stride);
      const r1 = relu(bn(`${name}.bn1`, c1, s1));
      const [c2, s2] = conv(`${name}.conv2`, r1, s1, width, 3, 1);
      const b2 = bn(`${name}.bn2`, c2, s2);
      let shortcut = h;
      if (stride !== 1 || inShape[1] !== width) {
        const [d, ds] = conv(`${name}.downsample.0`, h, inShape, width, 1, stride);
        shortcut = bn(`${name}.downsample.1`, d, ds);
      }
      const sum = t(`${name}.sum`);
      nodes.push({ kind: 'add', a: b2, b: shortcut, y: sum });
      shapes.set(sum, s2);
      h = relu(sum);
      shape = s2;
    }
  });
  if (layout.head) {
    const [c, cs] = conv('head.conv', h, shape, 512, 1, 1);
    h = bn('head.bn', c, cs);
    shape = cs;
  }
  const v = 'v';
  nodes.push({ kind: 'gap', x: h, y: v, shape });
  return { nodes, params, shapes };
}

export type NativeOp =
  | { kind: 'conv'; x: number; y: number; w: string; k: number; stride: number; pad: number }
  | { kind: 'bn'; x: number; y: number; scale: string; shift: string; relu: boolean }
  | { kind: 'add'; a: number; b: number; y: number; relu: boolean }
  | { kind: 'maxpool'; x: number; y: number }
  | { kind: 'gap'; x: number };

export interface NativeSpec {
  tensors: { name: string; dims: number[] }[];
  params: { name: string; dims: number[] }[];
  ops: NativeOp[];
  /** BatchNorm layers in the order the addon returns their statistics. */
  batchNorms: { name: string; channels: number; count: number }[];
  featureDim: number;
  paramInfo: ParamInfo[];
}

export function nativeSpec(spec: TrainGraphSpec): NativeSpec {
  const { nodes, params, shapes } = describe(spec);
  const readers = new Map<string, number>();
  const read = (t: string) => readers.set(t, (readers.get(t) ?? 0) + 1);
  for (const n of nodes) {
    if (n.kind === 'add') { read(n.a); read(n.b); } else read(n.x);
  }
  // A ReLU whose input has no other reader runs inside the op that made that input.
  const fusedInto = new Map<string, string>(); // producer's output -> the ReLU's output
  for (const n of nodes) if (n.kind === 'relu' && readers.get(n.x) === 1) fusedInto.set(n.x, n.y);

  const tensors: NativeSpec['tensors'] = [];
  const index = new Map<string, number>();
  const id = (name: string): number => {
    let i = index.get(name);
    if (i === undefined) {
      const dims = shapes.get(name);
      if (!dims) throw new Error(`native spec: no shape for ${name}`);
      i = tensors.length;
      index.set(name, i);
      tensors.push({ name, dims });
    }
    return i;
  };
  id('images_nchw');
  const out = (y: string) => fusedInto.get(y) ?? y;
  const ops: NativeOp[] = [];
  const batchNorms: NativeSpec['batchNorms'] = [];
  let featureDim = 0;
  for (const n of nodes) {
    switch (n.kind) {
      case 'conv':
        ops.push({ kind: 'conv', x: id(n.x), y: id(n.y), w: `${n.name}.weight`, k: n.k, stride: n.stride, pad: n.pad });
        break;
      case 'bn': {
        const y = out(n.y);
        shapes.set(y, n.shape);
        ops.push({ kind: 'bn', x: id(n.x), y: id(y), scale: `${n.name}.weight`, shift: `${n.name}.bias`, relu: y !== n.y });
        batchNorms.push({ name: n.name, channels: n.shape[1], count: n.shape[0] * n.shape[2] * n.shape[3] });
        break;
      }
      case 'add': {
        const y = out(n.y);
        shapes.set(y, shapes.get(n.y)!);
        ops.push({ kind: 'add', a: id(n.a), b: id(n.b), y: id(y), relu: y !== n.y });
        break;
      }
      case 'relu':
        if (!fusedInto.has(n.x)) throw new Error(`native spec: a ReLU on ${n.x}, which other ops read too, is not supported`);
        break;
      case 'maxpool':
        ops.push({ kind: 'maxpool', x: id(n.x), y: id(n.y) });
        break;
      case 'gap':
        ops.push({ kind: 'gap', x: id(n.x) });
        featureDim = n.shape[1];
        break;
    }
  }
  return { tensors, params: params.map((p) => ({ name: p.name, dims: p.shape })), ops, batchNorms, featureDim, paramInfo: params };
}

/** A convolution of the inference graph: its BatchNorm folded in, ReLU and the residual add as post-ops. */
export interface InferenceConv {
  kind: 'conv';
  x: number;
  y: number;
  /** The convolution's weight name; the JS side hands the addon its weights with `bn` folded in. */
  w: string;
  bn: string;
  k: number;
  stride: number;
  pad: number;
  relu: boolean;
  /** y = conv(x) + y: y already holds the shortcut (its buffer is the shortcut's). */
  sum: boolean;
}
export type InferenceOp = InferenceConv | { kind: 'maxpool'; x: number; y: number } | { kind: 'gap'; x: number };

export interface InferenceSpec {
  /** slot: the buffer a tensor lives in; tensors whose lifetimes do not overlap share one. */
  tensors: { name: string; dims: number[]; slot: number }[];
  ops: InferenceOp[];
  featureDim: number;
  /** Activation memory per image (every slot at its largest tensor). */
  bytesPerImage: number;
}

/**
 * The encoder in inference mode for the oneDNN addon: every conv + BN pair as one convolution with a bias,
 * the ReLU after it as a post-op, and each residual add folded into the block's last convolution as a sum
 * post-op on the shortcut's buffer (that convolution then runs after the shortcut's).
 */
export function inferenceSpec(spec: TrainGraphSpec): InferenceSpec {
  const { nodes, shapes } = describe(spec);
  const alias = new Map<string, string>();
  const canon = (t: string): string => alias.get(t) ?? t;
  type Pending = { kind: 'conv'; x: string; y: string; w: string; bn: string; k: number; stride: number; pad: number; relu: boolean; sum: boolean };
  const ops: Array<Pending | { kind: 'maxpool'; x: string; y: string } | { kind: 'gap'; x: string }> = [];
  const producer = new Map<string, Pending>();
  const convs = new Map<string, Extract<TrainNode, { kind: 'conv' }>>();
  for (const n of nodes) {
    switch (n.kind) {
      case 'conv':
        convs.set(n.y, n);
        break;
      case 'bn': {
        const c = convs.get(n.x);
        if (!c) throw new Error(`inference spec: BatchNorm ${n.name} does not follow a convolution`);
        const op: Pending = { kind: 'conv', x: canon(c.x), y: n.y, w: `${c.name}.weight`, bn: n.name, k: c.k, stride: c.stride, pad: c.pad, relu: false, sum: false };
        ops.push(op);
        producer.set(n.y, op);
        break;
      }
      case 'relu': {
        const op = producer.get(canon(n.x));
        if (!op) throw new Error(`inference spec: a ReLU on ${n.x}, which no convolution makes`);
        op.relu = true;
        alias.set(n.y, canon(n.x));
        break;
      }
      case 'add': {
        // The residual branch's last convolution accumulates into the shortcut's buffer.
        const op = producer.get(canon(n.a));
        const shortcut = canon(n.b);
        if (!op || op.relu || op.sum) throw new Error(`inference spec: the add ${n.y} does not follow a plain convolution`);
        ops.splice(ops.indexOf(op), 1);
        ops.push(op);
        op.sum = true;
        alias.set(op.y, shortcut);
        op.y = shortcut;
        alias.set(n.y, shortcut);
        producer.set(shortcut, op);
        break;
      }
      case 'maxpool':
        ops.push({ kind: 'maxpool', x: canon(n.x), y: n.y });
        break;
      case 'gap':
        ops.push({ kind: 'gap', x: canon(n.x) });
        break;
    }
  }
  // Tensor numbers (0 = the images) and slots by lifetime: an output takes a free slot (never one its op
  // reads), a tensor's slot is freed after its last reader; a sum convolution writes in place.
  const index = new Map<string, number>();
  const tensors: InferenceSpec['tensors'] = [];
  const id = (name: string): number => {
    let i = index.get(name);
    if (i === undefined) {
      i = tensors.length;
      index.set(name, i);
      tensors.push({ name, dims: shapes.get(name)!, slot: -1 });
    }
    return i;
  };
  id('images_nchw');
  const lastRead = new Map<string, number>();
  ops.forEach((op, i) => lastRead.set(op.x, i));
  let slots = 0;
  const free: number[] = [];
  tensors[0].slot = slots++;
  const out: InferenceOp[] = ops.map((op, i) => {
    const x = id(op.x);
    let y = -1;
    if (op.kind !== 'gap') {
      y = id(op.y);
      if (tensors[y].slot < 0) tensors[y].slot = free.length ? free.shift()! : slots++;
    }
    if (lastRead.get(op.x) === i) free.push(tensors[x].slot);
    return op.kind === 'gap' ? { kind: 'gap', x } : op.kind === 'maxpool' ? { kind: 'maxpool', x, y } : { ...op, x, y };
  });
  const biggest = new Array<number>(slots).fill(0);
  for (const t of tensors) biggest[t.slot] = Math.max(biggest[t.slot], t.dims.reduce((a, b) => a * b, 1));
  const gap = nodes[nodes.length - 1] as Extract<TrainNode, { kind: 'gap' }>;
  return { tensors, ops: out, featureDim: gap.shape[1], bytesPerImage: (4 * biggest.reduce((a, b) => a + b, 0)) / spec.batch };
}
