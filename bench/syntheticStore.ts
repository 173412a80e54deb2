// An AffectNet-scale SYNTHETIC store for the benchmarks (bench:store, bench:ui) and the grid test:
// n samples over 8 classes with AffectNet-like imbalance, runs of synthetic evaluation records over
// all samples (each a parent of the next, later runs a bit better), and a few hundred relabels, as a
// curation session leaves them. Built with the real store code; seeded, so runs are comparable.
import { join } from 'node:path';
import { classList } from '../src/engine/classes.js';
import type { Dataset, Sample } from '../src/engine/data/types.js';
import type { SampleRecord } from '../src/engine/eval/types.js';
import { importRecords, openStore, registerRun, relabel, upsertDataset, type Store } from '../src/engine/store/index.js';
import { Rng } from '../src/engine/util/rng.js';

// Canonical order: surprise fear disgust happiness sadness anger neutral contempt.
const SHARES = [0.05, 0.02, 0.013, 0.47, 0.09, 0.087, 0.26, 0.013];

export interface SyntheticStoreOptions {
  /** Sample count; the last min(4000, n/10) are split 'val', the rest 'train'. */
  n: number;
  /** Run ids, oldest first; default run-a, run-b, run-c. */
  runs?: string[];
  /** Dataset root recorded in the store (image paths are relative to it); default <dir>/affectnet-synthetic. */
  root?: string;
  seed?: number;
  /** Progress lines with timings (bench:store prints them). */
  log?: (line: string) => void;
  /** Opens the store file (bench:store's baseline driver); default openStore. */
  open?: (path: string) => Store;
}

export interface SyntheticStore {
  store: Store;
  /** Wall time of the sample insert and of each run's record import (incl. generating the records). */
  timings: { samplesMs: number; importMs: number[] };
  dataset: number;
  root: string;
  samples: Sample[];
  runs: string[];
}

/** Sample i's image path (relative to the dataset root) in a store of n samples. */
export function syntheticPath(i: number, n: number): string {
  return `${i < valStart(n) ? 'train' : 'val'}_set/images/${i}.jpg`;
}

function valStart(n: number): number {
  return n - Math.min(4000, Math.floor(n / 10));
}

/** Builds the store at `dbPath` (a fresh file) and returns it open. */
export function buildSyntheticStore(dbPath: string, opts: SyntheticStoreOptions): SyntheticStore {
  const { n } = opts;
  const runs = opts.runs ?? ['run-a', 'run-b', 'run-c'];
  const log = opts.log ?? (() => undefined);
  // One stream for samples and records, in this order: bench:store's numbers stay comparable.
  const rng = new Rng(opts.seed ?? 12345);
  const rand = (): number => rng.next();
  const drawClass = (): number => {
    let u = rand();
    for (let k = 0; k < SHARES.length; k++) if ((u -= SHARES[k]) < 0) return k;
    return 3;
  };
  const store = (opts.open ?? openStore)(dbPath);
  const classes = classList(8);
  const valFrom = valStart(n);
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const split = i < valFrom ? 'train' : 'val';
    samples.push({ id: `${split}/${i}`, path: syntheticPath(i, n), label: drawClass(), split });
  }
  const root = opts.root ?? join(dbPath, '..', 'affectnet-synthetic');
  const dataset: Dataset = { format: 'synthetic', root, classes, samples, synthetic: true };
  let t0 = performance.now();
  const ds = upsertDataset(store, dataset, { spec: 'synthetic:affectnet-like' });
  const insertMs = performance.now() - t0;
  log(`SYNTHETIC store: ${n.toLocaleString()} samples, 8 classes, ${runs.length} runs over all samples`);
  log(`bulk insert samples: ${insertMs.toFixed(0)} ms = ${Math.round(n / (insertMs / 1000)).toLocaleString()} samples/s (one transaction)`);

  const importMs: number[] = [];
  let parent: string | undefined;
  for (const [r, runId] of runs.entries()) {
    registerRun(store, { id: runId, dataset: ds.id, backbone: 'resnet18', textSource: 'synthetic', backend: 'synthetic', parent });
    parent = runId;
    const skill = 1.2 + 0.4 * r; // later runs are a bit better
    function* gen(): Iterable<SampleRecord> {
      for (const s of samples) {
        const logits = classes.map((_, k) => rand() * 2 + (k === s.label ? skill : 0) + (k === 3 ? 0.5 : 0));
        const m = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - m));
        const z = e.reduce((a, b) => a + b, 0);
        const probs = e.map((x) => x / z);
        const pred = probs.indexOf(Math.max(...probs));
        const simText = rand() * 0.6;
        const simNeutral = rand() * 0.6;
        yield { id: s.id, path: s.path, split: s.split, label: s.label, pred, probs, simText, simNeutral, gap: simText - simNeutral, align: s.label === 6 ? null : rand() * 2 - 1 };
      }
    }
    t0 = performance.now();
    importRecords(store, runId, gen());
    const ms = performance.now() - t0;
    importMs.push(ms);
    log(`import ${runId}: ${ms.toFixed(0)} ms = ${Math.round(n / (ms / 1000)).toLocaleString()} records/s (incl. generating them)`);
  }
  // A few hundred relabels, as a curation session would leave.
  for (let i = 0; i < Math.min(300, n); i++) {
    const s = samples[(i * 997) % n];
    relabel(store, { dataset: ds.id, id: s.id }, (s.label + 1) % 8, { note: 'bench' });
  }
  store.db.pragma('optimize');
  return { store, timings: { samplesMs: insertMs, importMs }, dataset: ds.id, root, samples, runs };
}
