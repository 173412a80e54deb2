// Finds the `kefer` CLI and the Node binary to run it with. Tests point KEFER_CLI at a stand-in
// engine; users can set kefer.enginePath. System `node` is preferred because native addons
// (better-sqlite3, sharp) are built for its ABI; Electron's own Node is the fallback.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function locateCli(extensionPath: string, configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const c = configured?.trim() || env.KEFER_CLI;
  if (c) return path.isAbsolute(c) ? c : path.join(extensionPath, c);
  return path.join(extensionPath, 'bin', 'kefer.js');
}

export function locateNode(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (configured?.trim()) return configured.trim();
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, process.platform === 'win32' ? 'node.exe' : 'node');
    if (fs.existsSync(p)) return p;
  }
  return process.execPath;
}
