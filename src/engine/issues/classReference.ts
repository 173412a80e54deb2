// A per-class reference for the KE-FER signals (gap, align): where a sample's value sits among the
// samples of its own class (given label, same split), as a robust z-score and a percentile, and a
// small histogram to draw. Raw gaps are not comparable across classes (in a FERPlus run: happiness
// 1.07 on average, neutral 0.04), so a sort or an "unusual" flag on the raw value lists one class.
//
// "Unusual" is a robust z-score below UNUSUAL_Z against the class's median and MAD (Leys et al. 2013,
// "Detecting outliers: do not use standard deviation around the mean, use absolute deviation around the
// median": 2.5 is their moderately conservative cut). Unlike a percentile cut (below p10 flags 10% of
// every class by construction), it flags what lies far from the class's bulk: none in a tight class,
// many in a class with a long low tail. Classes with fewer than SMALL_CLASS samples are marked small and
// flag nothing: a median and MAD of a dozen values say little.
export const UNUSUAL_Z = -2.5;
export const SMALL_CLASS = 30;
/** 1.4826 * MAD estimates the standard deviation of normal data. */
const MAD_TO_SD = 1.4826;
const HIST_BINS = 24;
/** Quantiles kept per class (p0, p1, ..., p100): percentiles read back within a point. */
const QUANTILES = 101;

export interface ClassStats {
  n: number;
  median: number;
  /** Median absolute deviation from the median. */
  mad: number;
  /** The scale of the robust z: 1.4826 MAD, else (constant-ish classes) the standard deviation, floored. */
  scale: number;
  /** QUANTILES values, p0..p100. */
  quantiles: number[];
  hist: { lo: number; hi: number; counts: number[] };
}

function quantileSorted(v: Float64Array | number[], p: number): number {
  if (v.length === 1) return v[0];
  const x = p * (v.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  return i + 1 < v.length ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

/** Robust statistics of one class's values (null when it has none). */
export function classStats(values: ArrayLike<number>): ClassStats | null {
  const n = values.length;
  if (n === 0) return null;
  const v = Float64Array.from(values).sort();
  const median = quantileSorted(v, 0.5);
  const dev = Float64Array.from(v, (x) => Math.abs(x - median)).sort();
  const mad = quantileSorted(dev, 0.5);
  let scale = MAD_TO_SD * mad;
  if (!(scale > 1e-9)) {
    // more than half the values equal: fall back to the standard deviation
    const mean = v.reduce((a, b) => a + b, 0) / n;
    scale = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  }
  scale = Math.max(scale, 1e-6);
  const quantiles = Array.from({ length: QUANTILES }, (_, i) => round(quantileSorted(v, i / (QUANTILES - 1))));
  const lo = v[0];
  const hi = v[n - 1];
  const counts = new Array<number>(HIST_BINS).fill(0);
  const w = hi > lo ? (hi - lo) / HIST_BINS : 1;
  for (const x of v) counts[Math.min(HIST_BINS - 1, Math.floor((x - lo) / w))]++;
  return { n, median: round(median), mad: round(mad), scale: round(scale), quantiles, hist: { lo: round(lo), hi: round(hi), counts } };
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Robust z of a value against its class: (x - median) / scale. */
export function robustZ(x: number, s: Pick<ClassStats, 'median' | 'scale'>): number {
  return (x - s.median) / s.scale;
}

/** Share of the class at or below x, in [0, 1], from the stored quantiles (linear between them). */
export function percentileOf(x: number, s: Pick<ClassStats, 'quantiles'>): number {
  const q = s.quantiles;
  const last = q.length - 1;
  if (x < q[0]) return 0;
  if (x >= q[last]) return 1;
  // the last quantile not above x (ties: the highest, so a value equal to many scores their top)
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (q[mid] <= x) lo = mid;
    else hi = mid;
  }
  const f = q[hi] > q[lo] ? (x - q[lo]) / (q[hi] - q[lo]) : 0;
  return (lo + f) / last;
}

/** Unusually low for its class (and the class is large enough to say so). */
export function unusuallyLow(z: number, n: number): boolean {
  return n >= SMALL_CLASS && z < UNUSUAL_Z;
}
