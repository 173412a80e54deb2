// The KE-FER head (F_n + Ls, Lt, Lc) forward and backward written out by hand, in float64 on the host:
// the reference the CUDA addon's head kernels (native/cuda_encoder.cu, section "head") follow step for
// step. It is checked against tfjs autodiff of losses.ts + transform.ts (test/engine/headReference.test.ts),
// so the kernels have a tested statement of the math even where no GPU is at hand.
//
// Notation (method.md): v [B, D] encoder output, n = F_n(v), T [K, D] L2-normalised text embeddings,
// y labels, N the neutral index, m_i = [y_i != N], M = sum m_i, den = max(M, 1), den2 = max(M^2, 1).
//   unit(x) = x / max(|x|, 1e-8); its backward for upstream g: (g - u (u.g)) / |x|, or g / 1e-8 when clamped.
//   Ls = mean_i [lse_k(s u(v_i).T_k) - s u(v_i).T_{y_i}]      dz_ik = (softmax_ik - [k = y_i]) / B
//   Lt = sum_i m_i (1 - u(v_i - n_i).u(T_{y_i} - T_N)) / den
//   Lc pairwise   = [sum_j m_j Tbar.(u(n_j) - u(v_j)) + 2 M^2] / den2, Tbar = sum_i m_i T_{y_i}
//   Lc per-sample = sum_i m_i (T_{y_i}.(u(n_i) - u(v_i)) + 2) / den
import type { LossOptions } from '../../losses.js';

export const UNIT_EPS = 1e-8;

export interface HeadParams {
  /** fc1 [D, H] (tfjs's [in, out]), fc1 bias [H], fc2 [H, D], fc2 bias [D]. */
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  hidden: number;
}

export interface HeadResult {
  ls: number;
  lt: number;
  lc: number;
  total: number;
  /** argmax of the logits per sample. */
  preds: Int32Array;
  dv: Float64Array;
  dw1: Float64Array;
  db1: Float64Array;
  dw2: Float64Array;
  db2: Float64Array;
}

const dot = (a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number) => {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[ao + k] * b[bo + k];
  return s;
};

/** unit(x) into out; returns the divisor r and whether the epsilon clamp was active. */
function unit(x: ArrayLike<number>, xo: number, d: number, out: Float64Array): { r: number; clamped: boolean } {
  const norm = Math.sqrt(dot(x, xo, x, xo, d));
  const r = Math.max(norm, UNIT_EPS);
  for (let k = 0; k < d; k++) out[k] = x[xo + k] / r;
  return { r, clamped: norm < UNIT_EPS };
}

/** Adds unit()'s backward for upstream g into dx. */
function unitBackward(u: Float64Array, r: number, clamped: boolean, g: Float64Array, dx: Float64Array, dxo: number, d: number, sign = 1): void {
  const ug = clamped ? 0 : dot(u, 0, g, 0, d);
  for (let k = 0; k < d; k++) dx[dxo + k] += (sign * (g[k] - u[k] * ug)) / r;
}

/** F_n forward + losses + every gradient, in float64. text: [K, D] already L2-normalised. */
export function headReference(v: Float32Array, text: Float32Array, labels: ArrayLike<number>, p: HeadParams, opts: LossOptions): HeadResult & { n: Float64Array } {
  const B = labels.length;
  const D = v.length / B;
  const K = text.length / D;
  const H = p.hidden;
  const N = opts.neutralIndex;
  const s = opts.logitScale;
  // F_n: h = v W1 + b1, r = relu(h), n = r W2 + b2.
  const h = new Float64Array(B * H);
  const n = new Float64Array(B * D);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < H; j++) {
      let acc = p.b1[j];
      for (let k = 0; k < D; k++) acc += v[i * D + k] * p.w1[k * H + j];
      h[i * H + j] = acc;
    }
    for (let j = 0; j < D; j++) {
      let acc = p.b2[j];
      for (let k = 0; k < H; k++) acc += Math.max(h[i * H + k], 0) * p.w2[k * D + j];
      n[i * D + j] = acc;
    }
  }
  const mask: number[] = Array.from(labels, (y) => (y !== N ? 1 : 0));
  const M = mask.reduce((a, b) => a + b, 0);
  const den = Math.max(M, 1);
  const den2 = Math.max(M * M, 1);
  const tbar = new Float64Array(D);
  for (let i = 0; i < B; i++) if (mask[i]) for (let k = 0; k < D; k++) tbar[k] += text[labels[i] * D + k];

  const dv = new Float64Array(B * D);
  const dn = new Float64Array(B * D);
  const preds = new Int32Array(B);
  let ls = 0, lt = 0, lc = 0;
  const uv = new Float64Array(D), un = new Float64Array(D), ua = new Float64Array(D), ub = new Float64Array(D);
  const a = new Float64Array(D), b = new Float64Array(D);
  const gv = new Float64Array(D), gn = new Float64Array(D), ga = new Float64Array(D);
  for (let i = 0; i < B; i++) {
    const y = labels[i];
    const nv = unit(v, i * D, D, uv);
    const nn = unit(n, i * D, D, un);
    // Ls: logits, softmax, and dL/du(v) = s sum_k dz_k T_k.
    const z = Array.from({ length: K }, (_, k) => s * dot(uv, 0, text, k * D, D));
    let best = 0;
    for (let k = 1; k < K; k++) if (z[k] > z[best]) best = k;
    preds[i] = best;
    const mx = z[best];
    const sum = z.reduce((acc, zk) => acc + Math.exp(zk - mx), 0);
    ls += mx + Math.log(sum) - z[y];
    gv.fill(0);
    gn.fill(0);
    for (let k = 0; k < K; k++) {
      const dz = (opts.lambdaS * (Math.exp(z[k] - mx) / sum - (k === y ? 1 : 0))) / B;
      for (let d = 0; d < D; d++) gv[d] += s * dz * text[k * D + d];
    }
    // Lc: gradients on u(v) and u(n).
    if (mask[i]) {
      if (opts.contrast === 'pairwise') {
        lc += dot(tbar, 0, un, 0, D) - dot(tbar, 0, uv, 0, D);
        for (let d = 0; d < D; d++) {
          gn[d] += (opts.lambdaC * tbar[d]) / den2;
          gv[d] -= (opts.lambdaC * tbar[d]) / den2;
        }
      } else {
        lc += dot(text, y * D, un, 0, D) - dot(text, y * D, uv, 0, D) + 2;
        for (let d = 0; d < D; d++) {
          gn[d] += (opts.lambdaC * text[y * D + d]) / den;
          gv[d] -= (opts.lambdaC * text[y * D + d]) / den;
        }
      }
    }
    unitBackward(uv, nv.r, nv.clamped, gv, dv, i * D, D);
    unitBackward(un, nn.r, nn.clamped, gn, dn, i * D, D);
    // Lt: a = v - n, b = T_y - T_N; dL/du(a) = -m lambda_t u(b) / den; da goes +v, -n.
    if (mask[i]) {
      for (let d = 0; d < D; d++) {
        a[d] = v[i * D + d] - n[i * D + d];
        b[d] = text[y * D + d] - text[N * D + d];
      }
      const na = unit(a, 0, D, ua);
      unit(b, 0, D, ub);
      lt += 1 - dot(ua, 0, ub, 0, D);
      for (let d = 0; d < D; d++) ga[d] = (-opts.lambdaT * ub[d]) / den;
      unitBackward(ua, na.r, na.clamped, ga, dv, i * D, D);
      unitBackward(ua, na.r, na.clamped, ga, dn, i * D, D, -1);
    }
  }
  ls /= B;
  lt /= den;
  lc = opts.contrast === 'pairwise' ? (lc + 2 * M * M) / den2 : lc / den;

  // F_n backward: dW2 = r^T dn, db2 = sum dn, dh = (dn W2^T) [h > 0], dW1 = v^T dh, db1 = sum dh, dv += dh W1^T.
  const dw1 = new Float64Array(D * H), db1 = new Float64Array(H), dw2 = new Float64Array(H * D), db2 = new Float64Array(D);
  const dh = new Float64Array(H);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < D; j++) db2[j] += dn[i * D + j];
    for (let k = 0; k < H; k++) {
      const hk = h[i * H + k];
      const rk = Math.max(hk, 0);
      let acc = 0;
      for (let j = 0; j < D; j++) {
        dw2[k * D + j] += rk * dn[i * D + j];
        acc += dn[i * D + j] * p.w2[k * D + j];
      }
      dh[k] = hk > 0 ? acc : 0;
      db1[k] += dh[k];
    }
    for (let d = 0; d < D; d++) {
      let acc = 0;
      for (let k = 0; k < H; k++) {
        dw1[d * H + k] += v[i * D + d] * dh[k];
        acc += dh[k] * p.w1[d * H + k];
      }
      dv[i * D + d] += acc;
    }
  }
  const total = opts.lambdaS * ls + opts.lambdaT * lt + opts.lambdaC * lc;
  return { ls, lt, lc, total, preds, dv, dw1, db1, dw2, db2, n };
}
