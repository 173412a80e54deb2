// Class imbalance (`kefer train --balance`): FERPlus train has 9,975 happiness and 116 disgust images, so
// plain training scores the rare classes poorly (UAR well below WAR). Two options, as users know them:
//   sampler  class-balanced sampling: each epoch draws as many samples as the set has, with replacement,
//            every class equally likely (torch's WeightedRandomSampler with weights 1 / n_class).
//   weights  Ls weighted per class by n / (K n_class) (scikit-learn's "balanced"; losses.ts classWeights).
import { Rng } from '../util/rng.js';

export type BalanceMode = 'none' | 'sampler' | 'weights';
export const BALANCE_MODES: readonly BalanceMode[] = ['none', 'sampler', 'weights'];

export function classCounts(labels: readonly number[], k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (const y of labels) counts[y]++;
  return counts;
}

/** n / (K n_c) for each class present (K = classes present); 0 for a class with no sample. */
export function balancedClassWeights(labels: readonly number[], k: number): number[] {
  const counts = classCounts(labels, k);
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c > 0 ? labels.length / (present * c) : 0));
}

/** `n` sample indices drawn with replacement: a class uniformly among those present, then a sample of it. */
export function balancedOrder(labels: readonly number[], k: number, n: number, rng: Rng): number[] {
  const byClass: number[][] = Array.from({ length: k }, () => []);
  labels.forEach((y, i) => byClass[y].push(i));
  const present = byClass.filter((c) => c.length > 0);
  return Array.from({ length: n }, () => {
    const members = present[rng.int(present.length)];
    return members[rng.int(members.length)];
  });
}
