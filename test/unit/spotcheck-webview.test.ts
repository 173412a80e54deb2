// The spot-check in the real diagnostics webview bundle (Debian's chromium), wired to the real
// DiagnosticsHandler and curation service on a real store: the spot-check order lists every sample,
// C confirms and a digit relabels with auto-advance, the panel counts the reviews calibration still
// needs, then shows the per-class estimated issue rates, and the calibrated order's inspector names
// the class's rate. (bench/ui's host double answers only the grid's read path: the real handler here.)
import { after, before, test } from 'node:test';
import { storeRoots } from './roots-helper.js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classList } from '../../src/engine/classes.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { MIN_REVIEWS } from '../../src/engine/issues/index.js';
import { labelLog, openStore } from '../../src/engine/store/index.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { DiagnosticsHandler } from '../../src/extension/panels/diagnosticsHandler.js';
import { writeMeta } from '../../src/extension/runlist/runFiles.js';
import type { HostMessage, RunSummary } from '../../src/webviews/protocol.js';
import { inProcess } from '../../bench/ui/hostDouble.js';
import { CHROMIUM, ensureBuilt } from '../../bench/ui/panel.js';
import { PROBE } from '../../bench/ui/probe.js';
import { imagePool, linkImages, startUiServer, type UiServer } from '../../bench/ui/server.js';
import { launchBrowser } from '../e2e/codeServer.js';
import { fakeRecords, tempDir, withRun } from '../engine/store-helpers.js';

const skip = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium; CHROMIUM_PATH overrides)`;
const N = 70;
let dir: string;
let server: UiServer;
let svc: CurationService;
let runDir: string;

before(async () => {
  if (skip) return;
  ensureBuilt();
  dir = tempDir('kefer-spotcheck-ui-');
  const pool = await imagePool(path.join(dir, 'pool'), 4);
  const root = path.join(dir, 'data');
  const samples = Array.from({ length: N }, (_, i) => ({ id: `s${String(i).padStart(2, '0')}`, path: `img/s${i}.png`, label: i % 7, split: 'train' }));
  const ds: Dataset = { format: 'folder', root, classes: classList(7), samples };
  linkImages(root, samples.map((s) => s.path), pool);
  const store = openStore(path.join(dir, 'kefer.db'));
  withRun(store, ds, fakeRecords(ds, 3, 0.8), 'run');
  store.close();
  runDir = path.join(dir, 'runs', 'run');
  writeMeta(runDir, { dataSpec: `folder:${root}`, datasetRoot: root, datasetName: 'folder', startedAt: '', backbone: 'resnet18', status: 'done', accuracy: null, classes: ds.classes });
  svc = new CurationService(path.join(dir, 'kefer.db'), path.join(dir, 'thumbs'));
  server = await startUiServer([dir]);
});

after(async () => {
  svc?.close();
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('spot-check in the webview: C confirms, digits relabel, each decision counted until the panel shows the calibrated rates', { skip, timeout: 180_000 }, async () => {
  const b = await launchBrowser();
  try {
    const page = await b.ctx.newPage();
    const post = (m: HostMessage): void => {
      if (!page.isClosed()) void page.evaluate((msg) => window.postMessage(msg, '*'), m).catch(() => undefined);
    };
    const { call } = inProcess(svc);
    const runs: RunSummary[] = [{ runDir, name: 'run', dataset: 'folder', date: '', backbone: 'resnet18', accuracy: null, status: 'done', classes: classList(7) }];
    const none = async () => undefined;
    const logs: string[] = [];
    const handler = new DiagnosticsHandler('diagnostics', {
      call, roots: storeRoots(svc, path.join(dir, 'thumbs')), runs: () => runs, toUri: server.file, post, broadcast: post,
      retrain: none, exportLabels: none, openFull: () => undefined, cancelTraining: () => undefined, log: (l) => void logs.push(l), onCspViolation: () => undefined,
    }, runDir);
    await page.exposeBinding('keferHostPost', (_source, m: unknown) => void handler.handle(m));
    await page.addInitScript({ content: PROBE });
    await page.goto(server.url);
    const app = page.locator('kefer-diagnostics');
    await page.locator('#count', { hasText: /\d+ samples/ }).waitFor({ timeout: 60_000 });

    await page.locator('#sort').selectOption('spotcheck');
    await page.locator('#count', { hasText: `${N} samples` }).waitFor({ timeout: 30_000 });
    await page.locator('#calibration', { hasText: `needs ${MIN_REVIEWS} more spot-check reviews (have 0: 0 issues, 0 confirmed)` }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#f-pred').isDisabled(), true);
    await page.locator('kefer-grid .cell[data-index="0"]').click();

    // decide the first 24 in order: every 4th relabelled to the next class, the rest confirmed
    const decided: string[] = [];
    for (let i = 0; i < 24; i++) {
      const cell = page.locator(`kefer-grid .cell[data-index="${i}"]`);
      const id = (await cell.getAttribute('data-id'))!;
      await page.locator('#inspector-id', { hasText: id }).waitFor({ timeout: 30_000 });
      decided.push(id);
      if (i % 4 === 0) await page.keyboard.press(String(((Number(await cell.getAttribute('data-label')) + 1) % 7) + 1));
      else await page.keyboard.press('c');
      const issues = Math.floor(i / 4) + 1;
      const text = i + 1 < MIN_REVIEWS
        ? `needs ${MIN_REVIEWS - i - 1} more spot-check review${MIN_REVIEWS - i - 1 === 1 ? '' : 's'} (have ${i + 1}: ${issues} issue${issues === 1 ? '' : 's'}, ${i + 1 - issues} confirmed)`
        : `calibrated on ${i + 1} spot-check reviews (${issues} issues)`;
      await page.locator('#calibration', { hasText: text }).waitFor({ timeout: 30_000 });
    }
    await page.locator(`kefer-grid .cell[data-id="${decided[1]}"] .tag`, { hasText: '✓' }).waitFor({ timeout: 30_000 });
    await page.locator(`kefer-grid .cell[data-id="${decided[0]}"] .tag`, { hasText: 'relabeled' }).waitFor({ timeout: 30_000 });
    // the inspector of a confirmed sample says so, and its audit log marks the spot-check decision
    await page.locator(`kefer-grid .cell[data-id="${decided[1]}"]`).click();
    await page.locator('#inspector-confirmed').waitFor({ timeout: 30_000 });
    await page.locator('#history li', { hasText: /confirmed the label .* spot-check/ }).waitFor({ timeout: 30_000 });
    await page.locator('#mistakes-label', { hasText: 'every sample, random order' }).waitFor({ timeout: 30_000 });
    const rates = (await page.locator('#calibration-rates').textContent()) ?? '';
    for (const c of classList(7)) assert.match(rates, new RegExp(`${c} \\d+%`), rates);
    const store = openStore(path.join(dir, 'kefer.db'));
    const log = labelLog(store);
    store.close();
    assert.deepEqual(log.map((c) => c.sampleId).reverse(), decided);
    assert.ok(log.every((c) => c.spotCheck && c.state === 'applied'));
    assert.deepEqual(log.map((c) => c.kind).reverse(), decided.map((_, i) => (i % 4 === 0 ? 'label' : 'confirm')));

    // the calibrated order lists the mistakes by the calibrated score; its inspector names the class's estimated rate
    await page.locator('#sort').selectOption('calibrated');
    await page.locator('#mistakes-label', { hasText: 'misclassified samples' }).waitFor({ timeout: 30_000 });
    await page.locator('kefer-grid .cell[data-index="0"]').click();
    await page.locator('#why-sort li', { hasText: /^calibrated on your spot-check: an estimated \d+% of \w+ labels are wrong; this one \d+% \(/ }).waitFor({ timeout: 30_000 });
    // back in the spot-check order, the review resumes at the first sample not decided
    await page.locator('#sort').selectOption('spotcheck');
    await page.locator('#status', { hasText: 'Spot-check: resuming at sample 25' }).waitFor({ timeout: 30_000 });
    const next = (await page.locator('kefer-grid .cell[data-index="24"]').getAttribute('data-id'))!;
    await page.locator('#inspector-id', { hasText: next }).waitFor({ timeout: 30_000 });
    assert.equal(await app.count(), 1);
    assert.equal(handler.refused, 0);
    assert.deepEqual(logs, []);
  } finally {
    await b.close();
  }
});
