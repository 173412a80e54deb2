// Shared fixtures of the store tests: temp dirs, a tiny in-memory dataset, synthetic records.
import { mkdtempSync, rmSync } from 'node:fs';
import { after } from 'node:test';
import { Rng } from '../../src/engine/util/rng.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classList } from '../../src/engine/classes.js';
import type { Dataset, Sample } from '../../src/engine/data/types.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { importRecords, registerRun, upsertDataset, type Store } from '../../src/engine/store/index.js';

export function tempDir(prefix = 'kefer-store-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A maker of temp dirs that are all removed when the test file's tests are done. */
export function tempDirsRemovedAfter(prefix = 'kefer-store-'): () => string {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d;
  };
}

/** Deterministic uniform [0, 1) stream (the project's seeded PRNG). */
export function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

export function tinyDataset(n: number, root: string, seed = 1, numClasses: 7 | 8 = 8): Dataset {
  const rand = prng(seed);
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const split = i % 5 === 0 ? 'test' : 'train';
    samples.push({ id: `s${String(i).padStart(4, '0')}`, path: `img/${split}/s${i}.png`, label: Math.floor(rand() * numClasses), split });
  }
  return { format: 'synthetic', root, classes: classList(numClasses), samples, synthetic: true };
}

export function fakeRecords(ds: Dataset, seed: number, skill = 1.5): SampleRecord[] {
  const rand = prng(seed);
  const k = ds.classes.length;
  return ds.samples.map((s) => {
    const logits = Array.from({ length: k }, (_, c) => rand() * 2 + (c === s.label ? skill : 0));
    const m = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - m));
    const z = e.reduce((a, b) => a + b, 0);
    const probs = e.map((x) => x / z);
    const simText = rand();
    const simNeutral = rand();
    return {
      id: s.id,
      path: s.path,
      split: s.split,
      label: s.label,
      pred: probs.indexOf(Math.max(...probs)),
      probs,
      simText,
      simNeutral,
      gap: simText - simNeutral,
      align: s.label === 6 ? null : rand() * 2 - 1,
    };
  });
}

/** Registers the dataset and a run of it, imports the run's records; returns the dataset's id. */
export function withRun(store: Store, dataset: Dataset, records: SampleRecord[], runId: string): number {
  const ds = upsertDataset(store, dataset);
  registerRun(store, { id: runId, dataset: ds.id });
  importRecords(store, runId, records);
  return ds.id;
}
