// The "Duplicates & Leaks" view in the real diagnostics webview bundle (Debian's chromium), wired to the
// real DiagnosticsHandler and curation service on a real store that `kefer data dups` (the real CLI)
// filled from the sample dataset with planted copies (dups-helpers.ts): clusters as thumbnail rows with
// label, split and similarity, the tier's threshold, filters by tier / leak kind / conflicting labels,
// keyset pages, and the keyboard: X excludes a cluster's leaked copies, a digit relabels it, K keeps one,
// U undoes each as one action, none of these keys reaching the grid. Requests naming a dataset the
// store did not register, or malformed, are refused, answered with an error and counted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { loadDataset } from '../../src/engine/data/index.js';
import { effectiveLabels, findDataset, labelLog, openStore } from '../../src/engine/store/index.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { DiagnosticsHandler } from '../../src/extension/panels/diagnosticsHandler.js';
import { writeMeta } from '../../src/extension/runlist/runFiles.js';
import { DUP_PAGE_SIZE, type HostMessage, type RunSummary } from '../../src/webviews/protocol.js';
import { inProcess } from '../../bench/ui/hostDouble.js';
import { CHROMIUM, ensureBuilt } from '../../bench/ui/panel.js';
import { PROBE } from '../../bench/ui/probe.js';
import { startUiServer, type UiServer } from '../../bench/ui/server.js';
import { ARTIFACTS, launchBrowser } from '../e2e/codeServer.js';
import { fakeRecords, tempDir, withRun } from '../engine/store-helpers.js';
import { NEAR_THRESHOLD, plantedSample, type PlantedSample } from './dups-helpers.js';
import { storeRoots } from './roots-helper.js';

const skip = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium; CHROMIUM_PATH overrides)`;
const COPIES = 30;
/** Screenshots of the view for a person to look at (not compared). */
const SHOTS = path.join(ARTIFACTS, 'dups-webview');
let dir: string;
let db: string;
let server: UiServer;
let svc: CurationService;
let runDir: string;
let sample: PlantedSample;

before(async () => {
  if (skip) return;
  ensureBuilt();
  dir = tempDir('kefer-dups-ui-');
  sample = await plantedSample(dir, COPIES);
  db = path.join(dir, 'kefer.db');
  const ds = await loadDataset(sample.spec);
  const store = openStore(db);
  withRun(store, ds, fakeRecords(ds, 3, 0.8), 'run');
  store.close();
  // the scan, as "KE-FER: Find Duplicates" makes it: the real CLI into the workspace store
  const r = spawnSync(process.execPath, [path.resolve(__dirname, '../../bin/kefer.js'), 'data', 'dups', sample.spec, '--store', db, '--near-threshold', String(NEAR_THRESHOLD), '--events', 'json'],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  runDir = path.join(dir, 'runs', 'run');
  writeMeta(runDir, { dataSpec: sample.spec, datasetRoot: sample.root, datasetName: 'kefer-sample', startedAt: '', backbone: 'compact', status: 'done', accuracy: null, classes: ds.classes });
  svc = new CurationService(db, path.join(dir, 'thumbs'));
  server = await startUiServer([dir]);
});

after(async () => {
  svc?.close();
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Sample id -> excluded, label, as the store has them now. */
function stored(): Map<string, { excluded: boolean; label: number }> {
  const store = openStore(db);
  try {
    const d = findDataset(store, 'synthetic', sample.root)!;
    return new Map([...effectiveLabels(store, d.id)].map(([id, e]) => [id, { excluded: e.excluded, label: e.label }]));
  } finally {
    store.close();
  }
}

async function members(page: Page, index: number): Promise<{ id: string; split: string; label: string; excluded: string; leaked: string; score: string }[]> {
  return page.locator(`kefer-dups .cluster[data-index="${index}"] figure`).evaluateAll((els) => els.map((e) => ({
    id: e.getAttribute('data-id') ?? '', split: e.getAttribute('data-split') ?? '', label: e.getAttribute('data-label') ?? '',
    excluded: e.getAttribute('data-excluded') ?? '', leaked: e.getAttribute('data-leaked') ?? '', score: e.getAttribute('data-score') ?? '',
  })));
}

test('the duplicates view: clusters with label, split and similarity; filters; pages; keyboard fixes as one action each, undone', { skip, timeout: 240_000 }, async () => {
  const b = await launchBrowser();
  try {
    const page = await b.ctx.newPage();
    const post = (m: HostMessage): void => {
      if (!page.isClosed()) void page.evaluate((msg) => window.postMessage(msg, '*'), m).catch(() => undefined);
    };
    const posted: HostMessage[] = [];
    const runs: RunSummary[] = [{ runDir, name: 'run', dataset: 'kefer-sample', date: '', backbone: 'compact', accuracy: null, status: 'done', classes: [] }];
    const none = async () => undefined;
    const logs: string[] = [];
    const handler = new DiagnosticsHandler('diagnostics', {
      call: inProcess(svc).call, roots: storeRoots(svc, path.join(dir, 'thumbs')), runs: () => runs, toUri: server.file,
      post: (m) => {
        posted.push(m);
        post(m);
      },
      broadcast: post, retrain: none, exportLabels: none, openFull: () => undefined, cancelTraining: () => undefined, log: (l) => void logs.push(l), onCspViolation: () => undefined,
    }, runDir);
    // the pages the view asks the host for (the view keeps pages seen and fetches the next one ahead)
    const pageAsks: string[] = [];
    await page.exposeBinding('keferHostPost', (_source, m: unknown) => {
      const msg = m as { type?: string; query?: { after?: unknown } };
      if (msg.type === 'requestDups') pageAsks.push(JSON.stringify(msg.query?.after ?? null));
      void handler.handle(m);
    });
    await page.addInitScript({ content: PROBE });
    await page.goto(server.url);
    await page.locator('#count', { hasText: /\d+ samples/ }).waitFor({ timeout: 60_000 });

    // the run's dataset and its scan: the near tier first, its threshold shown, largest cluster first
    await page.locator('#dups-title', { hasText: 'kefer-sample' }).waitFor({ timeout: 30_000 });
    await page.locator('#dups-count', { hasText: `clusters 1–${DUP_PAGE_SIZE} of ${COPIES}` }).waitFor({ timeout: 30_000 });
    assert.match((await page.locator('#dups-tier-info').textContent()) ?? '', new RegExp(`threshold ${NEAR_THRESHOLD} · ${COPIES * 2 + 2} images in ${COPIES} clusters · ${COPIES + 2} leaked copies`));
    assert.deepEqual(await page.locator('#dups-tier option').evaluateAll((os) => os.map((o) => o.textContent)), [`exact (${COPIES})`, `near (${COPIES})`]);
    const first = page.locator('kefer-dups .cluster[data-index="0"]');
    assert.equal(await first.getAttribute('data-size'), '4');
    assert.equal(await first.getAttribute('data-leaks'), 'train-test,train-val,val-test');
    const m0 = await members(page, 0);
    assert.deepEqual(m0.map((m) => m.id).sort(), [sample.original, sample.exact[0].id, sample.resized, sample.flipped].sort());
    const byId = new Map(m0.map((m) => [m.id, m]));
    assert.deepEqual([byId.get(sample.original)!.split, byId.get(sample.original)!.leaked], ['train', 'false'], 'the training original is no leak');
    for (const id of [sample.exact[0].id, sample.resized, sample.flipped]) assert.equal(byId.get(id)!.leaked, 'true', `${id} is a leaked copy`);
    assert.equal(Number(byId.get(sample.exact[0].id)!.score), 1, 'the byte copy is identical');
    assert.ok(Number(byId.get(sample.flipped)!.score) >= NEAR_THRESHOLD, 'the mirrored copy\'s similarity');
    const caption = (await page.locator(`kefer-dups figure[data-id="${sample.flipped}"]`).textContent()) ?? '';
    assert.match(caption, new RegExp(`${sample.original.split('/')[1]}[\\s\\S]*valid · [01]\\.\\d\\d`), `label, split and similarity under the thumbnail: ${caption}`);
    // thumbnails from the host's cache, served by the roots authority
    const img = page.locator(`kefer-dups figure[data-id="${sample.original}"] img[src]`);
    await img.waitFor({ timeout: 60_000 });
    await img.evaluate((i: HTMLImageElement) => i.decode());
    assert.match(decodeURIComponent((await img.getAttribute('src')) ?? ''), /thumbs.*\.webp$/);
    assert.ok(await img.evaluate((i: HTMLImageElement) => i.naturalWidth > 0));
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.locator('kefer-dups').screenshot({ path: path.join(SHOTS, '1-near-tier.png') });

    // pages: PageDown / PageUp in the list, the buttons too. The second page was fetched ahead while the
    // first was shown, so Next shows it without asking again, and Prev shows the first one kept.
    const ahead = async () => {
      for (let t = 0; t < 300 && !pageAsks.some((a) => a !== 'null'); t++) await page.waitForTimeout(100);
      return pageAsks.filter((a) => a !== 'null');
    };
    assert.equal((await ahead()).length, 1, `the next page fetched ahead once: ${pageAsks.join(' ')}`);
    const asksBefore = pageAsks.length;
    await first.click();
    await page.keyboard.press('PageDown');
    await page.locator('#dups-count', { hasText: `clusters ${DUP_PAGE_SIZE + 1}–${COPIES} of ${COPIES}` }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#dups-next').isDisabled(), true, 'the last page');
    await page.locator('#dups-prev').click();
    await page.locator('#dups-count', { hasText: `clusters 1–${DUP_PAGE_SIZE} of` }).waitFor({ timeout: 30_000 });
    assert.equal(pageAsks.length, asksBefore, 'Next and Prev showed pages at hand: no page asked of the host');
    // the second page's thumbnails came with it, made ahead (not urgent)
    await page.keyboard.press('PageDown');
    await page.locator('kefer-dups .cluster[data-index="0"] figure img[src]').first().waitFor({ timeout: 60_000 });
    await page.keyboard.press('PageUp');
    await page.locator('#dups-count', { hasText: `clusters 1–${DUP_PAGE_SIZE} of` }).waitFor({ timeout: 30_000 });

    // filters: leak kind, conflicting labels, tier
    const valid = sample.exact.filter((e) => e.split === 'valid').length;
    await page.locator('#dups-leak').selectOption('train-val');
    await page.locator('#dups-count', { hasText: `of ${valid + 1}` }).waitFor({ timeout: 30_000 });
    for (const l of await page.locator('kefer-dups .cluster').evaluateAll((els) => els.map((e) => e.getAttribute('data-leaks') ?? ''))) assert.match(l, /train-val/);
    await page.locator('#dups-leak').selectOption('');
    await page.locator('#dups-conflict').check();
    const conflicting = sample.exact.filter((_, k) => k % 10 === 9).length;
    await page.locator('#dups-count', { hasText: `of ${conflicting}` }).waitFor({ timeout: 30_000 });
    assert.ok((await page.locator('kefer-dups .cluster .tag.conflict').count()) === conflicting, 'each shows its labels');
    await page.locator('#dups-conflict').uncheck();
    await page.locator('#dups-tier').selectOption('exact');
    await page.locator('#dups-tier-info', { hasText: 'identical decoded pixels' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('kefer-dups .cluster[data-index="0"]').getAttribute('data-size'), '2');
    await page.locator('#dups-tier').selectOption('near');
    await page.locator('kefer-dups .cluster[data-index="0"][data-size="4"]').waitFor({ timeout: 30_000 });

    // X: the cluster's three leaked copies excluded, in one action; U: all back
    const gridSel = await page.locator('kefer-grid .cell[data-index="0"]').getAttribute('data-id');
    await page.locator('kefer-dups .cluster[data-index="0"] .chead').click();
    const leaked = [sample.exact[0].id, sample.resized, sample.flipped];
    await page.keyboard.press('x');
    for (const id of leaked) await page.locator(`kefer-dups figure[data-id="${id}"][data-excluded="true"]`).waitFor({ timeout: 30_000 });
    await page.locator('#dups-status', { hasText: /Excluded 3 copies leaked from near cluster 1/ }).waitFor({ timeout: 30_000 });
    await page.locator('kefer-dups').screenshot({ path: path.join(SHOTS, '2-leaked-copies-excluded.png') });
    let now = stored();
    assert.deepEqual([...now].filter(([, e]) => e.excluded).map(([id]) => id).sort(), [...leaked].sort(), 'exactly the leaked copies, the original kept');
    await page.keyboard.press('u');
    for (const id of leaked) await page.locator(`kefer-dups figure[data-id="${id}"][data-excluded="false"]`).waitFor({ timeout: 30_000 });
    await page.locator('#dups-status', { hasText: /Undone: .* \(3 changes, one action\)/ }).waitFor({ timeout: 30_000 });
    assert.equal([...stored().values()].filter((e) => e.excluded).length, 0);

    // a digit relabels the whole cluster; K keeps the selected member (→ then K) and excludes the others
    await page.keyboard.press('2');
    await page.locator('kefer-dups .cluster[data-index="0"] figure[data-label="1"]').nth(3).waitFor({ timeout: 30_000 });
    now = stored();
    for (const m of m0) assert.equal(now.get(m.id)!.label, 1, `${m.id} relabelled`);
    await page.keyboard.press('u');
    await page.locator('kefer-dups .cluster[data-index="0"] figure[data-label="1"]').first().waitFor({ state: 'detached', timeout: 30_000 }).catch(() => undefined);
    const flippedAt = m0.findIndex((m) => m.id === sample.flipped);
    for (let i = 0; i <= flippedAt; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('k');
    await page.locator('#dups-status', { hasText: `Kept ${sample.flipped} of near cluster 1, excluded 3 others` }).waitFor({ timeout: 30_000 });
    now = stored();
    assert.deepEqual(m0.map((m) => [m.id, now.get(m.id)!.excluded]).sort(), m0.map((m) => [m.id, m.id !== sample.flipped]).sort());
    await page.keyboard.press('u');
    await page.locator(`kefer-dups figure[data-id="${sample.original}"][data-excluded="false"]`).waitFor({ timeout: 30_000 });

    // the pane's keys reached neither the grid (its sample is untouched) nor the store beyond the cluster
    const log = (() => {
      const store = openStore(db);
      try {
        return labelLog(store);
      } finally {
        store.close();
      }
    })();
    const cluster = new Set(m0.map((m) => m.id));
    assert.ok(log.length > 0 && log.every((c) => cluster.has(c.sampleId)), `only the cluster's samples changed: ${log.map((c) => c.sampleId).join(', ')}`);
    assert.ok(log.every((c) => c.group !== undefined), 'every change belongs to an action');
    if (gridSel && !cluster.has(gridSel)) assert.equal(stored().get(gridSel)!.excluded, false);
    assert.equal(handler.refused, 0);
    assert.deepEqual(logs, []);

    // a dataset the store did not register, a label out of range, a page too large: refused, answered, counted
    posted.length = 0;
    const query = { dataset: '/etc', filter: { tier: 'near', leak: null, conflicting: false }, after: null, limit: 25 };
    await handler.handle({ type: 'requestDups', query });
    await handler.handle({ type: 'dupFix', dataset: sample.root, tier: 'near', cid: 1, fix: { kind: 'relabel', label: 99 } });
    await handler.handle({ type: 'requestDups', query: { ...query, dataset: sample.root, limit: 100_000 } });
    await handler.handle({ type: 'dupUndo', dataset: path.join(sample.root, '..') });
    assert.equal(handler.refused, 4);
    assert.equal(posted.filter((m) => m.type === 'error' && /not a dataset of this workspace/.test(m.message)).length, 2, 'the unregistered roots are named');
    assert.ok(!posted.some((m) => m.type === 'dupPage' || m.type === 'dupDone'), 'nothing answered for them');
    assert.equal([...stored().values()].filter((e) => e.excluded).length, 0, 'the refused undo did not run');
  } finally {
    await b.close();
  }
});
