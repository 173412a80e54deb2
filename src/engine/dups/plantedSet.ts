// A planted-duplicate dataset from real faces: originals, one altered copy of each (planted.ts) placed in
// another split, and distinct faces around them, written as a class-folder dataset
// (OUT/{train,valid,test}/{class}/*). What was planted is returned, so a test or a benchmark can count
// what each tier finds (scorePlanted).
import { mkdir, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { mapLimit } from '../data/decode.js';
import type { Dataset } from '../data/types.js';
import { Rng } from '../util/rng.js';
import { pairsOfEqualKeys, clustersOf } from './clusters.js';
import { exactFingerprint, fingerprint } from './fingerprint.js';
import { nearPairs } from './near.js';
import type { TierResult } from './find.js';
import { plantedCopyOf, TRANSFORMS, type Transform } from './planted.js';
import { leakPairs, type LeakKind } from './report.js';

export interface PlantedCopyTruth {
  /** File names (the folder reader's sample ids end with them). */
  original: string;
  copy: string;
  transform: Transform;
  detail: string;
  originalSplit: string;
  copySplit: string;
  /** The copy was filed under another class than its original (a planted label conflict). */
  relabelled: boolean;
}

export interface PlantedSet {
  spec: string;
  copies: PlantedCopyTruth[];
  distinct: string[];
}

export interface PlantedSetOptions {
  /** A dataset of real faces to draw from (its exact duplicates are never drawn). */
  source: Dataset;
  out: string;
  /** Copies per transform. */
  perTransform: number;
  distinct: number;
  seed: number;
  /** Every k-th copy is filed under another class (0: none). */
  relabelEvery?: number;
  /**
   * Draw no face that has a near copy in the source (the near tier at its default threshold): the
   * source's own copies are not planted truth, and counting them as wrong pairs measures the dataset,
   * not the finder (on FERPlus the pairs counted wrong without this were its own near copies).
   */
  excludeNearCopies?: boolean;
}

const SPLIT_PAIRS: [string, string][] = [['train', 'test'], ['train', 'valid'], ['valid', 'test'], ['test', 'train']];

export async function buildPlantedSet(o: PlantedSetOptions): Promise<PlantedSet> {
  const src = o.source;
  const rng = new Rng(o.seed);
  // Faces without an exact copy in the source (and without a near one, with excludeNearCopies), so the
  // duplicates are the planted ones; scorePlanted counts only pairs that involve a planted copy.
  const hashes = await mapLimit(src.samples, 4, (s) => exactFingerprint(src, s));
  const dup = new Set(clustersOf(src.samples.length, pairsOfEqualKeys(hashes), 'exact').flatMap((c) => c.members));
  if (o.excludeNearCopies) {
    const greys = await mapLimit(src.samples, 4, async (s) => (await fingerprint(src, s)).grey);
    for (const p of nearPairs(greys)) dup.add(p.a).add(p.b);
  }
  const pool = rng.shuffle(src.samples.map((_, i) => i).filter((i) => !dup.has(i)));
  const nOrig = o.perTransform * TRANSFORMS.length;
  if (pool.length < nOrig + o.distinct) throw new RangeError(`buildPlantedSet: the source has ${pool.length} usable faces, ${nOrig + o.distinct} needed`);
  const K = src.classes.length;
  const copies: PlantedCopyTruth[] = [];
  const distinct: string[] = [];
  const put = async (split: string, label: number, name: string, from: string | Buffer) => {
    const dir = path.join(o.out, split, src.classes[label]);
    await mkdir(dir, { recursive: true });
    if (typeof from === 'string') await copyFile(from, path.join(dir, name));
    else await writeFile(path.join(dir, name), from);
  };
  for (let k = 0; k < nOrig; k++) {
    const s = src.samples[pool[k]];
    const file = path.join(src.root, s.path);
    const t = TRANSFORMS[k % TRANSFORMS.length];
    const [sa, sb] = SPLIT_PAIRS[Math.floor(k / TRANSFORMS.length) % SPLIT_PAIRS.length];
    const c = await plantedCopyOf(file, t, rng);
    const relabelled = !!o.relabelEvery && k % o.relabelEvery === o.relabelEvery - 1;
    const copyLabel = relabelled ? (s.label + 1 + rng.int(K - 1)) % K : s.label;
    const original = `o${String(k).padStart(4, '0')}${path.extname(s.path)}`;
    const copy = `c${String(k).padStart(4, '0')}-${t}.${c.ext}`;
    await put(sa, s.label, original, file);
    await put(sb, copyLabel, copy, c.bytes);
    copies.push({ original, copy, transform: t, detail: c.detail, originalSplit: sa, copySplit: sb, relabelled });
  }
  for (let k = 0; k < o.distinct; k++) {
    const s = src.samples[pool[nOrig + k]];
    const name = `d${String(k).padStart(4, '0')}${path.extname(s.path)}`;
    await put(['train', 'train', 'valid', 'test'][k % 4], s.label, name, path.join(src.root, s.path));
    distinct.push(name);
  }
  return { spec: `folder:${o.out}`, copies, distinct };
}

export interface TransformScore {
  transform: Transform;
  copies: number;
  /** Copies whose pair with their original the tier reports. */
  found: number;
  /** Reported pairs that involve a planted copy, and of them those that pair it with its own original. */
  pairs: number;
  correct: number;
  recall: number;
  precision: number;
  /** Copies not found, with what was done to them. */
  missed: string[];
}

const base = (p: string) => p.split('/').pop()!;

/** Per transform: recall (copies found with their original) and precision (pairs of a copy that are right). */
export function scorePlanted(dataset: Dataset, planted: PlantedSet, tier: TierResult): TransformScore[] {
  const idx = new Map(dataset.samples.map((s, i) => [base(s.path), i]));
  const copyOf = new Map<number, PlantedCopyTruth>();
  for (const c of planted.copies) copyOf.set(idx.get(c.copy)!, c);
  const pairSet = new Set(tier.pairs.map((p) => `${p.a},${p.b}`));
  return TRANSFORMS.map((t) => {
    const cs = planted.copies.filter((c) => c.transform === t);
    const missed: string[] = [];
    let found = 0;
    for (const c of cs) {
      const a = idx.get(c.original)!, b = idx.get(c.copy)!;
      if (pairSet.has(`${Math.min(a, b)},${Math.max(a, b)}`)) found++;
      else missed.push(`${c.copy} (${c.detail})`);
    }
    let pairs = 0, correct = 0;
    for (const p of tier.pairs) {
      for (const [x, y] of [[p.a, p.b], [p.b, p.a]]) {
        const c = copyOf.get(x);
        if (!c || c.transform !== t) continue;
        pairs++;
        if (base(dataset.samples[y].path) === c.original) correct++;
      }
    }
    return { transform: t, copies: cs.length, found, pairs, correct, recall: cs.length ? found / cs.length : NaN, precision: pairs ? correct / pairs : NaN, missed };
  });
}

/** Planted cross-split leaks the tier's clusters do not name (each as 'original <-> copy'). */
export function unnamedLeaks(dataset: Dataset, planted: PlantedSet, tier: TierResult): string[] {
  const named = new Set<string>();
  for (const c of tier.clusters) for (const p of leakPairs(c, dataset.samples)) named.add(`${base(dataset.samples[p.a].path)}|${base(dataset.samples[p.b].path)}`);
  const kind = (a: string, b: string): LeakKind | undefined => (a === b ? undefined : ([a, b].sort().join() === 'test,train' ? 'train-test' : [a, b].sort().join() === 'train,valid' ? 'train-val' : 'val-test'));
  return planted.copies
    .filter((c) => kind(c.originalSplit, c.copySplit))
    .filter((c) => !named.has(`${c.original}|${c.copy}`) && !named.has(`${c.copy}|${c.original}`))
    .map((c) => `${c.original} <-> ${c.copy}`);
}
