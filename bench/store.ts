// `npm run bench:store`: builds an AffectNet-scale store from SYNTHETIC data (300k samples, 8 classes
// with AffectNet-like imbalance, 3 runs of synthetic evaluation records over all samples) in a temp
// dir, then times the diagnostics-panel queries. Times are medians; each is also printed as a ratio to
// a baseline measured in the same process: a scan of one run's records (SELECT count(*), sum(gap) over
// the run's 300k rows, what any un-indexed panel query must at least do), and for the mistake pages
// the same page query on an un-indexed copy of the run's records.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cellPage,
  classCounts,
  compareRuns,
  confusion,
  mistakesPage,
  runKey,
  sampleHistory,
} from '../src/engine/store/index.js';
import { buildSyntheticStore } from './syntheticStore.js';

const N = Number(process.env.BENCH_SAMPLES ?? 300_000);
const REPS = 7;

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
  const { store, dataset: dsId, samples } = buildSyntheticStore(join(dir, 'kefer.db'), { n: N, log: (l) => console.log(l) });

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
  q('class counts (all splits)', () => classCounts(store, dsId), undefined);
  q('sample history', () => sampleHistory(store, { dataset: dsId, id: samples[997].id }), undefined);
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
