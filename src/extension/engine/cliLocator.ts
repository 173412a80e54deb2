// Finds the `kefer` CLI and the runtime that runs it (and the curation worker).
// - Installed .vsix: the bundled dist/cli.js. A development checkout: bin/kefer.js (bundle or tsx sources).
// - Both run on the extension host's own runtime, process.execPath: code-server's or the remote
//   server's Node, or desktop VS Code's Electron with ELECTRON_RUN_AS_NODE. Every native module the
//   engine loads uses Node-API, so no particular Node version (and no node on PATH) is needed.
// kefer.enginePath / kefer.nodePath (and KEFER_CLI, used by tests) override.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** dist/native.json of a packaged extension: the platform and which optional addons it carries. */
export interface PackagedNative {
  target: string;
  onednn: boolean;
  cuda?: boolean;
}

export function readPackagedNative(extensionPath: string): PackagedNative | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(extensionPath, 'dist', 'native.json'), 'utf8')) as PackagedNative;
  } catch {
    return undefined; // a development checkout
  }
}

export function locateCli(extensionPath: string, configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const c = configured?.trim() || env.KEFER_CLI;
  if (c) return path.isAbsolute(c) ? c : path.join(extensionPath, c);
  const dev = path.join(extensionPath, 'bin', 'kefer.js');
  return fs.existsSync(dev) ? dev : path.join(extensionPath, 'dist', 'cli.js');
}

export interface NodeChoice {
  path: string;
  /** what runs the engine, for the output channel's first line */
  why: string;
}

export interface HostRuntime {
  execPath: string;
  versions: { node: string; electron?: string };
}

export function locateNode(configured: string | undefined, host: HostRuntime = { execPath: process.execPath, versions: process.versions }): NodeChoice {
  if (configured?.trim()) return { path: configured.trim(), why: 'kefer.nodePath' };
  const { node, electron } = host.versions;
  return {
    path: host.execPath,
    why: electron ? `the extension host's own runtime: Electron ${electron} as Node ${node} (ELECTRON_RUN_AS_NODE)` : `the extension host's own Node ${node}`,
  };
}
