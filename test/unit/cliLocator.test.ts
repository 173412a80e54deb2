// Which engine and which Node the extension runs: the installed .vsix's bundled CLI with the
// extension host's own Node when its ABI matches the packaged native modules, else a matching node
// on PATH; a development checkout's bin/kefer.js with node on PATH; settings override both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { locateCli, locateNode, readPackagedNative, type PackagedNative } from '../../src/extension/engine/cliLocator.js';

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
    fs.writeFileSync(path.join(pkg, 'dist', 'native.json'), JSON.stringify({ target: 'linux-x64', node: '20.20.2', modules: '115', onednn: true }));
    assert.deepEqual(readPackagedNative(pkg), { target: 'linux-x64', node: '20.20.2', modules: '115', onednn: true });
  } finally {
    fs.rmSync(pkg, { recursive: true });
  }
});

test('locateNode: the host Node when its ABI matches the package, else a matching node on PATH, else the host with a warning', () => {
  const bin1 = tempDir();
  const bin2 = tempDir();
  try {
    for (const d of [bin1, bin2]) fs.writeFileSync(path.join(d, 'node'), '');
    const packaged: PackagedNative = { target: 'linux-x64', node: '20.20.2', modules: '115', onednn: false };
    const env = { PATH: [bin1, bin2].join(path.delimiter) };
    const abi = (p: string): string | undefined => (p.startsWith(bin2) ? '115' : '127');
    const code = { execPath: '/opt/code-server/node', modules: '115', node: '20.20.2' };
    const electron = { execPath: '/usr/share/code/code', modules: '132', node: '22.15.0' };

    assert.equal(locateNode('', packaged, env, code, abi).path, '/opt/code-server/node', 'code-server / remote: its own Node');
    const other = locateNode('', packaged, env, electron, abi);
    assert.equal(other.path, path.join(bin2, 'node'), 'desktop Electron ABI: the node on PATH with the packaged ABI');
    assert.ok(!other.warning);
    const none = locateNode('', packaged, { PATH: bin1 }, electron, abi);
    assert.equal(none.path, electron.execPath);
    assert.ok(none.warning);
    assert.match(none.why, /built for Node 20\.20\.2 \(ABI 115\).*kefer\.nodePath/);
    assert.equal(locateNode(' /my/node ', packaged, env, electron, abi).path, '/my/node', 'kefer.nodePath wins');
    assert.equal(locateNode('', undefined, env, code, abi).path, path.join(bin1, 'node'), 'a checkout: the first node on PATH');
    assert.equal(locateNode('', undefined, { PATH: '' }, code, abi).path, code.execPath);
  } finally {
    fs.rmSync(bin1, { recursive: true });
    fs.rmSync(bin2, { recursive: true });
  }
});
