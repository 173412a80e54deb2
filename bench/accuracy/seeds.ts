// Statistics of the accuracy benchmark's repeated runs and the FER+ paper's reporting: mean and spread
// over seeds, a paired verdict for an ablation, and the 7-class figures of an 8-class model.
import { computeMetrics, type Metrics } from '../../src/engine/eval/metrics.js';

export interface Spread {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); 0 for a single run. */
  sd: number;
  min: number;
  max: number;
}

export function spread(xs: readonly number[]): Spread {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(n, 1);
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, sd, min: Math.min(...xs), max: Math.max(...xs) };
}

export type Verdict = 'helps' | 'does not help' | 'within noise';

/** Two-sided 95% Student t critical values for 1..10 degrees of freedom (then ~2). */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
export const t95 = (df: number): number => T95[df - 1] ?? 2;

/**
 * Paired comparison over seeds (same seed = same data order, initialisation and augmentation):
 * d_i = with_i - without_i. 'helps' when the mean difference exceeds t(n-1) standard errors (a paired
 * t-test at 95%: 4.30 for 3 seeds), 'does not help' when it is below minus that, else 'within noise'
 * (always with fewer than 2 pairs).
 */
export function pairedVerdict(withIt: readonly number[], without: readonly number[]): { diff: Spread; verdict: Verdict } {
  if (withIt.length !== without.length) throw new Error(`paired verdict: ${withIt.length} vs ${without.length} runs`);
  const diff = spread(withIt.map((x, i) => x - without[i]));
  if (diff.n < 2) return { diff, verdict: 'within noise' };
  const se = diff.sd / Math.sqrt(diff.n);
  const t = t95(diff.n - 1);
  const verdict: Verdict = diff.mean > t * se ? 'helps' : diff.mean < -t * se ? 'does not help' : 'within noise';
  return { diff, verdict };
}

/**
 * The 7-class figures of an 8-class model (contempt = class 7): the samples not labelled contempt, each
 * predicted as the most probable of the 7 basic classes. The FER+ paper reports 8 classes; this puts the
 * same model beside 7-class results.
 */
export function sevenOfEight(labels: readonly number[], probs: readonly (readonly number[])[]): Metrics {
  const keep = labels.map((_, i) => i).filter((i) => labels[i] < 7);
  const preds = keep.map((i) => {
    const p = probs[i];
    let best = 0;
    for (let k = 1; k < 7; k++) if (p[k] > p[best]) best = k;
    return best;
  });
  return computeMetrics(keep.map((i) => labels[i]), preds, 7);
}
