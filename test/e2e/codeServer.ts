// Starts code-server (a real VS Code workbench, offline) with a fresh profile and a scratch
// workspace, and a headless Debian chromium to drive it. The extension is either this checkout
// (linked unpacked: integration suites, UI iteration) or a packaged .vsix installed into an empty
// extensions folder with `code-server --install-extension`; then code-server runs in its own mount
// namespace in which the checkout (and its node_modules) are replaced by empty read-only folders,
// so anything the installed extension still needed from the checkout fails loudly.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const REPO = path.resolve(__dirname, '..', '..');
export const ARTIFACTS = path.join(REPO, '.test-artifacts');
/** The shared data (FERPlus, FER2013): ../shared/data beside the checkout, or $KEFER_SHARED_DATA. */
export const SHARED_DATA = process.env.KEFER_SHARED_DATA ?? path.resolve(REPO, '..', 'shared', 'data');

/**
 * The workbench the tests run in: KEFER_E2E_CS picks the code-server release (default 4.100.3, on the
 * system Node 20). scripts/install-code-server.sh installs a newer one (4.139.x) with the Node it
 * declares (24, from the npm registry) and records that Node in DIR/.node; such a workbench runs with a
 * PATH that has no `node` at all, as on a machine where code-server brings its own Node.
 */
export interface Host {
  version: string;
  dir: string;
  /** the Node binary that runs code-server (and so its extension host) */
  node: string;
  /** whether code-server brings its own Node (then the PATH offers none) */
  ownNode: boolean;
  /** a short name for artifacts: cs4.100.3-node20 */
  label: string;
}

export function e2eHost(): Host {
  const version = process.env.KEFER_E2E_CS ?? '4.100.3';
  const dir = process.env.KEFER_CS_DIR ?? path.join(REPO, '.cache', `code-server-${version}`);
  const recorded = path.join(dir, '.node');
  const node = fs.existsSync(recorded) ? fs.readFileSync(recorded, 'utf8').trim() : process.execPath;
  const ownNode = fs.realpathSync(node) !== fs.realpathSync(process.execPath);
  const major = execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim();
  return { version, dir, node, ownNode, label: `cs${version}-node${major}` };
}

function entryJs(dir: string): string {
  return path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}

/** A folder of links to every program on the PATH except Node's (node, npm, npx, corepack): a PATH with no node. */
function pathWithoutNode(dir: string, from = process.env.PATH ?? ''): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const d of from.split(path.delimiter).filter(Boolean)) {
    if (!fs.existsSync(d)) continue;
    for (const name of fs.readdirSync(d)) {
      if (/^(node|nodejs|npm|npx|corepack)$/.test(name) || fs.existsSync(path.join(dir, name))) continue;
      fs.symlinkSync(path.join(d, name), path.join(dir, name));
    }
  }
  const check = spawnSync('sh', ['-c', 'command -v node || command -v nodejs'], { env: { PATH: dir }, encoding: 'utf8' });
  if (check.stdout.trim()) throw new Error(`e2e: the PATH without node still finds ${check.stdout.trim()}`);
  return dir;
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
  host: Host;
  port: number;
  workspace: string;
  scratch: string;
  /** the extension's folder as code-server loads it (the installed copy, or a link to the checkout) */
  extensionDir: string;
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

export interface WorkbenchOptions {
  /** install this .vsix (a copy of it, outside the checkout) instead of linking the checkout */
  vsix?: string;
  /** changes the installed copy before code-server starts (e.g. removes the oneDNN addon) */
  alterInstalled?: (extensionDir: string) => void;
  /** user settings on top of the e2e defaults */
  settings?: Record<string, unknown>;
}

/** The e2e's .vsix: $KEFER_E2E_VSIX (scripts/e2e.sh builds it with `npm run package`), or none (the checkout). */
export function e2eVsix(): string | undefined {
  return process.env.KEFER_E2E_VSIX || undefined;
}

/** Real paths of the checkout and of what it links to (node_modules, build/): hidden from an installed extension. */
export function checkoutPaths(): string[] {
  const real = [REPO, path.join(REPO, 'node_modules'), path.join(REPO, 'build')].filter((p) => fs.existsSync(p)).map((p) => fs.realpathSync(p));
  // a folder inside another hidden one is hidden with it (and could not be mounted over once that one is)
  return [...new Set(real)].filter((p) => !real.some((q) => q !== p && p.startsWith(q + path.sep)));
}

// Runs in the new mount namespace: keeps code-server and its Node reachable (bind mounts outside the
// checkout, where .cache/ keeps them), covers each checkout path with an empty read-only tmpfs, checks
// that it worked, then execs code-server on that Node.
const HIDE_CHECKOUT = `set -eu
cs=$1; mnt=$2; node=$3; nodemnt=$4; probe=$5; shift 5
mount --bind "$cs" "$mnt"
touch "$nodemnt"; mount --bind "$node" "$nodemnt"
while [ "$1" != -- ]; do mount -t tmpfs -o ro,size=64k kefer-hidden-checkout "$1"; shift; done; shift
if [ -e "$probe" ]; then echo "e2e: the checkout is still visible ($probe)" >&2; exit 97; fi
exec "$nodemnt" "$mnt/node_modules/code-server/out/node/entry.js" "$@"`;

export async function startWorkbench(name: string, opts: WorkbenchOptions = {}): Promise<Workbench> {
  const host = e2eHost();
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
    ...opts.settings,
  }));
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string };
  const extensionDir = path.join(exts, `${pkg.publisher}.${pkg.name}-${pkg.version}`);
  const xdg = path.join(scratch, 'xdg');
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: `${xdg}/config`, XDG_DATA_HOME: `${xdg}/data`, XDG_CACHE_HOME: `${xdg}/cache` };
  if (host.ownNode) {
    // no node on the PATH; VSCODE_CLI keeps the server from re-reading a login shell's environment
    // (whose PATH would bring the system Node back)
    env.PATH = pathWithoutNode(path.join(scratch, 'bin'));
    env.VSCODE_CLI = '1';
  }
  if (opts.vsix) {
    // only the .vsix travels: code-server installs it like a user would
    const local = path.join(scratch, path.basename(opts.vsix));
    fs.copyFileSync(opts.vsix, local);
    execFileSync(host.node, [entryJs(host.dir), '--install-extension', local, '--extensions-dir', exts, '--user-data-dir', ud], { cwd: scratch, env, stdio: 'pipe' });
    if (!fs.existsSync(path.join(extensionDir, 'package.json'))) throw new Error(`code-server did not install ${local} into ${extensionDir}`);
    opts.alterInstalled?.(extensionDir);
  } else {
    fs.symlinkSync(REPO, extensionDir);
  }
  const port = await freePort();
  const log = fs.openSync(path.join(scratch, 'code-server.log'), 'w');
  const args = [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--user-data-dir', ud, '--extensions-dir', exts,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', workspace,
  ];
  let cmd = host.node;
  let argv = [entryJs(host.dir), ...args];
  if (opts.vsix) {
    try {
      execFileSync('unshare', ['--mount', '--propagation', 'private', 'true'], { stdio: 'pipe' });
    } catch (err) {
      const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
      throw new Error(`cannot hide the checkout from the installed extension: \`unshare --mount\` failed (${why}); it needs root or CAP_SYS_ADMIN`);
    }
    const mnt = path.join(scratch, 'code-server');
    fs.mkdirSync(mnt);
    cmd = 'unshare';
    argv = ['--mount', '--propagation', 'private', 'bash', '-c', HIDE_CHECKOUT, 'hide-checkout', fs.realpathSync(host.dir), mnt, fs.realpathSync(host.node), path.join(scratch, 'node'), path.join(REPO, 'package.json'), ...checkoutPaths(), '--', ...args];
  }
  const proc = spawn(cmd, argv, {
    cwd: scratch,
    detached: true, // own process group: stop() kills code-server and its watcher children together
    stdio: ['ignore', log, log],
    env: { ...env, ...(opts.vsix ? { KEFER_ORT_PROVIDERS: process.env.KEFER_ORT_PROVIDERS ?? 'cpu' } : engineEnv()) },
  });
  let exited: string | undefined;
  proc.on('exit', (code, signal) => (exited = `exited (${code ?? signal})`));
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (exited || Date.now() > deadline) throw new Error(`code-server ${exited ?? 'did not start'}: ${fs.readFileSync(path.join(scratch, 'code-server.log'), 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    host, port, workspace, scratch, proc, extensionDir,
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

/** The KE-FER output channel as code-server saved it (window logs), or '' before the extension wrote to it. */
export function keferOutput(wb: Workbench): string {
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : /KE-FER\.log$/.test(e.name) ? [p] : [];
  });
  const logs = path.join(wb.scratch, 'ud', 'logs');
  return fs.existsSync(logs) ? walk(logs).map((f) => fs.readFileSync(f, 'utf8')).join('\n') : '';
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
