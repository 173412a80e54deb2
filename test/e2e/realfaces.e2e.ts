// The diagnostics panel on real faces, end to end in the real workbench (code-server + headless
// chromium, the packaged extension when KEFER_E2E_VSIX is set): a small FERPlus subset (ferplusSubset.ts:
// 300 training, 120 validation images with their ten annotators' votes) trained FROM THE CLI with
// --store into the open workspace while the workbench runs (bounded for CI: compact backbone, 48 px,
// 30 steps of 16), then: the run appears in the Runs tree without any file written by hand, the panel
// shows the votes on validation samples, the inspector shows the gap's percentile in its class and the
// class histogram, and a lasso in the embedding scatter filters the grid. Screenshots: .test-artifacts/e2e/.
// Skipped, saying so, when ../shared/data has no FERPlus.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { ARTIFACTS, e2eHost, e2eVsix, launchBrowser, REPO, startWorkbench, type Workbench } from './codeServer.js';
import { ferplusAbsent, makeFerplusSubset } from './ferplusSubset.js';
import { consoleErrors, Journey, webviewEditor } from './ui.js';

const absent = ferplusAbsent();
const HOST = e2eHost();
const SHOTS = path.join(ARTIFACTS, HOST.version === '4.100.3' ? 'e2e' : `e2e-${HOST.label}`);
let wb: Workbench;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let diag: Frame;
let browserErrors: string[] = [];
const journey = new Journey((id) => snap(`FAILED-${id}`));
const RUN = 'ferplus-cli';

async function snap(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `realfaces-${name}.png`) });
}

before(async () => {
  if (absent) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (f.startsWith('realfaces-')) fs.rmSync(path.join(SHOTS, f));
  wb = await startWorkbench('realfaces', { vsix: e2eVsix() });
  makeFerplusSubset(path.join(wb.workspace, 'ferplus-small'), { train: 300, valid: 120 });
  browser = await launchBrowser();
  page = browser.page;
  browserErrors = consoleErrors(page);
});

after(async () => {
  await browser?.close();
  await wb?.stop();
});

test('the workbench opens on a workspace with a FERPlus subset and no run yet', { skip: absent, timeout: 150_000 }, journey.step('workbench', [], async () => {
  await page.goto(wb.url());
  await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
  await page.locator('.activitybar a.action-label[aria-label^="KE-FER"]').click({ timeout: 90_000 });
  await page.locator('.pane-header', { hasText: 'Runs' }).first().waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('.monaco-list-row', { hasText: RUN }).count(), 0, 'no run yet');
}));

test('kefer train --store from a shell (real faces, bounded); the run appears in the Runs tree by itself', { skip: absent, timeout: 600_000 }, journey.step('cli-run', ['workbench'], async (t) => {
  const args = [path.join(REPO, 'bin', 'kefer.js'), 'train', '--data', 'ferplus:ferplus-small#train', '--out', `.kefer/runs/${RUN}`, '--store', '.kefer/kefer.db',
    '--backbone', 'compact', '--batch', '16', '--max-steps', '30', '--epochs', '3', '--text', 'standin', '--seed', '1'];
  const out: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, args, { cwd: wb.workspace, env: { ...process.env, KEFER_ORT_PROVIDERS: 'cpu' }, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (d: Buffer) => out.push(d.toString()));
    p.stderr.on('data', (d: Buffer) => out.push(d.toString()));
    p.on('exit', resolve);
  });
  const log = out.join('');
  assert.equal(code, 0, log.slice(-3000));
  const registered = /registered run (\S+) with (\d+) per-sample records/.exec(log);
  assert.ok(registered && registered[1] === RUN && Number(registered[2]) > 50, log.slice(-1500));
  t.diagnostic(log.split('\n').filter((l) => /val WAR|registered run/.test(l)).join(' | '));
  // nobody wrote a studio.json: the engine's run.json and the store are all the extension has
  assert.equal(fs.existsSync(path.join(wb.workspace, '.kefer', 'runs', RUN, 'studio.json')), false);
  const row = page.locator('.monaco-list-row', { hasText: RUN }).first();
  await row.waitFor({ timeout: 60_000 });
  assert.match((await row.textContent()) ?? '', /CLI/);
  await snap('runs-tree');
}));

test('the CLI run in the panel: votes on validation samples, the gap\'s percentile and class histogram', { skip: absent, timeout: 180_000 }, journey.step('panel', ['cli-run'], async (t) => {
  await page.locator('.monaco-list-row', { hasText: RUN }).first().click();
  diag = await webviewEditor(page, t, 'body[data-view="diagnostics"] kefer-diagnostics', 'KE-FER Diagnostics', 'KE-FER: Open Diagnostics', browserErrors);
  await diag.locator('#run-title', { hasText: RUN }).waitFor({ timeout: 60_000 });
  await diag.locator('kefer-grid .cell[data-id]').first().waitFor({ timeout: 60_000 });
  // --diagnose val: every listed sample is a validation one, and each carries its annotators' votes
  const cells = diag.locator('kefer-grid .cell[data-id]');
  const n = await cells.count();
  for (let i = 0; i < Math.min(n, 20); i++) {
    assert.equal(await cells.nth(i).getAttribute('data-split'), 'valid');
    assert.match((await cells.nth(i).locator('.votes').textContent()) ?? '', /^\d+\/\d+$/, 'a vote badge on a validation sample');
  }
  // the votes sorts are offered (the run's samples have votes)
  assert.ok(await diag.locator('#sort option[value="votes"]').count());
  await diag.locator('kefer-grid .cell[data-index="0"]').click();
  await diag.locator('#inspector-label-votes', { hasText: /\d+ of \d+ votes/ }).waitFor({ timeout: 30_000 });
  await diag.locator('#votes-text').waitFor();
  // the gap against its class: percentile, robust z, the class histogram with the sample marked
  await diag.locator('#sig-gap-pct', { hasText: /^p\d+ of \w+$/ }).waitFor({ timeout: 30_000 });
  assert.equal(await diag.locator('#sig-gap svg.hist line.mark').count(), 1);
  assert.ok((await diag.locator('#sig-gap svg.hist rect.bar').count()) > 3);
  await diag.locator('#why-sort li').first().waitFor();
  await page.waitForTimeout(800);
  await snap('panel');
}));

test('a lasso in the embedding scatter filters the grid to the samples inside it', { skip: absent, timeout: 120_000 }, journey.step('lasso', ['panel'], async () => {
  await diag.locator('#scatter-source', { hasText: 'PCA' }).waitFor({ timeout: 60_000 });
  const plot = diag.locator('kefer-scatter .plot');
  await plot.scrollIntoViewIfNeeded();
  const box = (await plot.boundingBox())!;
  const total = Number(((await diag.locator('#count').textContent()) ?? '').split(' ')[0]);
  // the left half of the plot
  await page.mouse.move(box.x + 3, box.y + 3);
  await page.mouse.down();
  for (const [x, y] of [[box.width / 2, 3], [box.width / 2, box.height - 3], [3, box.height - 3], [3, 4]]) await page.mouse.move(box.x + x, box.y + y, { steps: 5 });
  await page.mouse.up();
  const sel = diag.locator('#selection-filter');
  await sel.waitFor({ timeout: 30_000 });
  const lassoed = Number(/(\d+) samples?/.exec((await sel.textContent()) ?? '')?.[1]);
  assert.ok(lassoed > 0, 'the lasso holds samples');
  await diag.locator('#count', { hasText: new RegExp(`^${lassoed} samples`) }).waitFor({ timeout: 30_000 });
  const shown = await diag.locator('kefer-grid .cell[data-id]').count();
  assert.ok(shown > 0 && shown <= lassoed, `${shown} cells for ${lassoed} lassoed (mistakes ${total})`);
  await page.waitForTimeout(800);
  await snap('lasso');
  await diag.locator('#clear-selection').click();
  await diag.locator('#mistakes-label').waitFor({ timeout: 30_000 });
}));
