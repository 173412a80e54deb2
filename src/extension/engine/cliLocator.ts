// Finds the `kefer` CLI and the Node binary to run it (and the curation worker) with.
// - Installed .vsix: the bundled dist/cli.js, run by the Node that runs the extension host
//   (process.execPath: code-server's / the remote server's node, or Electron with
//   ELECTRON_RUN_AS_NODE), as long as its ABI is the one the packaged better-sqlite3 was built for
//   (dist/native.json, written by scripts/package.mjs); else a `node` on PATH with that ABI.
// - Development checkout: bin/kefer.js (bundle or tsx sources), with `node` on PATH first, because
//   the checkout's native addons are built for it.
// kefer.enginePath / kefer.nodePath (and KEFER_CLI, used by tests) override both.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** dist/native.json of a packaged extension: what its native modules were built for. */
export interface PackagedNative {
  target: string;
  node: string;
  /** process.versions.modules (the V8 ABI better-sqlite3 is bound to) */
  modules: string;
  onednn: boolean;
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
  /** why this Node, for the output channel; a warning when no Node matches the packaged ABI */
  why: string;
  warning?: boolean;
}

function nodesOnPath(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, process.platform === 'win32' ? 'node.exe' : 'node');
    if (fs.existsSync(p)) out.push(p);
  }
  return out;
}

/** The module ABI of a Node binary, or undefined when it does not run. */
export function nodeAbi(nodePath: string): string | undefined {
  const r = spawnSync(nodePath, ['-p', 'process.versions.modules'], { encoding: 'utf8', timeout: 10000, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function locateNode(
  configured: string | undefined,
  packaged?: PackagedNative,
  env: NodeJS.ProcessEnv = process.env,
  host = { execPath: process.execPath, modules: process.versions.modules, node: process.versions.node },
  abiOf: (p: string) => string | undefined = nodeAbi,
): NodeChoice {
  if (configured?.trim()) return { path: configured.trim(), why: 'kefer.nodePath' };
  if (packaged) {
    if (host.modules === packaged.modules) return { path: host.execPath, why: `the extension host's own Node ${host.node}` };
    const match = nodesOnPath(env).find((p) => abiOf(p) === packaged.modules);
    if (match) return { path: match, why: `${match}: the extension host's Node ABI ${host.modules} differs from the packaged native modules' (${packaged.modules}, Node ${packaged.node})` };
    return {
      path: host.execPath, warning: true,
      why: `the packaged native modules are built for Node ${packaged.node} (ABI ${packaged.modules}) but the extension host runs ABI ${host.modules} and no node on PATH matches; the run store (better-sqlite3) will not load. Set kefer.nodePath to a Node ${packaged.node.split('.')[0]} binary.`,
    };
  }
  const onPath = nodesOnPath(env)[0];
  return onPath ? { path: onPath, why: 'node on PATH (development checkout)' } : { path: host.execPath, why: `the extension host's own Node ${host.node}` };
}
