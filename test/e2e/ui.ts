// Workbench interactions shared by the e2e journeys. Each waits for the state a person would wait
// for (the palette open, the command listed, the webview rendered) and repeats the gesture when the
// workbench was not ready for it, instead of sleeping.
import type { TestContext } from 'node:test';
import type { Frame, Page } from 'playwright-core';

/**
 * Runs a command from the palette (F1). The keyboard may be inside a webview's iframe, or the
 * workbench may still be settling after a notification: when the palette does not open, or the
 * command does not show up, close whatever opened and try again (at most 4 times).
 */
export async function runCommand(page: Page, title: string): Promise<void> {
  const input = page.locator('.quick-input-widget input.input');
  // the row whose label is exactly the title: Enter would take the fuzzy match's top row
  const row = page.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) }).first();
  let last: unknown;
  for (let attempt = 1; attempt <= 4; attempt++) {
    if (await input.isVisible()) {
      await page.keyboard.press('Escape');
      await input.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => undefined);
    }
    // give the keyboard back to the workbench document (a webview iframe keeps it after a click)
    await page.evaluate(() => {
      const a = document.activeElement as HTMLElement | null;
      if (a && a.tagName === 'IFRAME') a.blur();
    });
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 10000 });
      await input.fill(`>${title}`);
      await row.waitFor({ timeout: 15000 });
    } catch (err) {
      last = err;
      continue;
    }
    // A click that times out was never dispatched (the palette closed under it, e.g. an editor opening late
    // took the focus): open the palette again. Once a click lands, no retry: the command may be running.
    try {
      await row.click({ timeout: 10000 });
    } catch (err) {
      last = err;
      continue;
    }
    // the palette's list closed (the command may open its own quick pick in the same widget)
    await row.waitFor({ state: 'hidden', timeout: 10000 });
    return;
  }
  throw new Error(`command palette: could not run "${title}": ${last instanceof Error ? last.message.split('\n')[0] : String(last)}`);
}

/**
 * Waits until the workbench has told the user `text`: its toast, or the same message in the notification
 * centre, which keeps every notification until it is cleared (a toast hides after a while, and Escape
 * hides it, so a slow step can miss it). After 15 s without the toast the centre is opened (again, if
 * something closed it); it is left closed.
 */
export async function notificationShown(page: Page, text: string, timeout = 60000): Promise<void> {
  const message = (where: string) => page.locator(`${where} .notification-list-item-message`, { hasText: text }).first();
  const centre = page.locator('.notifications-center.visible');
  const start = Date.now();
  let opened = false;
  while (Date.now() - start < timeout) {
    if (await message('.notifications-toasts').isVisible()) return;
    if (await message('.notifications-center').isVisible()) {
      await runCommand(page, 'Notifications: Hide Notifications');
      return;
    }
    if (Date.now() - start > 15000 && !(await centre.isVisible())) {
      await runCommand(page, 'Notifications: Show Notifications');
      opened = true;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no notification "${text}" within ${timeout / 1000} s (toasts${opened ? ' or the notification centre' : ''})`);
}

/**
 * Picks the quick-pick row containing `text` (a command's own quick pick, e.g. the dataset picker).
 * A click that lands while the list is still being laid out can miss: click again until the pick is
 * done, i.e. the row is gone or another quick pick (another title) has replaced this one. The next
 * pick can hold a row with the same text (a run named after the dataset), so a row still shown under
 * another title is not this pick's.
 */
export async function pickItem(page: Page, text: string, timeout = 30000): Promise<void> {
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
  await row.waitFor({ timeout });
  const title = page.locator('.quick-input-widget .quick-input-title');
  const titleNow = async () => ((await title.count()) ? ((await title.first().textContent()) ?? '') : '');
  const before = await titleNow();
  for (let attempt = 1; ; attempt++) {
    await row.click();
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      if (!(await row.isVisible()) || (await titleNow()) !== before) return;
      await page.waitForTimeout(100);
    }
    if (attempt === 3) throw new Error(`quick pick: "${text}" stayed open after ${attempt} clicks (title "${before}")`);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The webview frame (inner #active-frame document) that contains `selector`. */
export async function frameWith(page: Page, selector: string, timeout = 60000): Promise<Frame> {
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

/** Recent browser console errors (for saying why a webview stayed blank). */
export function consoleErrors(page: Page, keep = 30): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    errors.push(m.text().slice(0, 300));
    if (errors.length > keep) errors.shift();
  });
  return errors;
}

/**
 * The frame of a webview editor that shows `selector`. Now and then the workbench leaves a new
 * webview editor blank (its iframe never loads; seen on this loaded 2-core machine, with the
 * walkthrough open beside it). A person closes the blank tab and opens it again: so does this, once,
 * and says so in the test's output with the browser's errors.
 */
export async function webviewEditor(page: Page, t: TestContext, selector: string, tabTitle: string, reopenCommand: string, errors: string[] = []): Promise<Frame> {
  try {
    return await frameWith(page, selector, 30000);
  } catch {
    const webviewErrors = errors.filter((e) => /webview|service ?worker|iframe/i.test(e));
    t.diagnostic(`"${tabTitle}" stayed blank for 30 s; closing and reopening it (${reopenCommand}). Browser errors: ${webviewErrors.join(' | ') || 'none'}`);
    const tab = page.locator('.tabs-container .tab', { hasText: tabTitle }).first();
    await tab.click();
    await runCommand(page, 'View: Close Editor');
    await tab.waitFor({ state: 'detached', timeout: 10000 });
    await runCommand(page, reopenCommand);
    return frameWith(page, selector, 60000);
  }
}

/**
 * Runs `wait` on a webview's frame; when the workbench replaced the webview's iframe meanwhile (Playwright:
 * "Frame was detached"; seen once in a fresh-clone CI run while a training dashboard filled), finds the
 * frame showing `selector` again and waits on it. Returns the frame the wait succeeded on.
 */
export async function inWebview(page: Page, frame: Frame, selector: string, wait: (f: Frame) => Promise<unknown>): Promise<Frame> {
  for (let attempt = 1; ; attempt++) {
    try {
      await wait(frame);
      return frame;
    } catch (err) {
      if (attempt === 3 || !(frame.isDetached() || /detached/i.test(err instanceof Error ? err.message : String(err)))) throw err;
      frame = await frameWith(page, selector, 60000);
    }
  }
}

/**
 * Journey steps that depend on earlier ones. A step runs only when the steps it needs passed;
 * otherwise it is skipped saying which failed, so one failure is reported once, not again by
 * every later step that could not even start.
 */
export class Journey {
  private readonly passed = new Set<string>();

  /** onFailure: e.g. a screenshot of the workbench as the failed step left it */
  constructor(private readonly onFailure: (id: string) => Promise<void> = async () => undefined) {}

  /** Wraps a node:test body: skip unless `needs` passed; record `id` when the body succeeds. */
  step(id: string, needs: string[], body: (t: TestContext) => Promise<void>): (t: TestContext) => Promise<void> {
    return async (t) => {
      const missing = needs.filter((n) => !this.passed.has(n));
      if (missing.length) {
        t.skip(`needs step(s) that did not pass: ${missing.join(', ')}`);
        return;
      }
      try {
        await body(t);
      } catch (err) {
        await this.onFailure(id).catch(() => undefined);
        throw err;
      }
      this.passed.add(id);
    };
  }
}
