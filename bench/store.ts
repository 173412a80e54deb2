// `npm run bench:store`: builds an AffectNet-scale store from SYNTHETIC data (300k samples, 8 classes
// with AffectNet-like imbalance, 3 runs of synthetic evaluation records over all samples) in a temp
// dir, then times the diagnostics-panel queries. Times are medians; each is also printed as a ratio to
// a baseline measured in the same process: a scan of one run's records (SELECT count(*), sum(gap) over
// the run's 300k rows, what any un-indexed panel query must at least do), and for the mistake pages
// the same page query on an un-indexed copy of the run's records.
import { mkdtempSync, rmSync } from 'node:fs';
import { Rng } from '../src/engine/util/rng.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classList } from '../src/engine/classes.js';
import type { Dataset, Sample } from '../src/engine/data/types.js';
import type { SampleRecord } from '../src/engine/eval/types.js';
import {
  cellPage,
  classCounts,
  compareRuns,
  confusion,
  importRecords,
  mistakesPage,
  openStore,
  registerRun,
  relabel,
  runKey,
  sampleHistory,
  upsertDataset,
} from '../src/engine/store/index.js';

const N = Number(process.env.BENCH_SAMPLES ?? 300_000);
const REPS = 7;

// Seeded so runs are comparable.
const rng = new Rng(12345);
const rand = (): number => rng.next();

// AffectNet-like class shares in canonical order: surprise fear disgust happiness sadness anger neutral contempt.
const SHARES = [0.05, 0.02, 0.013, 0.47, 0.09, 0.087, 0.26, 0.013];
function drawClass(): number {
  let u = rand();
  for (let k = 0; k < SHARES.length; k++) if ((u -= SHARES[k]) < 0) return k;
  return 3;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => unknown): number {
  fn(); // warm the page cache and statement cache
  const ts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const dir = mkdtempSync(join(tmpdir(), 'kefer-bench-store-'));
try {
  const store = openStore(join(dir, 'kefer.db'));
  const classes = classList(8);
  const samples: Sample[] = [];
  for (let i = 0; i < N; i++) {
    const split = i < N - 4000 ? 'train' : 'val';
    samples.push({ id: `${split}/${i}`, path: `${split}_set/images/${i}.jpg`, label: drawClass(), split });
  }
  const dataset: Dataset = { format: 'synthetic', root: join(dir, 'affectnet-synthetic'), classes, samples, synthetic: true };
  let t0 = performance.now();
  const ds = upsertDataset(store, dataset, { spec: 'synthetic:affectnet-like' });
  const insertMs = performance.now() - t0;
  console.log(`SYNTHETIC store: ${N.toLocaleString()} samples, 8 classes, 3 runs over all samples`);
  console.log(`bulk insert samples: ${insertMs.toFixed(0)} ms = ${Math.round(N / (insertMs / 1000)).toLocaleString()} samples/s (one transaction)`);

  const runs = ['run-a', 'run-b', 'run-c'];
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
    console.log(`import ${runId}: ${ms.toFixed(0)} ms = ${Math.round(N / (ms / 1000)).toLocaleString()} records/s (incl. generating them)`);
  }
  // A few hundred relabels, as a curation session would leave.
  for (let i = 0; i < 300; i++) relabel(store, { dataset: ds.id, id: samples[(i * 997) % N].id }, (samples[(i * 997) % N].label + 1) % 8, { note: 'bench' });
  store.db.pragma('optimize');

  const rk = runKey(store, 'run-b');
  const baseline = time(() => store.db.prepare('SELECT count(*), sum(gap) FROM records WHERE run = ?').get(rk));
  console.log(`\nbaseline: scan of one run's ${N.toLocaleString()} records: ${baseline.toFixed(2)} ms\n`);
  const rows: [string, number, number | undefined][] = [];
  // Un-indexed copy of run-b's records: the same page query without any index.
  store.db.exec(`CREATE TABLE bench_unindexed AS SELECT * FROM records WHERE run = ${rk}`);
  const unindexed = (col: string, extra: string, args: unknown[]) =>
    time(() =>
      store.db.prepare(`SELECT sample, ${col} FROM bench_unindexed WHERE pred <> label ${extra} ORDER BY ${col}, sample LIMIT 200`).all(...args),
    );
  const q = (name: string, fn: () => unknown, base?: number) => rows.push([name, time(fn), base]);
  q('mistakes page, sort confidence', () => mistakesPage(store, 'run-b', {}, { sort: 'confidence' }), unindexed('confidence', '', []));
  q('mistakes page, sort gap', () => mistakesPage(store, 'run-b', {}, { sort: 'gap' }), unindexed('gap', '', []));
  q('mistakes page, sort issue', () => mistakesPage(store, 'run-b', {}, { sort: 'issue' }), undefined);
  q('mistakes, true=contempt (rare), by confidence', () => mistakesPage(store, 'run-b', { trueClass: 7 }), unindexed('confidence', 'AND label = 7', []));
  q('mistakes, pred=disgust, split=val, by gap', () => mistakesPage(store, 'run-b', { predClass: 2, split: 'val' }, { sort: 'gap' }), unindexed('gap', "AND pred = 2 AND split = 'val'", []));
  q('mistakes, relabeled only', () => mistakesPage(store, 'run-b', { relabeled: true }), undefined);
  q('mistakes, not relabeled', () => mistakesPage(store, 'run-b', { relabeled: false }), undefined);
  const p1 = mistakesPage(store, 'run-b', {}, { sort: 'confidence' });
  q('mistakes page 2 (keyset)', () => mistakesPage(store, 'run-b', {}, { sort: 'confidence', after: p1.next ?? undefined }), undefined);
  q('mistakes page 50 (offset 9800)', () => mistakesPage(store, 'run-b', {}, { sort: 'confidence', offset: 9800 }), undefined);
  q('confusion matrix (run labels)', () => confusion(store, 'run-b', 'run'), undefined);
  q('confusion matrix (effective labels)', () => confusion(store, 'run-b', 'effective'), undefined);
  q('cell drill-down happiness->neutral', () => cellPage(store, 'run-b', 3, 6), undefined);
  q('cell drill-down diagonal happiness, by gap', () => cellPage(store, 'run-b', 3, 3, { sort: 'gap' }), undefined);
  q('cell drill-down happiness->neutral, effective', () => cellPage(store, 'run-b', 3, 6, { basis: 'effective' }), undefined);
  q('class counts (all splits)', () => classCounts(store, ds.id), undefined);
  q('sample history', () => sampleHistory(store, { dataset: ds.id, id: samples[997].id }), undefined);
  q('compare runs a vs c (changed page)', () => compareRuns(store, 'run-a', 'run-c'), undefined);
  console.log('query'.padEnd(48), 'median ms'.padStart(10), 'x scan'.padStart(8), 'un-indexed copy ms'.padStart(22));
  for (const [name, ms, base] of rows) {
    console.log(name.padEnd(48), ms.toFixed(2).padStart(10), (ms / baseline).toFixed(3).padStart(8), base === undefined ? '' : `${base.toFixed(1)} (${(base / ms).toFixed(0)}x slower)`.padStart(22));
  }
  const c = compareRuns(store, 'run-a', 'run-c');
  console.log(`\n(run-a accuracy ${(c.a.accuracy * 100).toFixed(1)}%, run-c ${(c.b.accuracy * 100).toFixed(1)}%, ${c.changed.toLocaleString()} predictions changed)`);
  store.close();
} finally {
  if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true }); else console.log(dir);
}
