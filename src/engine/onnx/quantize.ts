// Static int8 quantization of the exported encoder, in ONNX's QDQ form: QuantizeLinear/DequantizeLinear
// pairs around every convolution, residual Add and the pooled features, with activation ranges measured
// on calibration images. onnxruntime fuses the pairs into QLinearConv / QLinearAdd (its QDQ
// transformers) at load time; no quantized kernel is written here. Activations are uint8 (asymmetric),
// weights int8 per output channel in 7 bits ("reduce range"): x86 CPUs without VNNI multiply u8 x s8
// pairs with a 16-bit saturating add, and 7-bit weights keep every pair sum in range.
import type { GraphBuilder } from './graph.js';

/** Per quantization point: the [min, max] seen on the calibration images. */
export type ActivationRanges = Record<string, [number, number]>;

export type QuantMode = { kind: 'float' } | { kind: 'calibrate' } | { kind: 'int8'; ranges: ActivationRanges };

/** Name prefix of the extra outputs a calibration export adds (one per quantization point). */
export const CALIB_PREFIX = 'calib:';

export interface QuantParams { scale: number; zeroPoint: number }

/** uint8 affine parameters covering [min, max] and 0 (so ReLU outputs get zero point 0, exact zeros stay exact). */
export function uint8Params(min: number, max: number): QuantParams {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max, lo + 1e-8);
  const scale = (hi - lo) / 255;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/** Symmetric per-output-channel int8 weights in [-63, 63] for an OIHW tensor; returns values and scales. */
export function quantizeWeightsPerChannel(w: Float32Array, cout: number): { q: Int8Array; scales: Float32Array } {
  const per = w.length / cout;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    let m = 0;
    for (let i = 0; i < per; i++) m = Math.max(m, Math.abs(w[o * per + i]));
    const s = m > 0 ? m / 63 : 1;
    scales[o] = s;
    for (let i = 0; i < per; i++) q[o * per + i] = Math.round(w[o * per + i] / s);
  }
  return { q, scales };
}

/**
 * Writes the quantization hooks of one export into `g`. `point` marks an activation tensor: in
 * 'calibrate' mode it becomes an extra graph output, in 'int8' mode it is quantized and dequantized
 * (the dequantized tensor is returned and its scale remembered for the conv biases that read it).
 */
export class QuantWriter {
  private readonly inputScale = new Map<string, number>();
  private readonly uses = new Map<string, number>();
  readonly calibrationOutputs: string[] = [];

  constructor(private readonly g: GraphBuilder, readonly mode: QuantMode) {}

  point(x: string, id: string): string {
    const { g, mode } = this;
    if (mode.kind === 'float') return x;
    const uses = (this.uses.get(id) ?? 0) + 1;
    this.uses.set(id, uses);
    if (mode.kind === 'calibrate') {
      // A point reused with the same range (max-pool after the stem) is measured once.
      if (uses > 1) return x;
      const name = `${CALIB_PREFIX}${id}`;
      g.op('Identity', [x], {}, name);
      this.calibrationOutputs.push(name);
      g.output(name, ['N', 'C', 'H', 'W']);
      return x;
    }
    const r = mode.ranges[id];
    if (!r) throw new Error(`int8 export: no calibration range for '${id}'`);
    const p = uint8Params(r[0], r[1]);
    const tag = uses > 1 ? `${id}#${uses}` : id;
    const s = g.constant(`q.${tag}.scale`, new Float32Array([p.scale]), []);
    const z = g.constantInt(`q.${tag}.zero_point`, new Uint8Array([p.zeroPoint]), []);
    const out = g.op('DequantizeLinear', [g.op('QuantizeLinear', [x, s, z]), s, z]);
    this.inputScale.set(out, p.scale);
    return out;
  }

  /**
   * Weight and bias inputs of a Conv reading `x`: float constants, or (int8 mode) int8 per-channel
   * weights and int32 biases behind DequantizeLinear, as onnxruntime's QDQ Conv fusion expects.
   */
  convParams(x: string, name: string, w: Float32Array, b: Float32Array, dims: [number, number, number, number]): [string, string] {
    const { g, mode } = this;
    if (mode.kind !== 'int8') return [g.constant(`${name}.weight`, w, dims), g.constant(`${name}.bias`, b, [dims[0]])];
    const sx = this.inputScale.get(x);
    if (sx === undefined) throw new Error(`int8 export: conv ${name} reads a tensor that was not quantized`);
    const cout = dims[0];
    const { q, scales } = quantizeWeightsPerChannel(w, cout);
    const wq = g.constantInt(`${name}.weight_q`, q, dims);
    const ws = g.constant(`${name}.weight_scale`, scales, [cout]);
    const wz = g.constantInt(`${name}.weight_zero_point`, new Int8Array(cout), [cout]);
    const bScale = scales.map((s) => s * sx);
    // Clamped: a near-constant input (tiny scale) must not wrap a bias around int32.
    const bq = Int32Array.from(b, (v, o) => Math.max(-2147483647, Math.min(2147483647, Math.round(v / bScale[o]))));
    const bs = g.constant(`${name}.bias_scale`, bScale, [cout]);
    const bz = g.constantInt(`${name}.bias_zero_point`, new Int32Array(cout), [cout]);
    return [
      g.op('DequantizeLinear', [wq, ws, wz], { axis: 0 }),
      g.op('DequantizeLinear', [g.constantInt(`${name}.bias_q`, bq, [cout]), bs, bz], { axis: 0 }),
    ];
  }
}

/** Folds one batch of calibration outputs into `ranges` (running min / max per point). */
export function updateRanges(ranges: ActivationRanges, id: string, values: Float32Array): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const prev = ranges[id];
  ranges[id] = prev ? [Math.min(prev[0], lo), Math.max(prev[1], hi)] : [lo, hi];
}
