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

async function sampleCount(f: Frame): Promise<number> {
  return Number(((await f.locator('#count').textContent()) ?? '').split(' ')[0]);
}

async function waitCount(f: Frame, n: number): Promise<void> {
  await f.locator('#count', { hasText: new RegExp(`^${n} samples`) }).waitFor({ timeout: 30000 });
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

test('KE-FER: Train runs a bounded training with a live dashboard', { timeout: 300000 }, async () => {
  await runCommand('KE-FER: Train');
  const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: 'kefer-sample' }).first();
  await pick.waitFor({ timeout: 30000 });
  await snap('dataset-pick');
  await pick.click();
  const dash = await frameWith('kefer-dashboard');
  await dash.locator('#step', { hasText: '/' }).waitFor({ timeout: 120000 });
  await dash.locator('#backend', { hasText: /\S+ — / }).waitFor();
  await page.waitForTimeout(1500);
  await snap('training-live');
  await dash.locator('#status', { hasText: 'done' }).waitFor({ timeout: 240000 });
  await page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'training finished' }).first().waitFor({ timeout: 60000 });
  await snap('training-done');
  await page.locator('.monaco-list-row', { hasText: 'kefer-sample' }).first().waitFor({ timeout: 30000 });
});

let diag: Frame;
let before0 = 0;

test('KE-FER: Open Diagnostics shows the run\'s misclassified samples', { timeout: 120000 }, async () => {
  await page.keyboard.press('Escape');
  await runCommand('KE-FER: Open Diagnostics');
  diag = await frameWith('body[data-view="diagnostics"] kefer-diagnostics');
  await diag.locator('kefer-grid .cell[data-id]').first().waitFor({ timeout: 60000 });
  before0 = await sampleCount(diag);
  assert.ok(before0 > 0, 'grid lists mistakes');
  const cells = diag.locator('kefer-grid .cell[data-id]');
  const n = Math.min(await cells.count(), 10);
  for (let i = 0; i < n; i++) {
    const c = cells.nth(i);
    assert.notEqual(await c.getAttribute('data-label'), await c.getAttribute('data-pred'), 'every cell is a mistake');
  }
  await diag.locator('#confusion td').first().waitFor();
  await diag.locator('#inspector').waitFor();
  await snap('diagnostics');
});

async function relabelFirstToPrediction(): Promise<void> {
  const cell = diag.locator('kefer-grid .cell[data-index="0"]');
  await cell.click();
  const pred = Number(await cell.getAttribute('data-pred'));
  await page.keyboard.press(String(pred + 1));
  await waitCount(diag, before0 - 1);
  await diag.locator('#status', { hasText: 'Relabeled' }).waitFor();
}

test('keyboard relabel, undo, relabel again', { timeout: 120000 }, async () => {
  await relabelFirstToPrediction();
  await snap('relabeled');
  await page.keyboard.press('u');
  await waitCount(diag, before0);
  await snap('undone');
  await relabelFirstToPrediction();
  await snap('relabeled-again');
});

test('retrain with corrected labels shows the run comparison', { timeout: 300000 }, async () => {
  await diag.locator('#retrain').click();
  const cmp = await frameWith('body[data-view="diagnostics"] #comparison', 240000);
  const b = await cmp.locator('#acc-before').textContent();
  const a = await cmp.locator('#acc-after').textContent();
  assert.match(b ?? '', /%$/);
  assert.match(a ?? '', /%$/);
  await page.waitForTimeout(800);
  await snap('comparison');
});
