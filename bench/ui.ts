// `npm run bench:ui`: is the diagnostics panel's virtualized grid smooth at 300,000 samples?
// Builds SYNTHETIC stores with the real store code (bench/syntheticStore.ts) at the baseline size and
// the target size, starts the real curation worker (dist/curationWorker.js) on each, and opens the
// real webview bundle (media/dist/diagnostics.js) in Debian's chromium with a host double at the
// message protocol (bench/ui/hostDouble.ts). Then it scrolls, jumps and filters (bench/ui/measure.ts)
// and prints every figure of the target as a ratio to the baseline measured in the same run: the
// machine is shared, so absolute numbers move with other people's load; the ratios much less.
//
// --old DIR: also measure another build of the project (a checkout of an earlier commit, built: `git archive
// BASE | tar -x -C DIR`, node_modules and build/ linked, `node esbuild.mjs`) on stores its own code builds
// (same samples, same image files), alternately with this tree at each size, and print this tree's figures
// as ratios to DIR's of the same size too: the old code path measured in the same run.
// Options: --sizes 3000,300000 (first = baseline), --seconds 10 (each continuous scroll), --speeds 1000,3000 (px/s;
// one grid row is 104 px, so 1000 px/s is about a screen a second),
// --run run-b (which synthetic run the panel shows), --store-dir DIR (keep and reuse the stores),
// --image-size 640 (the dataset's images: SYNTHETIC faces as 640 px JPEGs, about an AffectNet
// image's size; 48 = the demo's PNGs), --thumb-cache DIR (the grid thumbnail cache; default a fresh
// folder per run, so thumbnails are made while the grid is measured, as on a first visit).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CurationClient } from '../src/extension/curation/client.js';
import { launchBrowser } from '../test/e2e/codeServer.js';
import { cpuLine } from './cpuInfo.js';
import { buildSyntheticStore, syntheticPath } from './syntheticStore.js';
import { measurePanel, type ExtraTrip, type Figures, type ScrollFigures, type Timed } from './ui/measure.js';
import { CHROMIUM, ensureBuilt, openPanel, type HostDoubleClass } from './ui/panel.js';
import { imagePool, linkImages, REPO, startUiServer } from './ui/server.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '3000,300000' },
    seconds: { type: 'string', default: '10' },
    speeds: { type: 'string', default: '1000,3000' },
    run: { type: 'string', default: 'run-b' },
    // keeps the stores there and reuses them on the next run (a 300k store takes ~40 s to build)
    'store-dir': { type: 'string' },
    'image-size': { type: 'string', default: '640' },
    'thumb-cache': { type: 'string' },
    old: { type: 'string' },
  },
});
const OLD = args.old ? path.resolve(args.old) : undefined;

/** Builds a synthetic store with DIR's own code (its schema, its import), in a child process. */
function buildWithOld(db: string, n: number, root: string): void {
  const script = `require('./bench/syntheticStore.ts').buildSyntheticStore(${JSON.stringify(db)}, { n: ${n}, root: ${JSON.stringify(root)} }).store.close()`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--eval', script], { cwd: OLD, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`--old ${OLD}: building the ${n} store failed (${r.status})`);
}
const sizes = args.sizes.split(',').map(Number);
const scroll = { seconds: Number(args.seconds), speeds: args.speeds.split(',').map(Number) };
const load = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIP: chromium not found at ${CHROMIUM} (apt-get install chromium; CHROMIUM_PATH overrides)`);
  process.exit(0);
}

/** Figures per size for this tree, and (with --old) for the other build, same order. */
const oldResults: Figures[] = [];

async function measureAll(): Promise<Figures[]> {
  ensureBuilt();
  const imageSize = Number(args['image-size']);
  console.log(`cpu: ${cpuLine()}`);
  console.log(`bench:ui  load average ${load()}  scroll ${scroll.seconds} s at ${scroll.speeds.join(' and ')} px/s  sizes ${sizes.map((n) => n.toLocaleString()).join(', ')}  images ${imageSize} px`);

  const dir = args['store-dir'] ? path.resolve(args['store-dir']) : fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-bench-ui-'));
  const results: Figures[] = [];
  try {
    // stores first, so the browser part (the part that competes for the screen) runs in one stretch
    const dbs = sizes.map((n) => {
      const db = path.join(dir, `n${n}`, 'kefer.db');
      if (fs.existsSync(db)) return db;
      fs.mkdirSync(path.dirname(db), { recursive: true });
      const t0 = performance.now();
      buildSyntheticStore(db, { n }).store.close();
      console.log(`store ${n.toLocaleString()} samples (3 runs): built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return db;
    });
    // the other build's stores: its own code, the same samples and image files (the root is shared)
    const oldDbs = OLD ? sizes.map((n) => {
      const db = path.join(dir, `n${n}-old`, 'kefer.db');
      if (fs.existsSync(db)) return db;
      fs.mkdirSync(path.dirname(db), { recursive: true });
      const t0 = performance.now();
      buildWithOld(db, n, path.join(dir, `n${n}`, 'affectnet-synthetic'));
      console.log(`store ${n.toLocaleString()} samples (3 runs) by ${OLD}: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return db;
    }) : [];
    const OldHost = OLD ? ((await import(path.join(OLD, 'bench', 'ui', 'hostDouble.ts'))) as { HostDouble: HostDoubleClass }).HostDouble : undefined;
    // every sample's image file: a symlink into a pool of 64 generated faces
    const pool = await imagePool(path.join(dir, 'pool'), 64, imageSize);
    const roots = dbs.map((db, i) => {
      const root = path.join(path.dirname(db), 'affectnet-synthetic');
      const t0 = performance.now();
      linkImages(root, Array.from({ length: sizes[i] }, (_, k) => syntheticPath(k, sizes[i])), pool);
      if (performance.now() - t0 > 1000) console.log(`image files for ${sizes[i].toLocaleString()} samples: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return root;
    });
    const poolBytes = pool.reduce((a, f) => a + fs.statSync(f).size, 0);
    console.log(`images: ${pool.length} SYNTHETIC ${imageSize} px faces, ${(poolBytes / pool.length / 1024).toFixed(0)} KB each on average`);
    const thumbDir = args['thumb-cache'] ? path.resolve(args['thumb-cache']) : fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-bench-thumbs-'));
    const server = await startUiServer([...roots, thumbDir]);
    const oldServer = OLD ? await startUiServer([...roots, thumbDir], 'diagnostics', path.join(OLD, 'media', 'dist')) : undefined;
    const browser = await launchBrowser();
    try {
      // this tree's new orders, after the shared round trips (the other build has no such menu entry)
      const newTrips: ExtraTrip[] = [['sort by gap vs its class', 'select', '#sort', 'gapz'], ['sort by issue score again', 'select', '#sort', 'issue']];
      const measureOne = async (db: string, repo: string, srv: typeof server, Host: HostDoubleClass | undefined, label: string): Promise<Figures> => {
        const worker = new CurationClient(process.execPath, path.join(repo, 'dist', 'curationWorker.js'), db, (l) => console.error(l), thumbDir);
        try {
          const t1 = Date.now();
          const panel = await openPanel(browser.ctx, srv, worker, path.join(path.dirname(db), 'runs', args.run), Host);
          const loadMs = Date.now() - t1;
          const f = await measurePanel(panel, scroll, loadMs, Host ? [] : newTrips);
          if (panel.host.ignored) console.log(`  (host double ignored ${panel.host.ignored} messages at ${label})`);
          console.log(`  ${label}: ${panel.host.thumbsAsked.toLocaleString()} thumbnails asked for, ${srv.served().toLocaleString()} image requests served so far${panel.host.thumbErrors.length ? `, errors: ${panel.host.thumbErrors.slice(0, 3).join('; ')}` : ''}`);
          await panel.close();
          return f;
        } finally {
          worker.dispose();
        }
      };
      for (const [i, db] of dbs.entries()) {
        // the other build first at each size, then this tree: both on the same thumbnail cache state
        if (OLD && oldServer) oldResults.push(await measureOne(oldDbs[i], OLD, oldServer, OldHost, `${sizes[i].toLocaleString()} (old)`));
        results.push(await measureOne(db, REPO, server, undefined, sizes[i].toLocaleString()));
      }
    } finally {
      await browser.close();
      await server.close();
      await oldServer?.close();
      if (!args['thumb-cache']) fs.rmSync(thumbDir, { recursive: true, force: true });
    }
  } finally {
    if (!args['store-dir']) fs.rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

function report(results: Figures[]): void {
  const [base, ...rest] = results;
  const bn = sizes[0].toLocaleString();
  const ratio = (v: number, b: number): string => (b > 0 && Number.isFinite(v) ? `${(v / b).toFixed(2)}x` : '-');
  function line(label: string, f: (r: Figures) => number, unit: string, digits = 1): void {
    const b = f(base);
    for (const [i, r] of rest.entries()) {
      console.log(`${label} ${sizes[i + 1].toLocaleString()}: ${f(r).toFixed(digits)}${unit} = ${ratio(f(r), b)} ${bn} baseline (${b.toFixed(digits)}${unit})`);
    }
  }
  const med = (xs: Timed[], k: 'dataMs' | 'paintMs'): number => {
    const v = xs.map((x) => x[k] ?? Infinity).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const worst = (xs: Timed[], k: 'dataMs' | 'paintMs'): number => Math.max(...xs.map((x) => x[k] ?? Infinity));

  console.log(`\nlist: mistakes of ${args.run}: ${results.map((r, i) => `${r.total.toLocaleString()} at ${sizes[i].toLocaleString()}`).join(', ')}`);
  for (const [k, speed] of scroll.speeds.entries()) {
    const sc = (r: Figures): ScrollFigures => r.scrolls[k];
    console.log(`\nscrolling at ${speed} px/s (${results.map((r) => `${Math.round(sc(r).scrolledPx).toLocaleString()} px`).join(' / ')})`);
    line('p50 frame', (r) => sc(r).frames.p50, ' ms');
    line('p95 frame', (r) => sc(r).frames.p95, ' ms');
    line('p99 frame', (r) => sc(r).frames.p99, ' ms');
    line('max frame', (r) => sc(r).frames.max, ' ms');
    line('frames over 33 ms', (r) => 100 * sc(r).frames.over33, ' %', 2);
    line('frame rate', (r) => sc(r).frames.fps, ' fps');
    line('long tasks', (r) => sc(r).longTasks.n, '', 0);
    line('long-task time', (r) => sc(r).longTasks.totalMs, ' ms', 0);
    line('viewport cells without data', (r) => 100 * sc(r).blank, ' %', 2);
    line('viewport cells without thumbnail', (r) => 100 * sc(r).unloaded, ' %', 2);
    line('thumbnails fetched', (r) => sc(r).images.n, '', 0);
    line('thumbnail fetch, p50', (r) => sc(r).images.p50, ' ms');
    line('thumbnail fetch, p95', (r) => sc(r).images.p95, ' ms');
  }
  console.log('\njumps (event to the new rows\' thumbnails decoded)');
  line('jump, median', (r) => med(r.jumps, 'paintMs'), ' ms', 0);
  line('jump, worst', (r) => worst(r.jumps, 'paintMs'), ' ms', 0);
  line('jump rows rendered, median', (r) => med(r.jumps, 'dataMs'), ' ms', 0);
  for (const [j, t] of base.jumps.entries()) line(`  ${t.name}`, (r) => r.jumps[j].paintMs ?? Infinity, ' ms', 0);
  console.log('\nround trips (action to the grid showing the new rows; thumbnails decoded)');
  for (const [j, t] of base.roundTrips.entries()) {
    line(`  ${t.name}, rows`, (r) => r.roundTrips[j].dataMs ?? Infinity, ' ms', 0);
    line(`  ${t.name}, thumbnails`, (r) => r.roundTrips[j].paintMs ?? Infinity, ' ms', 0);
  }
  line('curation page query (worker round trip), p50', (r) => r.pageQuery.p50, ' ms');
  line('curation page query (worker round trip), p95', (r) => r.pageQuery.p95, ' ms');
  console.log('\nmemory and DOM');
  line('grid elements, max', (r) => r.gridElementsMax, '', 0);
  line('grid nodes (incl. text, comments), max', (r) => r.gridNodesMax, '', 0);
  line('grid cells, max', (r) => r.gridCellsMax, '', 0);
  line('DOM nodes, live tree incl. shadow roots', (r) => r.liveNodes, '', 0);
  line('DOM nodes, CDP count after GC (incl. detached)', (r) => r.domNodes, '', 0);
  line('JS heap after load', (r) => r.heapLoadMb, ' MB');
  line('JS heap after scrolling + jumps + round trips', (r) => r.heapAfterMb, ' MB');
  line('panel load to first screen of thumbnails', (r) => r.loadMs, ' ms', 0);
  if (oldResults.length) reportAgainstOld(results);
  console.log(`\nload average at the end ${load()}`);
}

/** This tree against the other build (--old) at the same size, measured in this run. */
function reportAgainstOld(results: Figures[]): void {
  console.log(`\nthis tree against ${OLD} (the old code path), same size, same run: new = ratio x old (old)`);
  const ratio = (v: number, b: number): string => (b > 0 && Number.isFinite(v) ? `${(v / b).toFixed(2)}x` : '-');
  const med = (xs: Timed[], k: 'dataMs' | 'paintMs'): number => {
    const v = xs.map((x) => x[k] ?? Infinity).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  for (const [i, r] of results.entries()) {
    const o = oldResults[i];
    const n = sizes[i].toLocaleString();
    const line = (label: string, f: (x: Figures) => number, unit: string, digits = 0): void =>
      console.log(`${label} ${n}: ${f(r).toFixed(digits)}${unit} = ${ratio(f(r), f(o))} old (${f(o).toFixed(digits)}${unit})`);
    line('panel load to first screen of thumbnails', (x) => x.loadMs, ' ms');
    for (const [j, t] of o.roundTrips.entries()) line(`  ${t.name}, rows`, (x) => x.roundTrips[j].dataMs ?? Infinity, ' ms');
    // this tree's own orders (the old build has none to compare with)
    for (const t of r.roundTrips.slice(o.roundTrips.length)) console.log(`  ${t.name}, rows ${n}: ${(t.dataMs ?? Infinity).toFixed(0)} ms (new only)`);
    line('curation page query, p50', (x) => x.pageQuery.p50, ' ms', 1);
    line('curation page query, p95', (x) => x.pageQuery.p95, ' ms', 1);
    line('jump, median (rows rendered)', (x) => med(x.jumps, 'dataMs'), ' ms');
    for (const [k] of scroll.speeds.entries()) line(`p95 frame at ${scroll.speeds[k]} px/s`, (x) => x.scrolls[k].frames.p95, ' ms', 1);
    line('JS heap after load', (x) => x.heapLoadMb, ' MB', 1);
  }
}

measureAll().then(report, (err: unknown) => {
  console.error(err);
  process.exit(1);
});
