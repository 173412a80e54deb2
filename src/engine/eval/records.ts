// Per-sample records and the evaluation summary from plain arrays (logits, v, n per batch): the one
// place the diagnostic formulas live, shared by tfjs evaluation, onnxruntime and the head retrainer.
import type { Sample } from '../data/types.js';
import type { EvalResult } from './evaluate.js';
import { computeMetrics } from './metrics.js';
import type { SampleRecord } from './types.js';

/** L2-normalises each of `rows` rows. */
export function normaliseRows(x: Float32Array, rows: number): Float32Array {
  const d = x.length / rows;
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[r * d + j] * x[r * d + j];
    const inv = 1 / Math.max(Math.sqrt(s), 1e-8);
    for (let j = 0; j < d; j++) out[r * d + j] = x[r * d + j] * inv;
  }
  return out;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

export interface RecordContext {
  classes: string[];
  neutralIndex: number;
  /** [K, D] text embeddings as stored (normalised here). */
  textEmbeddings: Float32Array;
  featureDim: number;
  /** Keep v per sample in the result's `embeddings` (dataset order). */
  keepEmbeddings?: boolean;
  /** Total samples (sizes `embeddings`). */
  total: number;
}

export class RecordBuilder {
  readonly records: SampleRecord[] = [];
  private readonly K: number;
  private readonly D: number;
  private readonly tNorm: Float32Array;
  /** normalise(t_k - t_N), [K, D] (row N is zero and never used). */
  private readonly dirNorm: Float32Array;
  private readonly embeddings?: Float32Array;
  private lsSum = 0;
  private ltSum = 0;
  private lcSum = 0;
  private nonNeutral = 0;

  constructor(private readonly ctx: RecordContext) {
    this.K = ctx.classes.length;
    this.D = ctx.featureDim;
    this.tNorm = normaliseRows(ctx.textEmbeddings, this.K);
    const dir = new Float32Array(this.K * this.D);
    const N = ctx.neutralIndex;
    for (let k = 0; k < this.K; k++) for (let j = 0; j < this.D; j++) dir[k * this.D + j] = this.tNorm[k * this.D + j] - this.tNorm[N * this.D + j];
    this.dirNorm = normaliseRows(dir, this.K);
    if (ctx.keepEmbeddings) this.embeddings = new Float32Array(ctx.total * this.D);
  }

  /**
   * Adds one batch. logits: [B, K]; v, n: [B, D]; samples[i] is the sample of row i, `positions[i]` its
   * index in the dataset (where its embedding goes); labels[i] its (possibly relabelled) class.
   */
  add(samples: readonly Sample[], labels: readonly number[], positions: readonly number[], logits: Float32Array, v: Float32Array, n: Float32Array): void {
    const { K, D } = this;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const y = labels[i];
      // softmax / log-softmax of the logits row, max-shifted
      let max = -Infinity;
      for (let k = 0; k < K; k++) max = Math.max(max, logits[i * K + k]);
      let z = 0;
      for (let k = 0; k < K; k++) z += Math.exp(logits[i * K + k] - max);
      const probs = new Array<number>(K);
      let pred = 0;
      for (let k = 0; k < K; k++) {
        probs[k] = Math.exp(logits[i * K + k] - max) / z;
        if (probs[k] > probs[pred]) pred = k;
      }
      const logpY = logits[i * K + y] - max - Math.log(z);
      const vo = i * D;
      const to = y * D;
      // One pass for the six dot products (the re-score of 300,000 samples spent seconds here in six
      // passes). Each sum still runs over j in order, and diff is rounded to float32 as it was when
      // stored in a Float32Array, so the values are unchanged.
      const isNeutral = y === this.ctx.neutralIndex;
      let vv = 0, nn = 0, vt = 0, nt = 0, dd = 0, dt = 0;
      const { tNorm, dirNorm } = this;
      for (let j = 0; j < D; j++) {
        const a = v[vo + j], b = n[vo + j], t = tNorm[to + j];
        vv += a * a; nn += b * b; vt += a * t; nt += b * t;
        if (!isNeutral) {
          const d = Math.fround(a - b);
          dd += d * d; dt += d * dirNorm[to + j];
        }
      }
      const st = vt / Math.max(Math.sqrt(vv), 1e-8);
      const sn = nt / Math.max(Math.sqrt(nn), 1e-8);
      let align: number | null = null;
      if (!isNeutral) {
        align = dt / Math.max(Math.sqrt(dd), 1e-8);
        this.nonNeutral++;
        this.ltSum += 1 - align;
        this.lcSum += sn - st + 2;
      }
      this.lsSum -= logpY;
      this.records.push({
        id: s.id, path: s.path, split: s.split, label: y, pred, probs: probs.map(round),
        simText: round(st), simNeutral: round(sn), gap: round(st - sn), align: align === null ? null : round(align),
        ...(s.votes ? { votes: s.votes } : {}),
      });
      if (this.embeddings) this.embeddings.set(v.subarray(vo, vo + D), positions[i] * D);
    }
  }

  finish(): EvalResult {
    const K = this.K;
    const N = this.records.length;
    const m = computeMetrics(this.records.map((r) => r.label), this.records.map((r) => r.pred), K);
    return {
      summary: {
        classes: this.ctx.classes, n: m.n, accuracy: m.accuracy, meanClassAccuracy: m.meanClassAccuracy,
        confusion: m.confusion, perClassAccuracy: m.perClassAccuracy,
        losses: { ls: N ? this.lsSum / N : 0, lt: this.nonNeutral ? this.ltSum / this.nonNeutral : 0, lcPerSample: this.nonNeutral ? this.lcSum / this.nonNeutral : 0 },
      },
      records: this.records,
      embeddings: this.embeddings,
    };
  }
}
