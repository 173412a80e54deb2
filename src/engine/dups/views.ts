// The views a near-duplicate is looked for in: the whole picture and crops of it. A copy cropped by 5-10%
// matches one of the original's crops far better than the original itself (bench/dupsCandidates.ts
// measured it), so each picture is indexed as the whole and 18 crops, and looked up by its whole.
import type { Grey } from './fingerprint.js';

/** Side of a view's thumbnail: what is hashed and correlated. */
export const THUMB = 16;

export interface ViewBox {
  left: number;
  top: number;
  /** Width and height as fractions of the picture's. */
  scale: number;
}

/** Crop scales 0.95 and 0.9 at 3 x 3 positions: the nearest is within 2.5% of any 5-10% crop. */
const SCALES = [0.95, 0.9];

/** View boxes in fractions of the picture: view 0 is the whole. */
export const VIEWS: readonly ViewBox[] = [
  { left: 0, top: 0, scale: 1 },
  ...SCALES.flatMap((s) => [0, 0.5, 1].flatMap((fy) => [0, 0.5, 1].map((fx) => ({ left: fx * (1 - s), top: fy * (1 - s), scale: s })))),
];

/** Area-average weights of one axis: for each of THUMB cells, the source indices and their weights. */
interface AxisWeights {
  start: Int32Array;
  len: Int32Array;
  idx: Int32Array;
  w: Float32Array;
}

/** Cells [offset, offset + span) of an axis of `size` pixels cut into THUMB cells, mirrored when `flip`. */
function axisWeights(size: number, offset: number, span: number, flip: boolean): AxisWeights {
  const start = new Int32Array(THUMB), len = new Int32Array(THUMB);
  const idx: number[] = [], w: number[] = [];
  const c = span / THUMB;
  for (let k = 0; k < THUMB; k++) {
    const a = offset + k * c, b = a + c;
    start[k] = idx.length;
    for (let p = Math.floor(a); p < Math.ceil(b) && p < size; p++) {
      idx.push(flip ? size - 1 - p : p);
      w.push((Math.min(p + 1, b) - Math.max(p, a)) / c);
    }
    len[k] = idx.length - start[k];
  }
  return { start, len, idx: Int32Array.from(idx), w: Float32Array.from(w) };
}

interface ViewWeights {
  x: AxisWeights;
  xFlip: AxisWeights;
  y: AxisWeights;
}

/** Per picture size (width * 65536 + height): every view's axis weights, computed once. */
const weightCache = new Map<number, ViewWeights[]>();

function weightsOf(width: number, height: number): ViewWeights[] {
  const key = width * 65536 + height;
  let ws = weightCache.get(key);
  if (!ws) {
    ws = VIEWS.map((v) => ({
      x: axisWeights(width, width * v.left, width * v.scale, false),
      xFlip: axisWeights(width, width * v.left, width * v.scale, true),
      y: axisWeights(height, height * v.top, height * v.scale, false),
    }));
    if (weightCache.size > 256) weightCache.clear();
    weightCache.set(key, ws);
  }
  return ws;
}

const rowPass = new Float32Array(THUMB * 4096);

/**
 * A view's THUMB x THUMB cells: each the area average of its footprint (fractional edges weighted),
 * mirrored when `flip`. Separable: rows are averaged across, then the results down. Written to `out`.
 */
export function viewCells(g: Grey, view: number, flip = false, out = new Float32Array(THUMB * THUMB)): Float32Array {
  const vw = weightsOf(g.width, g.height)[view];
  const ax = flip ? vw.xFlip : vw.x;
  const ay = vw.y;
  // locals: the loops below are the near tier's hottest after the index walk
  const data = g.data, width = g.width, rp = rowPass;
  const xs = ax.start, xl = ax.len, xi = ax.idx, xw = ax.w;
  const ys = ay.start, yl = ay.len, yi = ay.idx, yw = ay.w;
  // rows touched by the view, each reduced to THUMB columns
  const y0 = yi[0], y1 = yi[yi.length - 1];
  for (let y = y0; y <= y1; y++) {
    const row = y * width;
    const o = (y - y0) * THUMB;
    for (let k = 0; k < THUMB; k++) {
      let s = 0;
      for (let t = xs[k], e = t + xl[k]; t < e; t++) s += xw[t] * data[row + xi[t]];
      rp[o + k] = s;
    }
  }
  for (let j = 0; j < THUMB; j++) {
    const t0 = ys[j], t1 = t0 + yl[j];
    for (let k = 0; k < THUMB; k++) {
      let s = 0;
      for (let t = t0; t < t1; t++) s += yw[t] * rp[(yi[t] - y0) * THUMB + k];
      out[j * THUMB + k] = s;
    }
  }
  return out;
}

/**
 * Zero-mean, unit-norm in place, so a dot product is the correlation and brightness or contrast changes
 * do not move it. A flat image has no pattern to correlate: it becomes all zeros (correlation 0).
 */
export function normalise(x: Float32Array): Float32Array {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let norm = 0;
  for (let i = 0; i < x.length; i++) {
    x[i] -= mean;
    norm += x[i] * x[i];
  }
  const inv = norm > 1e-9 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < x.length; i++) x[i] *= inv;
  return x;
}

/** A view's cells, normalised (plain, not high-passed). */
export function viewThumb(g: Grey, view: number, flip = false): Float32Array {
  return normalise(viewCells(g, view, flip));
}

/**
 * The cells less their 5 x 5 neighbourhood mean (clipped at the borders), normalised: what correlates here
 * is a face's own detail. Whole thumbnails of two aligned faces correlate 0.76 at the median (the shared
 * face shape); high-passed ones 0.59, while altered copies stay above 0.88 (bench/dupsCandidates.ts).
 */
export function highPass(cells: Float32Array, out = new Float32Array(cells.length)): Float32Array {
  // 5 x 5 box sums from a summed-area table (S is (THUMB + 1)^2, S[y][x] = sum of cells above-left)
  const W = THUMB + 1;
  const S = sat;
  for (let y = 0; y < THUMB; y++) {
    let row = 0;
    for (let x = 0; x < THUMB; x++) {
      row += cells[y * THUMB + x];
      S[(y + 1) * W + x + 1] = S[y * W + x + 1] + row;
    }
  }
  for (let y = 0; y < THUMB; y++) {
    const ya = Math.max(0, y - 2), yb = Math.min(THUMB, y + 3);
    for (let x = 0; x < THUMB; x++) {
      const xa = Math.max(0, x - 2), xb = Math.min(THUMB, x + 3);
      const sum = S[yb * W + xb] - S[ya * W + xb] - S[yb * W + xa] + S[ya * W + xa];
      out[y * THUMB + x] = cells[y * THUMB + x] - sum / ((yb - ya) * (xb - xa));
    }
  }
  return normalise(out);
}

const sat = new Float64Array((THUMB + 1) * (THUMB + 1));

/** Correlation of two thumbnails (both zero-mean, unit-norm). */
export function correlation(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
