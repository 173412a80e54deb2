// Chooses the split that selects the checkpoint: an explicit --val, the dataset's own validation
// split, or a seeded stratified hold-out of the training data. Never the test split.
import { loadDataset, parseSpec, formatSpec } from '../data/index.js';
import { DataProblemsError } from '../data/preflight.js';
import type { Dataset } from '../data/types.js';
import { Rng } from '../util/rng.js';
import { UserError } from './errors.js';

/** Formats whose "valid"/"val" split is a genuine validation split (not the test set). */
const OWN_VALIDATION: Record<string, string[]> = { ferplus: ['valid'], synthetic: ['valid'], folder: ['valid', 'val', 'validation'] };

export interface ValidationChoice {
  train: Dataset;
  val?: Dataset;
  description: string;
}

/** A spec without a split trains on the dataset's train split when it has one (never on test). */
export function trainSplitOnly(ds: Dataset): Dataset {
  if (ds.split) return ds;
  const splits = new Set(ds.samples.map((s) => s.split));
  if (splits.size > 1 && splits.has('train')) return { ...ds, split: 'train', samples: ds.samples.filter((s) => s.split === 'train') };
  return ds;
}

export function isTestSplit(split: string | undefined): boolean {
  return !!split && /^(test|private-?test)$/i.test(split);
}

export function holdOut(dataset: Dataset, fraction: number, seed: number): { train: Dataset; val: Dataset } {
  const byClass = new Map<number, number[]>();
  dataset.samples.forEach((s, i) => (byClass.get(s.label) ?? byClass.set(s.label, []).get(s.label)!).push(i));
  const rng = new Rng(seed ^ 0x1234567);
  const valIdx = new Set<number>();
  for (const idx of byClass.values()) {
    rng.shuffle(idx);
    const k = Math.round(idx.length * fraction);
    for (const i of idx.slice(0, k)) valIdx.add(i);
  }
  return {
    train: { ...dataset, samples: dataset.samples.filter((_, i) => !valIdx.has(i)) },
    val: { ...dataset, split: `${dataset.split ?? 'all'}-holdout`, samples: dataset.samples.filter((_, i) => valIdx.has(i)) },
  };
}

/** `load` reads a validation spec (kefer train passes its pre-flight check, so a bad --val is reported in full). */
export async function chooseValidation(
  trainSpec: string, train: Dataset, valSpec: string | undefined, holdoutFraction: number, seed: number,
  load: (spec: string) => Promise<Dataset> = loadDataset,
): Promise<ValidationChoice> {
  if (isTestSplit(parseSpec(trainSpec).split)) {
    throw new UserError(`--data ${trainSpec}: refusing to train on a test split`);
  }
  if (valSpec === 'none') return { train, description: 'none (last epoch kept)' };
  if (valSpec) {
    if (isTestSplit(parseSpec(valSpec).split)) {
      throw new UserError(`--val ${valSpec}: model selection never uses the test split; pass a validation split or omit --val`);
    }
    return { train, val: await load(valSpec), description: valSpec };
  }
  const spec = parseSpec(trainSpec);
  for (const split of OWN_VALIDATION[spec.format] ?? []) {
    if (split === spec.split) continue;
    try {
      const candidate = formatSpec({ ...spec, split });
      const val = await load(candidate);
      if (val.samples.length > 0) return { train, val, description: candidate };
    } catch (err) {
      // A split that exists but has problems is reported, never swapped for a hold-out.
      if (err instanceof DataProblemsError && err.result.dataset) throw err;
      // no such split: try the next name, then fall back to a hold-out
    }
  }
  const { train: rest, val } = holdOut(train, holdoutFraction, seed);
  return { train: rest, val, description: `${Math.round(holdoutFraction * 100)}% of ${trainSpec} held out (stratified, seed ${seed})` };
}
