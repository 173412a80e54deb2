// Starts code-server (a real VS Code workbench, offline) with a fresh profile, this repository as an
// unpacked extension and a scratch workspace, and a headless Debian chromium to drive it.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const REPO = path.resolve(__dirname, '..', '..');
export const ARTIFACTS = path.join(REPO, '.test-artifacts');
const CS_VERSION = '4.100.3';

export function codeServerBin(): string {
  const dir = process.env.KEFER_CS_DIR ?? path.join(REPO, '.cache', `code-server-${CS_VERSION}`);
  return path.join(dir, 'node_modules', '.bin', 'code-server');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface Workbench {
  port: number;
  workspace: string;
  scratch: string;
  proc: ChildProcess;
  url(payload?: [string, string][]): string;
  stop(): Promise<void>;
}

/** Which engine the extension runs: the real `kefer` CLI, or the test double with KEFER_E2E_ENGINE=fake (UI iteration). */
export function engineEnv(): Record<string, string> {
  // CPU onnxruntime for the head retrain's features: on a GPU-less CI machine the WebGPU execution
  // provider can come up on Mesa's software adapter (llvmpipe) and then takes minutes for 200 images.
  if (process.env.KEFER_E2E_ENGINE !== 'fake') return { KEFER_ORT_PROVIDERS: process.env.KEFER_ORT_PROVIDERS ?? 'cpu' };
  return { KEFER_CLI: path.join(REPO, 'test', 'fixtures', 'fake-kefer.mjs'), FAKE_KEFER_STEP_MS: process.env.FAKE_KEFER_STEP_MS ?? '100' };
}

export async function startWorkbench(name: string): Promise<Workbench> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `kefer-${name}-`));
  const workspace = path.join(scratch, 'ws');
  const exts = path.join(scratch, 'exts');
  const ud = path.join(scratch, 'ud');
  fs.mkdirSync(workspace, { recursive: true });
  fs.mkdirSync(exts);
  fs.mkdirSync(path.join(ud, 'User'), { recursive: true });
  fs.writeFileSync(path.join(ud, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none', 'telemetry.telemetryLevel': 'off', 'extensions.autoCheckUpdates': false,
    'workbench.tips.enabled': false, 'security.workspace.trust.enabled': false, 'window.commandCenter': false,
    // the sample run stays small for CI (2 CPU cores, real engine): 20 images/class, <= 20 steps of 16
    'kefer.sample.perClass': 20, 'kefer.sample.epochs': 4, 'kefer.sample.maxSteps': 32, 'kefer.sample.batchSize': 16,
    'kefer.sample.backbone': 'compact', 'kefer.textEncoder': 'standin',
  }));
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string };
  fs.symlinkSync(REPO, path.join(exts, `${pkg.publisher}.${pkg.name}-${pkg.version}`));
  const port = await freePort();
  const log = fs.openSync(path.join(scratch, 'code-server.log'), 'w');
  const xdg = path.join(scratch, 'xdg');
  const proc = spawn(codeServerBin(), [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--user-data-dir', ud, '--extensions-dir', exts,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', workspace,
  ], {
    detached: true, // own process group: stop() kills code-server and its watcher children together
    stdio: ['ignore', log, log],
    env: { ...process.env, ...engineEnv(), XDG_CONFIG_HOME: `${xdg}/config`, XDG_DATA_HOME: `${xdg}/data`, XDG_CACHE_HOME: `${xdg}/cache` },
  });
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`code-server did not start; see ${scratch}/code-server.log`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    port, workspace, scratch, proc,
    url: (payload) => `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}${payload ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : ''}`,
    stop: async () => {
      try {
        if (proc.pid) process.kill(-proc.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 300));
      if (!process.env.KEEP_SCRATCH) fs.rmSync(scratch, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser(): Promise<{ ctx: BrowserContext; page: Page; close: () => Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-chrome-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1500, height: 950 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  return {
    ctx, page,
    close: async () => {
      await ctx.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
