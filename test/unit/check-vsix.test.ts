// The package check (scripts/check-vsix.mjs): binary formats read from real headers, and a package
// with another platform's binary, or without the SQLite binding, is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yazl from 'yazl';
// @ts-expect-error: a plain .mjs script without types
import { binaryFormat, checkVsix } from '../../scripts/check-vsix.mjs';

const elf = (machine: number) => {
  const b = Buffer.alloc(64);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b.writeUInt16LE(machine, 18);
  return b;
};
const macho = (cpu: number) => {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(0xfeedfacf, 0);
  b.writeUInt32LE(cpu, 4);
  return b;
};
const fat = (...cpus: number[]) => {
  const b = Buffer.alloc(8 + 20 * cpus.length);
  b.writeUInt32BE(0xcafebabe, 0);
  b.writeUInt32BE(cpus.length, 4);
  cpus.forEach((c, i) => b.writeUInt32BE(c, 8 + 20 * i));
  return b;
};
const pe = (machine: number, magic = 0x20b) => {
  const b = Buffer.alloc(512);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(machine, 0x84);
  b.writeUInt16LE(magic, 0x80 + 24);
  return b;
};

test('binaryFormat names ELF, Mach-O (thin and universal) and PE headers, and nothing else', () => {
  assert.equal(binaryFormat(elf(62)), 'ELF x86-64');
  assert.equal(binaryFormat(elf(183)), 'ELF aarch64');
  assert.equal(binaryFormat(macho(0x0100000c)), 'Mach-O arm64');
  assert.equal(binaryFormat(fat(0x01000007, 0x0100000c)), 'Mach-O universal (x86_64, arm64)');
  assert.equal(binaryFormat(pe(0x8664)), 'PE32+ x86-64');
  assert.equal(binaryFormat(pe(0x14c, 0x10b)), 'PE32 i386');
  assert.equal(binaryFormat(Buffer.from('module.exports = 1;\n'.repeat(5))), undefined);
  // this machine's own Node binary is a real one
  const own = fs.readFileSync(process.execPath).subarray(0, 4096);
  assert.match(binaryFormat(own) ?? '', /^(ELF|Mach-O|PE32)/);
});

function vsix(dir: string, name: string, files: Record<string, Buffer>): Promise<string> {
  const file = path.join(dir, name);
  const zip = new yazl.ZipFile();
  for (const [p, b] of Object.entries(files)) zip.addBuffer(b, p);
  zip.end();
  return new Promise((resolve, reject) => {
    zip.outputStream.pipe(fs.createWriteStream(file)).on('close', () => resolve(file)).on('error', reject);
  });
}

const WIN_PARTS = {
  'extension/dist/node_modules/@photostructure/sqlite/prebuilds/win32-x64/@photostructure+sqlite.glibc.node': pe(0x8664),
  'extension/dist/node_modules/onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime_binding.node': pe(0x8664),
  'extension/dist/node_modules/@img/sharp-win32-x64/lib/sharp-win32-x64.node': pe(0x8664),
  'extension/dist/node_modules/webgpu/dist/win32-x64/dawn.node': pe(0x8664),
  'extension/dist/node_modules/usearch/prebuilds/win32-x64/usearch.node': pe(0x8664),
  'extension/dist/cli.js': Buffer.from('"use strict";\n'),
};

test('checkVsix: a package of the right binaries passes; a foreign or missing binary is named', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-vsix-'));
  try {
    const good = await checkVsix(await vsix(dir, 'kefer-studio-win32-x64-0.1.0.vsix', WIN_PARTS));
    assert.deepEqual(good.problems, []);
    assert.match(good.summary, /5 native files: 5 PE32\+ x86-64; SQLite binding, onnxruntime, sharp, Dawn, usearch present/);

    const mixed = await checkVsix(await vsix(dir, 'kefer-studio-win32-x64-0.1.1.vsix', {
      ...WIN_PARTS,
      'extension/dist/node_modules/@img/sharp-win32-x64/lib/libvips.so.42': elf(62),
      'extension/dist/node_modules/onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime.dll': Buffer.from('not a dll'),
    }));
    assert.deepEqual(mixed.problems, [
      'extension/dist/node_modules/@img/sharp-win32-x64/lib/libvips.so.42 is ELF x86-64, not PE32+ x86-64',
      'extension/dist/node_modules/onnxruntime-node/bin/napi-v6/win32/x64/onnxruntime.dll is not a binary of any known format',
    ]);

    const noSqlite = { ...WIN_PARTS } as Record<string, Buffer>;
    delete noSqlite['extension/dist/node_modules/@photostructure/sqlite/prebuilds/win32-x64/@photostructure+sqlite.glibc.node'];
    const missing = await checkVsix(await vsix(dir, 'kefer-studio-win32-x64-0.1.2.vsix', noSqlite));
    assert.deepEqual(missing.problems, ['missing: SQLite binding']);

    // a universal Mach-O runs on darwin-arm64 when it has an arm64 slice, not otherwise
    const darwin = (dawn: Buffer) => ({
      'extension/dist/node_modules/@photostructure/sqlite/prebuilds/darwin-arm64/x.node': macho(0x0100000c),
      'extension/dist/node_modules/onnxruntime-node/bin/napi-v6/darwin/arm64/onnxruntime_binding.node': macho(0x0100000c),
      'extension/dist/node_modules/@img/sharp-darwin-arm64/lib/sharp-darwin-arm64.node': macho(0x0100000c),
      'extension/dist/node_modules/webgpu/dist/darwin-universal/dawn.node': dawn,
      'extension/dist/node_modules/usearch/prebuilds/darwin-arm64+x64/usearch.node': fat(0x01000007, 0x0100000c),
    });
    assert.deepEqual((await checkVsix(await vsix(dir, 'kefer-studio-darwin-arm64-1.vsix', darwin(fat(0x01000007, 0x0100000c))))).problems, []);
    assert.deepEqual((await checkVsix(await vsix(dir, 'kefer-studio-darwin-arm64-2.vsix', darwin(fat(0x01000007))))).problems, [
      'extension/dist/node_modules/webgpu/dist/darwin-universal/dawn.node is Mach-O universal (x86_64), not Mach-O arm64',
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
