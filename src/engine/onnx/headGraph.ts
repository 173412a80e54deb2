// Re-scoring graph for head-only retraining: cached features f [N, D] -> v = f W + b, n = F_n(v), logits.
// onnxruntime's MLAS GEMMs are far faster here than tfjs-wasm matMul on [4096, 512] x [512, 512].
import { GraphBuilder } from './graph.js';
import { normaliseRows } from '../eval/records.js';

export interface HeadGraphWeights {
  /** head [D, D] ([in, out]) and bias [D]. */
  headW: Float32Array;
  headB: Float32Array;
  /** F_n: fc1 [D, H], fc2 [H, D] ([in, out]) with biases. */
  fc1W: Float32Array;
  fc1B: Float32Array;
  fc2W: Float32Array;
  fc2B: Float32Array;
  /** [K, D] as stored (normalised here). */
  textEmbeddings: Float32Array;
  K: number;
  D: number;
  logitScale: number;
}

/** ONNX bytes: input `features` [N, D]; outputs `logits` [N, K], `v`, `n` [N, D] (same as the image graph). */
export function headGraph(w: HeadGraphWeights): Uint8Array {
  const { D, K } = w;
  const H = w.fc1B.length;
  const g = new GraphBuilder();
  const lin = (x: string, name: string, W: Float32Array, b: Float32Array, cin: number, cout: number, out?: string) =>
    g.op('Add', [g.op('MatMul', [x, g.constant(`${name}.weight`, W, [cin, cout])]), g.constant(`${name}.bias`, b, [cout])], {}, out);
  const v = lin(g.input('features', ['N', D]), 'head', w.headW, w.headB, D, D, 'v');
  lin(g.op('Relu', [lin(v, 'MLP.fc1', w.fc1W, w.fc1B, D, H)]), 'MLP.fc2', w.fc2W, w.fc2B, H, D, 'n');
  const tNorm = normaliseRows(w.textEmbeddings, K);
  const tT = new Float32Array(D * K);
  for (let k = 0; k < K; k++) for (let j = 0; j < D; j++) tT[j * K + k] = tNorm[k * D + j];
  const norm = g.op('Max', [g.op('ReduceL2', [v], { axes: [1], keepdims: 1 }), g.constant('eps', new Float32Array([1e-8]), [1])]);
  const cos = g.op('MatMul', [g.op('Div', [v, norm]), g.constant('text_norm_t', tT, [D, K])]);
  g.op('Mul', [cos, g.constant('logit_scale', new Float32Array([w.logitScale]), [1])], {}, 'logits');
  g.output('logits', ['N', K]);
  g.output('v', ['N', D]);
  g.output('n', ['N', D]);
  return g.encode('kefer-head');
}
