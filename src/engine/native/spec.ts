// The encoder as both native addons take it (oneDNN: native/dnnl_encoder.cc; CUDA: native/cuda_encoder.cu):
// trainGraph.ts's node list (the one description of the encoder's structure that the ONNX training graphs
// use too) with each ReLU fused into the BatchNorm or residual add before it, tensors numbered (0 = the
// images) and parameters in the graph's order. One spec, so the two runtimes cannot drift apart.
import { describe, type TrainGraphSpec, type ParamInfo } from '../onnx/trainGraph.js';

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
