#!/usr/bin/env node
// The `kefer` CLI. Uses the esbuild bundle when built (npm run build), else runs the TypeScript
// sources under tsx in a child process (forwarding signals, so Ctrl-C / SIGTERM still cancel
// training gracefully) so a fresh checkout works without a build step.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
const sources = path.join(__dirname, '..', 'src', 'engine');

/** Newest modification time under dir (0 when it does not exist, as in a packaged extension). */
function newest(dir) {
  let t = 0;
  if (!fs.existsSync(dir)) return t;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

// A bundle older than the sources (a checkout edited since `npm run build`) is never used.
const bundleFresh = fs.existsSync(bundle) && fs.statSync(bundle).mtimeMs >= newest(sources);
if (bundleFresh && !process.env.KEFER_FROM_SOURCE) {
  require(bundle);
} else {
  const { spawn } = require('node:child_process');
  const { pathToFileURL } = require('node:url');
  // Resolved from this file, so the CLI works from any working directory.
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  const main = path.join(__dirname, '..', 'src', 'engine', 'cli', 'main.ts');
  const child = spawn(process.execPath, ['--import', tsx, main, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
}
