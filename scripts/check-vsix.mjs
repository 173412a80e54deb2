#!/usr/bin/env node
// Opens a .vsix and checks its native files: each has the binary format of the package's target
// (ELF x86-64, ELF aarch64, Mach-O arm64, PE32+ x86-64), and the parts the engine needs are there
// (the SQLite binding, onnxruntime, sharp, Dawn). Used by scripts/package.mjs after every package,
// and by hand: node scripts/check-vsix.mjs out/kefer-studio-win32-x64-0.1.0.vsix [...]
import path from 'node:path';
import yauzl from 'yauzl';

/** The platforms packages are built for (README, "Platforms"). */
export const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64'];

const EXPECTED = { 'linux-x64': 'ELF x86-64', 'linux-arm64': 'ELF aarch64', 'darwin-arm64': 'Mach-O arm64', 'win32-x64': 'PE32+ x86-64' };
/** Files the engine cannot run without, by what they are. */
const REQUIRED = {
  'SQLite binding': /\/@photostructure\/sqlite\/prebuilds\/[^/]+\/[^/]+\.node$/,
  onnxruntime: /\/onnxruntime-node\/bin\/napi-v6\/[^/]+\/[^/]+\/onnxruntime_binding\.node$/,
  sharp: /\/@img\/sharp-[^/]+\/lib\/sharp-[^/]+\.node$/,
  Dawn: /\/webgpu\/dist\/[^/]+\/dawn\.node$/,
  usearch: /\/usearch\/prebuilds\/[^/]+\/usearch\.node$/,
};
const NATIVE_NAME = /\.(node|dylib|dll|exe)$|\.so(\.\d+)*$/;

/**
 * The binary format of a file's first bytes: 'ELF x86-64', 'Mach-O arm64', 'Mach-O universal (arm64,
 * x86_64)', 'PE32+ x86-64', ..., or undefined when it is not an executable format.
 */
export function binaryFormat(b) {
  if (b.length >= 20 && b[0] === 0x7f && b.toString('latin1', 1, 4) === 'ELF') {
    const machine = b[5] === 1 ? b.readUInt16LE(18) : b.readUInt16BE(18);
    const name = { 62: 'x86-64', 183: 'aarch64', 40: 'arm', 3: 'i386' }[machine] ?? `machine ${machine}`;
    return `ELF${b[4] === 2 ? '' : '32'} ${name}`;
  }
  const machoCpu = (cpu) => ({ 0x0100000c: 'arm64', 0x01000007: 'x86_64', 7: 'i386', 12: 'arm' })[cpu] ?? `cpu ${cpu}`;
  if (b.length >= 8 && b.readUInt32LE(0) === 0xfeedfacf) return `Mach-O ${machoCpu(b.readUInt32LE(4))}`;
  if (b.length >= 8 && b.readUInt32BE(0) === 0xcafebabe) {
    const n = b.readUInt32BE(4);
    const cpus = [];
    for (let i = 0; i < n && 8 + 20 * i + 4 <= b.length; i++) cpus.push(machoCpu(b.readUInt32BE(8 + 20 * i)));
    return `Mach-O universal (${cpus.join(', ')})`;
  }
  if (b.length >= 64 && b.toString('latin1', 0, 2) === 'MZ') {
    const pe = b.readUInt32LE(0x3c);
    if (pe + 26 > b.length || b.toString('latin1', pe, pe + 4) !== 'PE\0\0') return 'MZ (not PE)';
    const machine = { 0x8664: 'x86-64', 0xaa64: 'arm64', 0x14c: 'i386' }[b.readUInt16LE(pe + 4)] ?? `machine 0x${b.readUInt16LE(pe + 4).toString(16)}`;
    return `${b.readUInt16LE(pe + 24) === 0x20b ? 'PE32+' : 'PE32'} ${machine}`;
  }
  return undefined;
}

/** Whether a format runs on the target (a universal Mach-O runs where one of its slices does). */
function runsOn(format, target) {
  const want = EXPECTED[target];
  if (format === want) return true;
  return target === 'darwin-arm64' && /^Mach-O universal \(.*\barm64\b/.test(format);
}

function entries(file) {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const out = [];
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (e) => {
        if (e.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(e, (err2, s) => {
          if (err2) return reject(err2);
          // the first 4 KiB hold every header binaryFormat reads
          const chunks = [];
          let n = 0;
          s.on('data', (c) => {
            if (n < 4096) chunks.push(c);
            n += c.length;
          });
          s.on('error', reject);
          s.on('end', () => {
            out.push({ name: e.fileName, head: Buffer.concat(chunks).subarray(0, 4096) });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** { problems, summary } for one package; the target is read from the file name unless given. */
export async function checkVsix(file, target = TARGETS.find((t) => path.basename(file).includes(`-${t}-`))) {
  if (!target) return { problems: [`${file}: no target in the file name (${TARGETS.join(', ')})`], summary: '' };
  const problems = [];
  const formats = new Map();
  const natives = [];
  for (const e of await entries(file)) {
    const format = binaryFormat(e.head);
    if (!format) {
      if (NATIVE_NAME.test(e.name)) problems.push(`${e.name} is not a binary of any known format`);
      continue;
    }
    natives.push(e.name);
    formats.set(format, (formats.get(format) ?? 0) + 1);
    if (!runsOn(format, target)) problems.push(`${e.name} is ${format}, not ${EXPECTED[target]}`);
  }
  const missing = Object.entries(REQUIRED).filter(([, re]) => !natives.some((n) => re.test(n))).map(([what]) => what);
  if (missing.length) problems.push(`missing: ${missing.join(', ')}`);
  const summary = `${natives.length} native files: ${[...formats].map(([f, n]) => `${n} ${f}`).join(', ')}; ${Object.keys(REQUIRED).filter((k) => !missing.includes(k)).join(', ')} present`;
  return { problems, summary };
}

async function main(files) {
  let bad = 0;
  for (const f of files) {
    const r = await checkVsix(f);
    console.log(`${path.basename(f)}: ${r.problems.length ? `FAILED: ${r.problems.join('; ')}` : 'ok'} (${r.summary})`);
    if (r.problems.length) bad++;
  }
  process.exit(bad ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) void main(process.argv.slice(2));
