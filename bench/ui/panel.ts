// Opens the real diagnostics webview bundle in a Playwright page, wired to the host double: the
// page's acquireVsCodeApi().postMessage reaches HostDouble.handle through a binding, and the host's
// answers arrive as window 'message' events, as VS Code delivers them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { BrowserContext, Page } from 'playwright-core';
import { HostDouble, type Curation } from './hostDouble.js';
import { PROBE } from './probe.js';
import { REPO, type UiServer } from './server.js';

export interface GridState {
  expected: number;
  rendered: number;
  loaded: number;
  ids: string;
  cols: number;
  /** Elements in the grid's shadow root, and all its nodes (text and lit's comment markers too). */
  elements: number;
  nodes: number;
  cells: number;
  total: number;
  top: number;
  max: number;
}

export interface Panel {
  page: Page;
  host: HostDouble;
  /** Grid state now (see probe.ts). */
  state(): Promise<GridState>;
  close(): Promise<void>;
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/**
 * Runs the project's build (node esbuild.mjs) when the webview bundle or the curation worker bundle
 * is missing or older than their sources, so a measurement never runs yesterday's grid.
 */
export function ensureBuilt(): void {
  const outs = [path.join(REPO, 'media', 'dist', 'diagnostics.js'), path.join(REPO, 'dist', 'curationWorker.js')];
  const src = Math.max(newest(path.join(REPO, 'src', 'webviews')), newest(path.join(REPO, 'src', 'extension', 'curation')), newest(path.join(REPO, 'src', 'engine', 'store')));
  if (outs.every((f) => fs.existsSync(f) && fs.statSync(f).mtimeMs >= src)) return;
  execFileSync(process.execPath, ['esbuild.mjs'], { cwd: REPO, stdio: 'ignore' });
}

/** Opens the panel on `runDir` in a new page of `ctx` and waits for the first screen of thumbnails. */
/** The host double's class: this tree's, or (bench:ui --old) the compared checkout's, which speaks its own protocol. */
export type HostDoubleClass = typeof HostDouble;

export async function openPanel(ctx: BrowserContext, server: UiServer, curation: Curation, runDir: string, Host: HostDoubleClass = HostDouble): Promise<Panel> {
  const page = await ctx.newPage();
  const host = new Host({
    curation, runDir, src: server.src, file: server.file,
    post: async (m) => {
      if (!page.isClosed()) await page.evaluate((msg) => window.postMessage(msg, '*'), m).catch(() => undefined);
    },
  });
  await page.exposeBinding('keferHostPost', (_source, m: unknown) => void host.handle(m));
  await page.addInitScript({ content: PROBE });
  await page.goto(server.url);
  await page.waitForFunction('window.__kb && window.__kb.state().expected > 0 && window.__kb.state().loaded === window.__kb.state().expected', undefined, { timeout: 60000 });
  return {
    page, host,
    state: () => page.evaluate('window.__kb.state()') as Promise<GridState>,
    close: () => page.close(),
  };
}
