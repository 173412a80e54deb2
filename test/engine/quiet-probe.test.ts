// A first run on a machine without a GPU stays quiet: backend probing prints one line per tensor
// backend and none of Dawn's native warnings (it writes "Warning: Couldn't load Vulkan ...
// BackendVk.cpp:368" with its CI's build path straight to fd 2 when it loads in-process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

test("backend 'auto' prints one line per backend and no native stack traces", { timeout: 120000 }, async () => {
  const backend = path.join(ROOT, 'src', 'engine', 'backend', 'index.ts');
  const script = `require(${JSON.stringify(backend)}).initBackend('auto', (m) => console.log(m)).then((b) => console.log('ACTIVE ' + b.name));`;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, timeout: 100000 }, (err, so, se) => (err ? reject(new Error(`${err.message}\n${se}`)) : resolve({ stdout: so, stderr: se })));
  });
  const all = stdout + stderr;
  assert.doesNotMatch(all, /BackendVk\.cpp|\/home\/runner|third_party\/dawn|^\s+at /m, `native warnings leaked:\n${all}`);
  assert.equal(stderr.trim(), '', 'nothing on stderr');
  const lines = stdout.trim().split('\n');
  const active = /^ACTIVE (\w+)$/.exec(lines.at(-1) ?? '')?.[1];
  assert.ok(active, stdout);
  // one line per backend tried (tensorflow covers tfjs-node-gpu and tfjs-node), then the chosen one once
  assert.ok(lines.filter((l) => /tfjs-node/.test(l)).length <= 1, `at most one tensorflow line:\n${stdout}`);
  const webgpu = lines.filter((l) => /^backend: webgpu/.test(l));
  assert.ok(webgpu.length <= 1, `at most one webgpu line:\n${stdout}`);
  if (active !== 'webgpu') assert.match(webgpu[0] ?? '', /^backend: webgpu: \S.*$/, 'says why webgpu was skipped, in one line');
  assert.equal(lines.filter((l) => l.startsWith(`backend: ${active} (`)).length, 1, `the active backend is named once:\n${stdout}`);
});
