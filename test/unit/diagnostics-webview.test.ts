// The diagnostics panel's panes in the real webview bundle (Debian's chromium), wired to the real
// DiagnosticsHandler and curation service on a real store (FERPlus-shaped: every sample has votes, a
// validation split registered from the records): vote badges and the tint, each order's score per cell,
// badges that never cut the prediction, the annotators-disagree filter, the gap against its class with
// its histogram and definitions, a row-normalised matrix, the inspector's resizable pane, a lasso and a
// click in the scatter filtering the grid, UMAP beside PCA, the cross-validation header's warning, and a
// side view without a run that asks for nothing when a label changes elsewhere.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { classList } from '../../src/engine/classes.js';
import { annotatorsDisagree } from '../../src/engine/data/ferplusVotes.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { EmbeddingSampler } from '../../src/engine/eval/embeddingSample.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { countMistakes, importRecords, openStore, registerRun, upsertDataset } from '../../src/engine/store/index.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { DiagnosticsHandler } from '../../src/extension/panels/diagnosticsHandler.js';
import type { HostMessage, RunSummary, ViewKind } from '../../src/webviews/protocol.js';
import { inProcess } from '../../bench/ui/hostDouble.js';
import { CHROMIUM, ensureBuilt } from '../../bench/ui/panel.js';
import { PROBE } from '../../bench/ui/probe.js';
import { imagePool, linkImages, startUiServer, type UiServer } from '../../bench/ui/server.js';
import { launchBrowser } from '../e2e/codeServer.js';
import { fakeRecords, prng, tempDir } from '../engine/store-helpers.js';
import { storeRoots } from './roots-helper.js';

const skip = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium; CHROMIUM_PATH overrides)`;
const N = 90;
const classes = classList(8);
let dir: string;
let server: UiServer;
let svc: CurationService;
let runDir: string;
let cvDir: string;
let recs: SampleRecord[];
let ds: Dataset;

/** Votes of sample i: the label gets 10 - k, class 3 (happiness) k, k = i % 5. */
function votesOf(label: number, i: number): number[] {
  const v = new Array<number>(10).fill(0);
  const k = i % 5;
  v[label] += 10 - k;
  v[3] += k;
  return v;
}

before(async () => {
  if (skip) return;
  ensureBuilt();
  dir = tempDir('kefer-diag-ui-');
  const pool = await imagePool(path.join(dir, 'pool'), 4);
  const root = path.join(dir, 'ferplus');
  const samples = Array.from({ length: N }, (_, i) => {
    const label = i % 8 === 3 ? 6 : i % 8;
    const split = i % 2 ? 'valid' : 'train';
    return { id: `${split}/s${String(i).padStart(2, '0')}`, path: `img/s${i}.png`, label, split, votes: votesOf(label, i) };
  });
  ds = { format: 'ferplus', root, classes, samples };
  linkImages(root, samples.map((s) => s.path), pool);
  const store = openStore(path.join(dir, 'kefer.db'));
  // as `kefer train --store` does: the training split registered with the dataset, the validation split from its records
  const row = upsertDataset(store, { ...ds, samples: samples.filter((s) => s.split === 'train') });
  registerRun(store, { id: 'run', dataset: row.id });
  // most predictions happiness (the class every sample got some votes for): a weak model
  recs = fakeRecords(ds, 5, 0.4).map((r, i) => ({ ...r, pred: i % 3 === 0 ? r.label : 3, votes: samples[i].votes }));
  importRecords(store, 'run', recs);
  registerRun(store, { id: 'cv', dataset: row.id, metrics: { crossVal: { k: 3, mode: 'hog' } } });
  importRecords(store, 'cv', recs.map((r) => ({ ...r, pred: 6 })));
  store.close();
  runDir = path.join(dir, 'runs', 'run');
  cvDir = path.join(dir, 'runs', 'cv');
  fs.mkdirSync(runDir, { recursive: true });
  // the trainer's files: a 2-D PCA of every record, a seeded embedding sample for UMAP
  const rand = prng(2);
  const d = 16;
  const emb = new Float32Array(N * d).map((_, k) => (Math.floor(k / d) % 3 === k % 3 ? 1 : 0) + rand() * 0.2);
  fs.writeFileSync(path.join(runDir, 'scatter.json'), JSON.stringify(recs.map((r, i) => ({ id: r.id, x: emb[i * d] + rand() * 0.1, y: emb[i * d + 1] + rand() * 0.1 }))));
  const sampler = new EmbeddingSampler(d);
  sampler.add(recs.map((r) => r.id), emb);
  await sampler.write(runDir);
  svc = new CurationService(path.join(dir, 'kefer.db'), path.join(dir, 'thumbs'));
  server = await startUiServer([dir]);
});

after(async () => {
  svc?.close();
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Opened {
  page: Page;
  /** Closes the page and, for a side view, its own server. */
  close: () => Promise<void>;
  handler: DiagnosticsHandler;
  logs: string[];
  post: (m: HostMessage) => void;
}

async function open(b: Awaited<ReturnType<typeof launchBrowser>>, view: ViewKind, dirOf: string | undefined, runs: RunSummary[]): Promise<Opened> {
  const srv = view === 'diagnostics' ? server : await startUiServer([dir], view);
  const page = await b.ctx.newPage();
  await page.setViewportSize(view === 'diagnostics' ? { width: 1500, height: 950 } : { width: 380, height: 700 });
  const post = (m: HostMessage): void => {
    if (!page.isClosed()) void page.evaluate((msg) => window.postMessage(msg, '*'), m).catch(() => undefined);
  };
  const logs: string[] = [];
  const none = async () => undefined;
  const handler = new DiagnosticsHandler(view, {
    call: inProcess(svc).call, roots: storeRoots(svc, path.join(dir, 'thumbs')), runs: () => runs, toUri: srv.file, post, broadcast: post,
    retrain: none, exportLabels: none, openFull: () => undefined, cancelTraining: () => undefined, log: (l) => void logs.push(l), onCspViolation: () => undefined,
  }, dirOf);
  await page.exposeBinding('keferHostPost', (_source, m: unknown) => void handler.handle(m));
  await page.addInitScript({ content: PROBE });
  await page.goto(srv.url);
  return { page, handler, logs, post, close: async () => {
    await page.close();
    if (srv !== server) await srv.close();
  } };
}

const summary = (dirOf: string, name: string): RunSummary => ({ runDir: dirOf, name, dataset: 'ferplus', date: '', backbone: 'compact', accuracy: null, status: 'done', classes });

test('the panel\'s panes on a FERPlus-shaped run: votes, scores, the gap against its class, the matrix, the lasso, UMAP', { skip, timeout: 240_000 }, async () => {
  const b = await launchBrowser();
  try {
    const runs = [summary(runDir, 'run'), summary(cvDir, 'cv')];
    const { page, handler, logs } = await open(b, 'diagnostics', runDir, runs);
    await page.locator('kefer-grid .cell[data-index="0"]').waitFor({ timeout: 60_000 });
    const mistakes = recs.filter((r) => r.pred !== r.label);
    await page.locator('#count', { hasText: `${mistakes.length} samples` }).waitFor({ timeout: 30_000 });
    await page.locator('#run-acc', { hasText: /accuracy \d+\.\d% · UAR/ }).waitFor({ timeout: 30_000 });

    // every cell: the label's votes ("8/10"), the issue score; a validation sample too (votes came with its records)
    const cells = page.locator('kefer-grid .cell[data-id]');
    const n = await cells.count();
    assert.ok(n > 10);
    let tinted = 0;
    for (let i = 0; i < n; i++) {
      const c = cells.nth(i);
      const id = (await c.getAttribute('data-id'))!;
      const r = recs.find((x) => x.id === id)!;
      const v = r.votes!;
      assert.equal(await c.locator('.votes').textContent(), `${v[r.label]}/10`, id);
      assert.match((await c.locator('.score').textContent()) ?? '', /^0\.\d\d$/);
      const tint = (await c.getAttribute('class'))!.includes('predvotes');
      assert.equal(tint, v[r.pred] >= 3, `${id}: tint iff the prediction got >= 3 of 10 votes`);
      if (tint) tinted++;
      // the predicted class is never cut: its span is as wide as its text
      const cut = await c.locator('.badge .to').evaluate((e) => e.scrollWidth > e.clientWidth + 0.5);
      assert.equal(cut, false, `${id}: the prediction is shown whole`);
      assert.equal(await c.locator('.badge .to').textContent(), classes[r.pred]);
    }
    assert.ok(tinted > 0 && tinted < n, `${tinted} of ${n} cells tinted`);
    assert.ok(await page.locator('kefer-grid .cell[data-split="valid"] .votes').count() > 0, 'validation samples show their votes');

    // the order by votes for the prediction: each cell's score is its count for the prediction, most first
    await page.locator('#sort').selectOption('votes');
    await page.locator('kefer-grid .cell[data-index="0"] .score', { hasText: /^\d+\/10$/ }).waitFor({ timeout: 30_000 });
    const first = Number(((await page.locator('kefer-grid .cell[data-index="0"] .score').textContent()) ?? '').split('/')[0]);
    assert.equal(first, Math.max(...mistakes.map((r) => r.votes![r.pred])));

    // annotators disagree: the store's count (label outvoted or another emotion >= 30%)
    await page.locator('#f-disagree').check();
    const want = mistakes.filter((r) => annotatorsDisagree(r.votes!, r.label)).length;
    await page.locator('#count', { hasText: `${want} samples` }).waitFor({ timeout: 30_000 });
    const store = openStore(path.join(dir, 'kefer.db'));
    assert.equal(countMistakes(store, 'run', { disagree: true }), want);
    store.close();
    await page.locator('#f-disagree').uncheck();
    await page.locator('#count', { hasText: `${mistakes.length} samples` }).waitFor({ timeout: 30_000 });

    // the gap against its class: percentile, z, histogram with the sample marked, definitions on hover; why-lines name it
    await page.locator('#sort').selectOption('gapz');
    await page.locator('kefer-grid .cell[data-index="0"] .score', { hasText: /^z [−+]?\d/ }).waitFor({ timeout: 30_000 });
    await page.locator('kefer-grid .cell[data-index="0"]').click();
    await page.locator('#sig-gap-pct', { hasText: /^p\d+ of \w+$/ }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#sig-gap svg.hist line.mark').count(), 1, 'the sample is marked on its class histogram');
    assert.ok(await page.locator('#sig-gap svg.hist rect.bar').count() > 5);
    assert.match((await page.locator('#sig-gap .def').first().getAttribute('title')) ?? '', /^gap = simText − simNeutral/);
    assert.match((await page.locator('#sims .def').first().getAttribute('title')) ?? '', /^simText = cos\(v, t_y\)/);
    assert.match((await page.locator('#sig-gap-pct').getAttribute('title')) ?? '', /robust z .*−2\.5/);
    await page.locator('#why-sort li', { hasText: /^gap -?\d\.\d{3}: p\d+ of \w+ \(\w+, \d+ samples, median/ }).waitFor({ timeout: 30_000 });
    // classes of under 30 records are marked small
    await page.locator('#sig-gap-small', { hasText: 'small class' }).waitFor({ timeout: 30_000 });

    // the matrix: row-normalised percentages, counts in data and names, full class names
    await page.locator('#sort').selectOption('issue');
    const td = page.locator('#confusion td[data-true="0"][data-pred="3"]');
    await td.waitFor({ timeout: 30_000 });
    const c03 = Number(await td.getAttribute('data-count'));
    const row0 = recs.filter((r) => r.label === 0).length;
    assert.match((await td.textContent()) ?? '', new RegExp(`^${Math.round((100 * c03) / row0)}%`));
    assert.equal(await td.getAttribute('aria-label'), `true surprise, predicted happiness: ${c03} samples (${Math.round((100 * c03) / row0)}% of surprise)`);
    assert.equal(await page.locator('#confusion th.col').nth(7).textContent(), 'contempt');

    // the inspector's pane resizes: drag its separator left by 100 px
    const pane = page.locator('#inspector-pane');
    const w0 = (await pane.boundingBox())!.width;
    const sep = (await page.locator('kefer-splitter').first().boundingBox())!;
    await page.mouse.move(sep.x + 2, sep.y + 200);
    await page.mouse.down();
    await page.mouse.move(sep.x - 98, sep.y + 200, { steps: 5 });
    await page.mouse.up();
    const w1 = (await pane.boundingBox())!.width;
    assert.ok(Math.abs(w1 - (w0 + 100)) <= 2, `inspector ${w0} -> ${w1} px`);

    // a lasso over the whole scatter lists every point's sample, right and wrong; a click shows one
    const plot = (await page.locator('kefer-scatter .plot').boundingBox())!;
    await page.mouse.move(plot.x + 2, plot.y + 2);
    await page.mouse.down();
    for (const [x, y] of [[plot.width - 2, 2], [plot.width - 2, plot.height - 2], [2, plot.height - 2], [2, 3]]) await page.mouse.move(plot.x + x, plot.y + y, { steps: 4 });
    await page.mouse.up();
    await page.locator('#selection-filter', { hasText: `${N} samples` }).waitFor({ timeout: 30_000 });
    await page.locator('#count', { hasText: `${N} samples` }).waitFor({ timeout: 30_000 });
    assert.ok(await page.locator('kefer-grid .cell.right').count() > 0, 'right predictions listed too, marked as right');
    await page.locator('#clear-selection').click();
    await page.locator('#count', { hasText: `${mistakes.length} samples` }).waitFor({ timeout: 30_000 });
    // UMAP beside PCA: computed by the curation worker's thread, then drawn
    await page.locator('#scatter-method').selectOption('umap');
    await page.locator('#scatter-source', { hasText: /^UMAP of this run’s embeddings: a seeded sample of 90 of 90 records/ }).waitFor({ timeout: 120_000 });
    assert.equal(await page.locator('#scatter-busy').count(), 0);
    // a click on a drawn point: the nearest pixel with a point's colour
    const hit = await page.locator('kefer-scatter canvas').evaluate((c: HTMLCanvasElement) => {
      const ctx = c.getContext('2d')!;
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) return [((i / 4) % c.width) / (window.devicePixelRatio || 1), Math.floor(i / 4 / c.width) / (window.devicePixelRatio || 1)];
      return null;
    });
    assert.ok(hit, 'UMAP points drawn');
    const canvasBox = (await page.locator('kefer-scatter canvas').boundingBox())!;
    const before = await page.locator('#inspector-id').textContent();
    await page.mouse.click(canvasBox.x + hit[0] + 1, canvasBox.y + hit[1] + 1);
    await page.waitForFunction((b0) => {
      const app = document.querySelector('kefer-diagnostics')!.shadowRoot!;
      const insp = app.querySelector('kefer-inspector')!.shadowRoot!;
      return insp.querySelector('#inspector-id')?.textContent !== b0;
    }, before, { timeout: 30_000 });
    assert.equal(handler.refused, 0);
    assert.deepEqual(logs, []);
    await page.close();

    // a cross-validation run's header: out-of-fold accuracy and the weak-model warning
    const cv = await open(b, 'diagnostics', cvDir, runs);
    await cv.page.locator('#run-acc', { hasText: /3-fold cross-validation \(hog\): out-of-fold accuracy \d+\.\d%/ }).waitFor({ timeout: 60_000 });
    await cv.page.locator('#weak-warning', { hasText: /too weak for its flags to mean much/ }).waitFor({ timeout: 30_000 });
    await cv.page.close();

    // the side view before any run is listed: a label change elsewhere asks the host for nothing
    const side = await open(b, 'diagnosticsView', undefined, []);
    await side.page.locator('#run-title', { hasText: 'No run yet' }).waitFor({ timeout: 60_000 });
    side.post({ type: 'labelChanged', ids: ['x'] });
    await side.page.waitForTimeout(1500);
    assert.equal(side.handler.refused, 0, side.logs.join('\n'));
    assert.equal(await side.page.locator('#status .error').count(), 0);
    await side.close();
  } finally {
    await b.close();
  }
});
