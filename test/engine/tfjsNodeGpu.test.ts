// tfjs-node-gpu binds libtensorflow 2.9 (CUDA 11.2 / cuDNN 8.1). On today's CUDA 12/13 machines it fails to
// load, aborts while creating its GPU device, or spends minutes JIT-compiling: backend/tensorflow.ts loads it
// in a child process first. These tests replace the package by modules that fail in each of those ways
// (KEFER_TF_GPU_MODULE, the boundary tensorflow.ts owns) and check that 'auto' neither crashes nor hangs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { probeInChild } from '../../src/engine/backend/tensorflow.js';
import { initBackend } from '../../src/engine/backend/index.js';

let dir: string;
const mod = (name: string) => path.join(dir, `${name}.js`);
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kefer-tfgpu-'));
  writeFileSync(mod('abort'), 'process.abort();\n');
  writeFileSync(mod('hang'), 'setInterval(() => {}, 1000);\nwhile (true) {}\n');
  writeFileSync(mod('throws'), "throw new Error('libcudart.so.11.0: cannot open shared object file: No such file or directory');\n");
  writeFileSync(mod('inert'), '// loads, registers no backend\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a tfjs-node-gpu that aborts the process is reported, not fatal', async () => {
  const why = await probeInChild(mod('abort'), 30_000);
  assert.match(why ?? '', /crashed the process loading it \(SIGABRT\)/);
});

test('a tfjs-node-gpu that hangs is killed after the time limit', async () => {
  const t0 = Date.now();
  const why = await probeInChild(mod('hang'), 1500);
  assert.match(why ?? '', /did not load and run one op within 2 s \(killed\)/);
  assert.ok(Date.now() - t0 < 15_000, 'bounded by the limit');
});

test("a tfjs-node-gpu whose libraries are missing gives the loader's message", async () => {
  const why = await probeInChild(mod('throws'), 30_000);
  assert.match(why ?? '', /failed to load \(exit 1\): .*libcudart\.so\.11\.0/);
});

test('a module that registers no tensorflow backend is not taken for one', async () => {
  const why = await probeInChild(mod('inert'), 30_000);
  assert.match(why ?? '', /failed to load \(exit [34]\): .*tensorflow/);
});

test("'auto' with a crashing tfjs-node-gpu falls through to another backend and says why", async () => {
  process.env.KEFER_TF_GPU_MODULE = mod('abort');
  try {
    const logs: string[] = [];
    const rep = await initBackend('auto', (m) => logs.push(m));
    assert.notEqual(rep.name, 'tensorflow');
    assert.ok(logs.some((l) => /tfjs-node-gpu crashed the process loading it \(SIGABRT\).*CUDA 11\.2/.test(l)), logs.join('\n'));
  } finally {
    delete process.env.KEFER_TF_GPU_MODULE;
  }
});
