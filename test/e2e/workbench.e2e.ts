// End-to-end in the real workbench (code-server + headless chromium): sample dataset -> train ->
// diagnostics grid -> keyboard relabel, undo, relabel -> retrain -> run comparison. Each step saves a
// screenshot under .test-artifacts/e2e/. Steps share one workbench, so they run in order.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { ARTIFACTS, launchBrowser, startWorkbench, type Workbench } from './codeServer.js';

const SHOTS = path.join(ARTIFACTS, 'e2e');
let wb: Workbench;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let shot = 0;

async function snap(name: string): Promise<void> {
  shot++;
  await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`) });
}

async function runCommand(title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  // click the row whose label is exactly the title: Enter would take the fuzzy match's top row
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${title}$`) }) }).first();
  await row.waitFor();
  await row.click();
}

/** The webview frame (inner #active-frame document) that contains `selector`. */
async function frameWith(selector: string, timeout = 60000): Promise<Frame> {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    for (const f of page.frames()) {
      if (f === page.mainFrame()) continue;
      if ((await f.locator(selector).count().catch(() => 0)) > 0) return f;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no webview frame with ${selector}`);
}

/** Training shows the KE-FER output channel; hide the bottom panel so screenshots show the views. */
async function closeBottomPanel(): Promise<void> {
  await runCommand('View: Hide Panel');
  await page.locator('.part.panel').first().waitFor({ state: 'hidden', timeout: 5000 }).catch(() => undefined);
}

async function sampleCount(f: Frame): Promise<number> {
  return Number(((await f.locator('#count').textContent()) ?? '').split(' ')[0]);
}

before(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  wb = await startWorkbench('e2e');
  browser = await launchBrowser();
  page = browser.page;
  page.on('console', (m) => {
    if (m.type() === 'error' && process.env.VERBOSE) console.log('[browser]', m.text().slice(0, 300));
  });
});

after(async () => {
  await browser?.close();
  await wb?.stop();
});

test('workbench loads the KE-FER activity-bar container', { timeout: 120000 }, async () => {
  await page.goto(wb.url());
  await page.waitForSelector('.monaco-workbench', { timeout: 90000 });
  await page.locator('.activitybar a.action-label[aria-label^="KE-FER"]').waitFor({ timeout: 90000 });
  await page.locator('.activitybar a.action-label[aria-label^="KE-FER"]').click();
  await page.locator('.pane-header', { hasText: 'Runs' }).first().waitFor({ timeout: 30000 });
  await snap('workbench');
});

test('KE-FER: Create Sample Dataset writes the demo dataset', { timeout: 90000 }, async () => {
  await runCommand('KE-FER: Create Sample Dataset');
  await page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'written to kefer-sample' }).first().waitFor({ timeout: 60000 });
  assert.ok(fs.existsSync(path.join(wb.workspace, 'kefer-sample', 'train')));
  await snap('sample-dataset');
});

test('KE-FER: Train runs a bounded training with a live dashboard', { timeout: 420000 }, async () => {
  await runCommand('KE-FER: Train');
  const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: 'kefer-sample' }).first();
  await pick.waitFor({ timeout: 30000 });
  await snap('dataset-pick');
  await pick.click();
  const dash = await frameWith('kefer-dashboard');
  // the real engine: compact backbone, <= 20 steps of 16 images (kefer.sample.* in codeServer.ts)
  await dash.locator('#step', { hasText: '/' }).waitFor({ timeout: 180000 });
  await dash.locator('#backend', { hasText: /\S+ — / }).waitFor();
  await page.waitForTimeout(1500);
  await snap('training-live');
  await dash.locator('#status', { hasText: 'done' }).waitFor({ timeout: 360000 });
  await page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'training finished' }).first().waitFor({ timeout: 60000 });
  await snap('training-done');
  await page.locator('.monaco-list-row', { hasText: 'kefer-sample' }).first().waitFor({ timeout: 30000 });
});

let diag: Frame;

test('KE-FER: Open Diagnostics shows the run\'s misclassified samples from the store', { timeout: 120000 }, async () => {
  await page.keyboard.press('Escape');
  await closeBottomPanel();
  await runCommand('KE-FER: Open Diagnostics');
  diag = await frameWith('body[data-view="diagnostics"] kefer-diagnostics');
  await diag.locator('kefer-grid .cell[data-id]').first().waitFor({ timeout: 60000 });
  assert.ok((await sampleCount(diag)) > 0, 'grid lists mistakes');
  const cells = diag.locator('kefer-grid .cell[data-id]');
  const n = await cells.count();
  const splits = new Set<string>();
  for (let i = 0; i < n; i++) {
    const c = cells.nth(i);
    assert.notEqual(await c.getAttribute('data-run-label'), await c.getAttribute('data-pred'), 'every cell is a mistake');
    splits.add((await c.getAttribute('data-split')) ?? '');
  }
  assert.ok(splits.has('train'), `training-set mistakes are listed (--diagnose all); saw ${[...splits].join(', ')}`);
  await diag.locator('#confusion td').first().waitFor();
  await diag.locator('#inspector').waitFor();
  await diag.locator('#scatter-source', { hasText: 'PCA' }).waitFor();
  await snap('diagnostics');
});

test('a confusion cell drills into its samples', { timeout: 60000 }, async () => {
  const td = diag.locator('#confusion td[data-true="6"][data-pred="6"]');
  const expected = Number(await td.textContent());
  await td.click();
  await diag.locator('#cell-filter').waitFor();
  await diag.locator('#count', { hasText: new RegExp(`^${expected} samples`) }).waitFor({ timeout: 30000 });
  await snap('confusion-cell');
  await diag.locator('#all-mistakes').click();
  await diag.locator('#mistakes-label').waitFor();
  // clicking the matrix scrolled the side column; back to the inspector
  await diag.locator('aside').evaluate((e) => e.scrollTo(0, 0));
});

/** Relabels the first grid cell to its prediction with the keyboard; returns its id and original label. */
async function relabelFirstToPrediction(): Promise<{ id: string; label: string; pred: string }> {
  const cell = diag.locator('kefer-grid .cell[data-index="0"]');
  await cell.click();
  const id = (await cell.getAttribute('data-id'))!;
  const label = (await cell.getAttribute('data-label'))!;
  const pred = (await cell.getAttribute('data-pred'))!;
  await page.keyboard.press(String(Number(pred) + 1));
  // the store's change comes back: the cell keeps its place with the new label and a tag
  await diag.locator(`kefer-grid .cell[data-id="${id}"][data-label="${pred}"] .tag`, { hasText: 'relabeled' }).waitFor({ timeout: 30000 });
  await diag.locator('#status', { hasText: 'Relabeled' }).waitFor();
  return { id, label, pred };
}

test('keyboard relabel, undo, relabel again', { timeout: 120000 }, async () => {
  const r = await relabelFirstToPrediction();
  await snap('relabeled');
  await page.keyboard.press('u');
  await diag.locator(`kefer-grid .cell[data-id="${r.id}"][data-label="${r.label}"]`).waitFor({ timeout: 30000 });
  assert.equal(await diag.locator(`kefer-grid .cell[data-id="${r.id}"] .tag`).count(), 0, 'undo removed the relabel');
  await snap('undone');
  await relabelFirstToPrediction();
  // the inspector of the relabeled sample shows the audit log from the store (undone + applied)
  await diag.locator('kefer-grid .cell[data-index="0"]').click();
  await diag.locator('#history li').nth(1).waitFor({ timeout: 30000 });
  assert.equal(await diag.locator('#history li.dropped').count(), 1, 'the undone change was dropped by the new one');
  await snap('relabeled-again');
});

test('quick retrain with corrected labels shows the run comparison', { timeout: 360000 }, async () => {
  await diag.locator('#retrain').click();
  const cmp = await frameWith('body[data-view="diagnostics"] #comparison', 300000);
  await closeBottomPanel();
  const b = await cmp.locator('#acc-before').textContent();
  const a = await cmp.locator('#acc-after').textContent();
  assert.match(b ?? '', /%$/);
  assert.match(a ?? '', /%$/);
  assert.match((await cmp.locator('#cmp-counts').textContent()) ?? '', /\d+ samples changed prediction/);
  await page.waitForTimeout(800);
  await snap('comparison');
});
