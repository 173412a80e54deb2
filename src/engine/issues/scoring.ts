// How well a ranking finds known issues: precision / recall at k and AUROC (ties counted half).
import { orderByScore } from './rankers.js';

/** Known issues among the k highest scores. */
export function hitsAt(score: readonly number[], truth: readonly boolean[], k: number): number {
  return orderByScore(score).slice(0, k).filter((i) => truth[i]).length;
}

export function precisionAt(score: readonly number[], truth: readonly boolean[], k: number): number {
  const kk = Math.min(k, score.length);
  return kk > 0 ? hitsAt(score, truth, kk) / kk : NaN;
}

export function recallAt(score: readonly number[], truth: readonly boolean[], k: number): number {
  const pos = truth.filter(Boolean).length;
  return pos > 0 ? hitsAt(score, truth, k) / pos : NaN;
}

/**
 * Area under the ROC curve: the probability that a random issue scores above a random non-issue, ties
 * counted half (Mann-Whitney U from average ranks). NaN when either group is empty.
 */
export function auroc(score: readonly number[], truth: readonly boolean[]): number {
  if (score.length !== truth.length) throw new RangeError(`auroc: ${score.length} scores, ${truth.length} truths`);
  const idx = score.map((_, i) => i).sort((a, b) => score[a] - score[b]);
  let sumPosRanks = 0;
  let nPos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && score[idx[j + 1]] === score[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) if (truth[idx[t]]) {
      sumPosRanks += avg;
      nPos++;
    }
    i = j + 1;
  }
  const nNeg = score.length - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (sumPosRanks - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
