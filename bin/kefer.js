#!/usr/bin/env node
// The `kefer` CLI. Uses the esbuild bundle when built (npm run build), else runs the TypeScript
// sources through tsx so a fresh checkout works without a build step.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (fs.existsSync(bundle) && !process.env.KEFER_FROM_SOURCE) {
  require(bundle);
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'engine', 'cli', 'main.ts'));
}
