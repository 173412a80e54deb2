// Which engine and which runtime the extension runs: the installed .vsix's bundled CLI or a
// development checkout's bin/kefer.js, on the extension host's own runtime; settings override both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { locateCli, locateNode, readPackagedNative } from '../../src/extension/engine/cliLocator.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-locator-'));
}

test('locateCli: the bundled dist/cli.js in a package, bin/kefer.js in a checkout, the setting or KEFER_CLI over both', () => {
  const pkg = tempDir();
  const dev = tempDir();
  try {
    fs.mkdirSync(path.join(dev, 'bin'));
    fs.writeFileSync(path.join(dev, 'bin', 'kefer.js'), '');
    assert.equal(locateCli(pkg, '', {}), path.join(pkg, 'dist', 'cli.js'));
    assert.equal(locateCli(dev, undefined, {}), path.join(dev, 'bin', 'kefer.js'));
    assert.equal(locateCli(pkg, '/src/kefer/bin/kefer.js', {}), '/src/kefer/bin/kefer.js', 'kefer.enginePath: a development engine');
    assert.equal(locateCli(pkg, '', { KEFER_CLI: 'x/fake.mjs' }), path.join(pkg, 'x', 'fake.mjs'));
  } finally {
    fs.rmSync(pkg, { recursive: true });
    fs.rmSync(dev, { recursive: true });
  }
});

test('readPackagedNative: dist/native.json of a package; undefined in a checkout', () => {
  const pkg = tempDir();
  try {
    assert.equal(readPackagedNative(pkg), undefined);
    fs.mkdirSync(path.join(pkg, 'dist'));
    fs.writeFileSync(path.join(pkg, 'dist', 'native.json'), JSON.stringify({ target: 'linux-x64', onednn: true, cuda: false }));
    assert.deepEqual(readPackagedNative(pkg), { target: 'linux-x64', onednn: true, cuda: false });
  } finally {
    fs.rmSync(pkg, { recursive: true });
  }
});

test("locateNode: the extension host's own runtime (no node on PATH needed); kefer.nodePath overrides", () => {
  const code = { execPath: '/opt/code-server/lib/node', versions: { node: '24.11.1' } };
  const electron = { execPath: '/usr/share/code/code', versions: { node: '22.19.0', electron: '37.7.0' } };
  assert.deepEqual(locateNode('', code), { path: '/opt/code-server/lib/node', why: "the extension host's own Node 24.11.1" });
  assert.deepEqual(locateNode(undefined, electron), {
    path: '/usr/share/code/code',
    why: "the extension host's own runtime: Electron 37.7.0 as Node 22.19.0 (ELECTRON_RUN_AS_NODE)",
  });
  assert.deepEqual(locateNode(' /my/node ', electron), { path: '/my/node', why: 'kefer.nodePath' });
  // the default argument is this process
  assert.equal(locateNode('').path, process.execPath);
});
