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
  const b = new SyntheticStoreBuilder(dbPath, opts);
  for (let r = 0; r < b.runs.length; r++) b.importRun(r);
  return b.finish();
}

/**
 * The same build in steps (the samples, then each run's records, then the relabels), so that bench:store
 * can build two stores in lockstep, alternating drivers step by step.
 */
export class SyntheticStoreBuilder {
  readonly runs: string[];
  readonly store: Store;
  private readonly samples: Sample[] = [];
  private readonly dataset: number;
  private readonly root: string;
  private readonly rand: () => number;
  private readonly log: (line: string) => void;
  private readonly timings: SyntheticStore['timings'] = { samplesMs: 0, importMs: [] };
  private parent: string | undefined;

  constructor(dbPath: string, private readonly opts: SyntheticStoreOptions) {
    const { n } = opts;
    this.runs = opts.runs ?? ['run-a', 'run-b', 'run-c'];
    this.log = opts.log ?? (() => undefined);
    // One stream for samples and records, in this order: bench:store's numbers stay comparable.
    const rng = new Rng(opts.seed ?? 12345);
    this.rand = (): number => rng.next();
    const drawClass = (): number => {
      let u = this.rand();
      for (let k = 0; k < SHARES.length; k++) if ((u -= SHARES[k]) < 0) return k;
      return 3;
    };
    this.store = (opts.open ?? openStore)(dbPath);
    const valFrom = valStart(n);
    for (let i = 0; i < n; i++) {
      const split = i < valFrom ? 'train' : 'val';
      this.samples.push({ id: `${split}/${i}`, path: syntheticPath(i, n), label: drawClass(), split });
    }
    this.root = opts.root ?? join(dbPath, '..', 'affectnet-synthetic');
    const dataset: Dataset = { format: 'synthetic', root: this.root, classes: classList(8), samples: this.samples, synthetic: true };
    const t0 = performance.now();
    this.dataset = upsertDataset(this.store, dataset, { spec: 'synthetic:affectnet-like' }).id;
    this.timings.samplesMs = performance.now() - t0;
    this.log(`SYNTHETIC store: ${n.toLocaleString()} samples, 8 classes, ${this.runs.length} runs over all samples`);
    this.log(`bulk insert samples: ${this.timings.samplesMs.toFixed(0)} ms = ${Math.round(n / (this.timings.samplesMs / 1000)).toLocaleString()} samples/s (one transaction)`);
  }

  /** Registers run r (the previous one its parent) and imports its records; the time it took. */
  importRun(r: number): number {
    const runId = this.runs[r];
    const classes = classList(8);
    registerRun(this.store, { id: runId, dataset: this.dataset, backbone: 'resnet18', textSource: 'synthetic', backend: 'synthetic', parent: this.parent });
    this.parent = runId;
    const skill = 1.2 + 0.4 * r; // later runs are a bit better
    const { samples, rand } = this;
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
    const t0 = performance.now();
    importRecords(this.store, runId, gen());
    const ms = performance.now() - t0;
    this.timings.importMs.push(ms);
    this.log(`import ${runId}: ${ms.toFixed(0)} ms = ${Math.round(this.opts.n / (ms / 1000)).toLocaleString()} records/s (incl. generating them)`);
    return ms;
  }

  /** A few hundred relabels, as a curation session would leave; the store, open. */
  finish(): SyntheticStore {
    const n = this.opts.n;
    for (let i = 0; i < Math.min(300, n); i++) {
      const s = this.samples[(i * 997) % n];
      relabel(this.store, { dataset: this.dataset, id: s.id }, (s.label + 1) % 8, { note: 'bench' });
    }
    this.store.db.pragma('optimize');
    return { store: this.store, timings: this.timings, dataset: this.dataset, root: this.root, samples: this.samples, runs: this.runs };
  }
}
