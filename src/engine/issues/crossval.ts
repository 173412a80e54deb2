// k-fold out-of-sample records: each sample is scored by a model that never saw its label. cleanlab's
// signals flag training-set errors honestly only on such predictions (an in-sample model has fit the
// wrong label and is confident in it).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
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
  /** Called after each fold; `resumed` when its records were read back from `dir` instead of trained. */
  onFold?: (fold: Fold, seconds: number, resumed: boolean) => void;
  /** Called before a fold trains. */
  onFoldStart?: (fold: Fold) => void;
  /**
   * Folder for per-fold results (fold-I-of-K.jsonl, written when fold I finishes): a rerun with the same
   * samples, k and seed reads finished folds back instead of retraining them.
   */
  dir?: string;
  /** Sample ids in dataset order (required with `dir`: a saved fold is reused only if its ids match). */
  ids?: readonly string[];
}

/** Saved records of a fold, or undefined when absent or not this fold's (other data, k or seed). */
async function readFold(file: string, ids: readonly string[], fold: Fold): Promise<SampleRecord[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const recs = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as SampleRecord);
  if (recs.length !== fold.heldOut.length || recs.some((r, j) => r.id !== ids[fold.heldOut[j]])) return undefined;
  return recs;
}

/** Out-of-sample record of every sample, in dataset order: the concatenated held-out folds. */
export async function crossValidatedRecords(labels: readonly number[], trainer: FoldTrainer, opts: CrossValOptions = {}): Promise<SampleRecord[]> {
  const k = opts.k ?? 5;
  const folds = foldsOf(stratifiedFolds(labels, k, opts.seed ?? 1), k);
  const out = new Array<SampleRecord | undefined>(labels.length);
  if (opts.dir) {
    if (!opts.ids || opts.ids.length !== labels.length) throw new RangeError('crossValidatedRecords: resuming from a folder needs the sample ids');
    await mkdir(opts.dir, { recursive: true });
  }
  for (const fold of folds) {
    const t = performance.now();
    const file = opts.dir ? path.join(opts.dir, `fold-${fold.index + 1}-of-${k}.jsonl`) : undefined;
    let recs = file ? await readFold(file, opts.ids!, fold) : undefined;
    const resumed = !!recs;
    if (!recs) {
      opts.onFoldStart?.(fold);
      recs = await trainer(fold);
      if (recs.length !== fold.heldOut.length) throw new Error(`fold ${fold.index}: trainer returned ${recs.length} records for ${fold.heldOut.length} held-out samples`);
      // Write-then-rename: a killed run never leaves a half-written fold that would be read back.
      if (file) {
        await writeFile(`${file}.tmp`, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
        await rename(`${file}.tmp`, file);
      }
    }
    fold.heldOut.forEach((i, j) => (out[i] = recs[j]));
    opts.onFold?.(fold, (performance.now() - t) / 1000, resumed);
  }
  return out as SampleRecord[];
}
