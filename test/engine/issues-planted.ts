// A run with planted, class-dependent label noise for the review-calibration tests.
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { Rng } from '../../src/engine/util/rng.js';

export const K = 7;

/**
 * 1,400 records, 200 per given class. Class 2's labels are wrong 60% of the time, the others' 5%. The
 * model's probabilities carry the same weak evidence in every class (a wrong label gets p(y) ~ U(0.1, 0.6),
 * a right one ~ U(0.3, 0.9)), so only the per-class rate separates class 2's errors from the rest.
 */
export function plantedRun(seed: number): { records: SampleRecord[]; wrong: boolean[] } {
  const rng = new Rng(seed);
  const records: SampleRecord[] = [];
  const wrong: boolean[] = [];
  for (let c = 0; c < K; c++) {
    for (let i = 0; i < 200; i++) {
      const w = rng.next() < (c === 2 ? 0.6 : 0.05);
      const py = w ? 0.1 + 0.5 * rng.next() : 0.3 + 0.6 * rng.next();
      const other = (c + 1 + Math.floor(rng.next() * (K - 1))) % K;
      const probs = new Array<number>(K).fill((1 - py) * 0.2 / (K - 2));
      probs[c] = py;
      probs[other] = (1 - py) * 0.8;
      records.push({ id: `s${c}-${i}`, path: `s${c}-${i}.png`, split: 'train', label: c, pred: py >= probs[other] ? c : other, probs, simText: 0.5, simNeutral: 0.1, gap: 0.4, align: 0.5 });
      wrong.push(w);
    }
  }
  return { records, wrong };
}
