// k-fold out-of-sample records: each sample is scored by a model that never saw its label. cleanlab's
// signals flag training-set errors honestly only on such predictions (an in-sample model has fit the
// wrong label and is confident in it).
import type { SampleRecord } from '../eval/types.js';
import { Rng } from '../util/rng.js';

/**
 * Fold id (0..k-1) of every sample, stratified: each class's samples are shuffled (seeded) and dealt
 * round-robin, so every fold gets floor or ceil of a class's share. The deal continues across classes,
 * so fold sizes differ by at most one.
 */
export function stratifiedFolds(labels: readonly number[], k: number, seed: number): number[] {
  if (!Number.isInteger(k) || k < 2) throw new RangeError(`k-fold needs k >= 2, got ${k}`);
  if (labels.length < k) throw new RangeError(`k-fold needs at least k = ${k} samples, got ${labels.length}`);
  const rng = new Rng(seed);
  const byClass = new Map<number, number[]>();
  labels.forEach((y, i) => {
    const list = byClass.get(y);
    if (list) list.push(i);
    else byClass.set(y, [i]);
  });
  const folds = new Array<number>(labels.length).fill(-1);
  let next = rng.int(k);
  for (const y of [...byClass.keys()].sort((a, b) => a - b)) {
    for (const i of rng.shuffle(byClass.get(y)!)) {
      folds[i] = next;
      next = (next + 1) % k;
    }
  }
  return folds;
}

export interface Fold {
  index: number;
  k: number;
  /** Dataset positions trained on / scored, ascending. */
  train: number[];
  heldOut: number[];
}

export function foldsOf(assignment: readonly number[], k: number): Fold[] {
  return Array.from({ length: k }, (_, f) => ({
    index: f,
    k,
    train: assignment.flatMap((a, i) => (a !== f ? [i] : [])),
    heldOut: assignment.flatMap((a, i) => (a === f ? [i] : [])),
  }));
}

/** Trains on fold.train and returns the records of fold.heldOut, in that order. */
export type FoldTrainer = (fold: Fold) => Promise<SampleRecord[]>;

export interface CrossValOptions {
  k?: number;
  seed?: number;
  onFold?: (fold: Fold, seconds: number) => void;
}

/** Out-of-sample record of every sample, in dataset order: the concatenated held-out folds. */
export async function crossValidatedRecords(labels: readonly number[], trainer: FoldTrainer, opts: CrossValOptions = {}): Promise<SampleRecord[]> {
  const k = opts.k ?? 5;
  const folds = foldsOf(stratifiedFolds(labels, k, opts.seed ?? 1), k);
  const out = new Array<SampleRecord | undefined>(labels.length);
  for (const fold of folds) {
    const t = performance.now();
    const recs = await trainer(fold);
    if (recs.length !== fold.heldOut.length) throw new Error(`fold ${fold.index}: trainer returned ${recs.length} records for ${fold.heldOut.length} held-out samples`);
    fold.heldOut.forEach((i, j) => (out[i] = recs[j]));
    opts.onFold?.(fold, (performance.now() - t) / 1000);
  }
  return out as SampleRecord[];
}
