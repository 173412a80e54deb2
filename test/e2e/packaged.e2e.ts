// The packaged extension on a machine without oneDNN: the .vsix installed into a fresh code-server
// profile with its oneDNN addon removed (as on a platform it was not built for). It must still
// activate, train the sample dataset on onnxruntime, and say so (dashboard, run.json) with why
// oneDNN was not used. Needs KEFER_E2E_VSIX (scripts/e2e.sh builds it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { e2eVsix, keferOutput, launchBrowser, startWorkbench, type Workbench } from './codeServer.js';
import { notificationShown, pickItem, runCommand, webviewEditor } from './ui.js';

const vsix = e2eVsix();
let wb: Workbench | undefined;
let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
let page: Page;
let removed: string[] = [];

before(async () => {
  if (!vsix) return;
  wb = await startWorkbench('nodnnl', {
    vsix,
    alterInstalled: (dir) => {
      const addon = path.join(dir, 'dist', 'build', 'kefer_dnnl.node');
      if (fs.existsSync(addon)) {
        fs.rmSync(path.dirname(addon), { recursive: true });
        removed = [addon];
      }
    },
    // a short run: the point is which runtime trains, not what it learns
    settings: { 'kefer.sample.perClass': 10, 'kefer.sample.epochs': 1, 'kefer.sample.maxSteps': 6 },
  });
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  await browser?.close();
  await wb?.stop();
});

test('the packaged extension activates and trains on onnxruntime without the oneDNN addon, and says so', { timeout: 420000, skip: vsix ? false : 'KEFER_E2E_VSIX not set (scripts/e2e.sh builds the .vsix)' }, async (t) => {
  assert.ok(wb);
  await page.goto(wb.url());
  await page.locator('.activitybar a.action-label[aria-label^="KE-FER"]').waitFor({ timeout: 120000 });
  await runCommand(page, 'KE-FER: Create Sample Dataset');
  await notificationShown(page, 'written to kefer-sample');
  await runCommand(page, 'KE-FER: Train');
  await pickItem(page, 'kefer-sample');
  const dash = await webviewEditor(page, t, 'kefer-dashboard', 'KE-FER Training', 'KE-FER: Show Training Dashboard');
  const backend = dash.locator('#backend', { hasText: /\S+ — / });
  await backend.waitFor({ timeout: 180000 });
  const shown = (await backend.textContent()) ?? '';
  await dash.locator('#status', { hasText: 'done' }).waitFor({ timeout: 360000 });

  assert.match(shown, /^onnxruntime — encoder on onnxruntime-node CPU/, `the dashboard names the runtime: ${shown}`);
  assert.match(shown, /onednn not used: this extension package has no oneDNN addon/, `and why oneDNN was not used: ${shown}`);
  const runs = path.join(wb.workspace, '.kefer', 'runs');
  const [run] = fs.readdirSync(runs);
  const meta = JSON.parse(fs.readFileSync(path.join(runs, run, 'run.json'), 'utf8')) as { status: string; runtime: string; backend: { name: string } };
  assert.equal(meta.status, 'done');
  assert.equal(meta.runtime, 'onnx');
  assert.equal(meta.backend.name, 'onnxruntime');
  assert.match(keferOutput(wb), /KE-FER Studio active \(linux-x64 package/, 'the extension activated from the package');
  if (removed.length === 0) t.diagnostic('this .vsix was built without the oneDNN addon; nothing was removed');
});
