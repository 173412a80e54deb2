#!/usr/bin/env node
// `npm run package [-- --target linux-x64]`: a platform-specific .vsix with @vscode/vsce.
// It stages the extension in .package/TARGET/ (never the checkout itself, so the development dist/
// keeps resolving node_modules): esbuild bundles (esbuild.mjs --package), the wasm binaries, the
// oneDNN addon where built, and only the run-time files of the packages with native binaries under
// dist/node_modules (the bundles' require() finds them there). Then `vsce ls` must list exactly the
// staged files (and only allowed kinds of file), `vsce package --no-dependencies --target` writes
// out/kefer-studio-TARGET-VERSION.vsix, and the sizes are printed, largest first.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(ROOT);
const require = createRequire(path.join(ROOT, 'package.json'));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const HOST = `${process.platform}-${process.arch}`;
const target = arg('target', HOST);
// The native binaries come from this machine's node_modules; another target's (sharp's @img/sharp-*,
// better-sqlite3's build, onnxruntime's bin/napi-v6/<os>/<arch>) are only installed on that platform.
if (target !== HOST) {
  console.error(`package: --target ${target} needs that platform's native binaries; package it on a ${target} machine (this one is ${HOST})`);
  process.exit(2);
}
const [os_, arch] = target.split('-');
const stage = path.join(ROOT, '.package', target);
const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8'));

// ---- bundles -------------------------------------------------------------------------------------
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(stage, { recursive: true });
execFileSync(process.execPath, ['esbuild.mjs', '--package', stage], { stdio: 'inherit' });

// ---- run-time files of the native packages --------------------------------------------------------
/** The packages a bundle require()s at run time; everything else is inside the bundles. */
const NATIVE_ROOTS = ['better-sqlite3', 'sharp', 'onnxruntime-node', 'webgpu'];
/** Dependencies used only by install scripts or for types: never loaded by the shipped code. */
const INSTALL_ONLY = new Set(['prebuild-install', 'adm-zip', 'global-agent', '@webgpu/types', 'debug']);
/** Files a package needs at run time: JS, native binaries and shared libraries, JSON, its licence. */
function runtimeFile(pkg, rel) {
  const parts = rel.split('/');
  if (/^(LICEN[CS]E|NOTICE|COPYING)/i.test(path.basename(rel))) return true;
  if (!/\.(js|cjs|mjs|json|node)$|\.so(\.\d+)*$/.test(rel)) return false;
  if (['src', 'deps', 'test', 'tests', 'docs', 'script', 'install', 'example', 'examples', '.github'].includes(parts[0])) return false;
  if (pkg === 'better-sqlite3' && parts[0] === 'build') return rel === 'build/Release/better_sqlite3.node';
  if (pkg === 'onnxruntime-node' && parts[0] === 'bin') return parts[2] === os_ && parts[3] === arch; // bin/napi-v6/OS/ARCH
  if (pkg === 'onnxruntime-node' && parts[0] === 'lib') return false; // TypeScript sources
  if (pkg === 'onnxruntime-common' && parts[0] === 'lib') return false;
  if (pkg === 'webgpu' && parts[0] === 'dist') return parts[1] === target || (os_ === 'darwin' && parts[1] === 'darwin-universal');
  if (pkg === 'webgpu' && parts[0] === 'build') return false; // its build/download scripts
  return true;
}
function walk(dir, base = dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') out.push(...walk(p, base));
    } else out.push(path.relative(base, p).split(path.sep).join('/'));
  }
  return out;
}
/** Resolves a package folder the way Node would from `from` (a package folder). */
function packageDir(name, from) {
  for (let d = from; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (d === path.dirname(d)) return undefined;
  }
}
const shipped = new Map(); // name -> source folder
function addPackage(name, from) {
  if (shipped.has(name) || INSTALL_ONLY.has(name)) return;
  const dir = packageDir(name, from);
  if (!dir) throw new Error(`package: ${name} (needed by ${path.relative(ROOT, from) || 'the extension'}) is not installed`);
  shipped.set(name, dir);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const d of Object.keys(pj.dependencies ?? {})) addPackage(d, dir);
  // platform packages (sharp's @img/sharp-linux-x64, ...): only the installed ones for this target
  for (const d of Object.keys(pj.optionalDependencies ?? {})) {
    if (d.includes(target) && packageDir(d, dir)) addPackage(d, dir);
  }
}
for (const r of NATIVE_ROOTS) addPackage(r, ROOT);
const nm = path.join(stage, 'dist', 'node_modules');
for (const [name, dir] of shipped) {
  for (const rel of walk(dir).filter((f) => runtimeFile(name, f))) {
    const dst = path.join(nm, name, rel);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(path.join(dir, rel), dst);
  }
}

// ---- wasm binaries, oneDNN addon, ABI note --------------------------------------------------------
const wasmSrc = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
fs.mkdirSync(path.join(stage, 'dist', 'wasm'));
for (const f of fs.readdirSync(wasmSrc).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmSrc, f), path.join(stage, 'dist', 'wasm', f));
// src/engine/onednn/addon.ts looks for build/kefer_dnnl.node above the bundle: dist/build/ first.
// It links libdnnl.so.2 dynamically (found by the system loader); without it the engine says so
// and trains on onnxruntime.
const addon = path.join(ROOT, 'build', 'kefer_dnnl.node');
const withOnednn = fs.existsSync(addon) && !process.argv.includes('--no-onednn');
if (withOnednn) {
  fs.mkdirSync(path.join(stage, 'dist', 'build'));
  fs.copyFileSync(addon, path.join(stage, 'dist', 'build', 'kefer_dnnl.node'));
}
// The CUDA addon (src/engine/cuda/addon.ts, same lookup) links the CUDA runtime statically and loads
// the driver and cuDNN at run time, so it is shipped wherever it was built; without a GPU it says so.
const cudaAddon = path.join(ROOT, 'build', 'kefer_cuda.node');
const withCuda = fs.existsSync(cudaAddon) && !process.argv.includes('--no-cuda');
if (withCuda) {
  fs.mkdirSync(path.join(stage, 'dist', 'build'), { recursive: true });
  fs.copyFileSync(cudaAddon, path.join(stage, 'dist', 'build', 'kefer_cuda.node'));
}
// better-sqlite3 is built for one Node ABI; the extension runs its child processes with a Node of
// that ABI (src/extension/engine/cliLocator.ts reads this file).
fs.writeFileSync(path.join(stage, 'dist', 'native.json'), JSON.stringify({
  target, node: process.versions.node, modules: process.versions.modules, napi: process.versions.napi, onednn: withOnednn, cuda: withCuda,
}, null, 2) + '\n');

// ---- manifest, readme, changelog, licence, icon, media --------------------------------------------
const m = { ...manifest };
for (const k of ['scripts', 'devDependencies', 'dependencies', 'optionalDependencies', 'allowScripts', 'bin']) delete m[k];
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(m, null, 2) + '\n');
for (const f of ['README.md', 'CHANGELOG.md', 'LICENSE']) fs.copyFileSync(f, path.join(stage, f));
fs.mkdirSync(path.join(stage, 'media'), { recursive: true });
fs.copyFileSync('media/kefer.svg', path.join(stage, 'media', 'kefer.svg'));
fs.cpSync('media/walkthrough', path.join(stage, 'media', 'walkthrough'), { recursive: true });
await makeIcon(path.join(ROOT, manifest.icon));
fs.copyFileSync(manifest.icon, path.join(stage, manifest.icon));
fs.copyFileSync('.vscodeignore', path.join(stage, '.vscodeignore'));

// ---- vsce ls: exactly the staged files, and only allowed kinds -------------------------------------
const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
const listed = execFileSync(process.execPath, [vsce, 'ls', '--no-dependencies'], { cwd: stage, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
const staged = walk(stage).concat(walk(nm).map((f) => `dist/node_modules/${f}`)).filter((f) => f !== '.vscodeignore').sort();
const ALLOWED = [
  /^(package\.json|README\.md|CHANGELOG\.md|LICENSE)$/,
  /^media\/(kefer\.svg|icon\.png|dist\/(dashboard|diagnostics)\.js|walkthrough\/\w+\.md)$/,
  /^dist\/(extension|cli|curationWorker|parallelWorker|prefetchWorker)\.js$/,
  /^dist\/native\.json$/,
  /^dist\/wasm\/tfjs-backend-wasm(-simd|-threaded-simd)?\.wasm$/,
  /^dist\/build\/kefer_(dnnl|cuda)\.node$/,
  /^dist\/node_modules\/(@[\w.-]+\/)?[\w.-]+\/.*\.(js|cjs|mjs|json|node|so(\.\d+)*)$/,
  /^dist\/node_modules\/(@[\w.-]+\/)?[\w.-]+\/(.*\/)?(LICEN[CS]E|NOTICE|COPYING)[\w.-]*$/i,
];
const unexpected = listed.filter((f) => !ALLOWED.some((r) => r.test(f)));
const notListed = staged.filter((f) => !listed.includes(f));
if (unexpected.length || notListed.length) {
  console.error(`package: vsce ls differs from the intended files\n  unexpected: ${unexpected.join(', ') || '-'}\n  staged but not listed: ${notListed.join(', ') || '-'}`);
  process.exit(1);
}

// ---- vsce package ----------------------------------------------------------------------------------
fs.mkdirSync('out', { recursive: true });
const vsix = path.join(ROOT, 'out', `${manifest.name}-${target}-${manifest.version}.vsix`);
execFileSync(process.execPath, [vsce, 'package', '--no-dependencies', '--target', target, '--out', vsix], { cwd: stage, stdio: ['ignore', 'ignore', 'inherit'] });

// ---- sizes ------------------------------------------------------------------------------------------
const mb = (n) => `${(n / 1048576).toFixed(1)} MiB`;
const groupOf = (f) => {
  const mm = /^dist\/node_modules\/((@[\w.-]+\/)?[\w.-]+)\//.exec(f);
  return mm ? mm[1] : f.startsWith('dist/wasm/') ? 'tfjs wasm binaries' : f.startsWith('media/') ? 'media + webview bundles' : f.startsWith('dist/') ? path.basename(f) : 'manifest, readme, changelog, licence';
};
const groups = new Map();
let total = 0;
for (const f of listed) {
  const n = fs.statSync(path.join(stage, f)).size;
  total += n;
  groups.set(groupOf(f), (groups.get(groupOf(f)) ?? 0) + n);
}
console.log(`\n${path.relative(ROOT, vsix)}: ${mb(fs.statSync(vsix).size)} compressed, ${mb(total)} unpacked, ${listed.length} files (oneDNN addon ${withOnednn ? 'included' : 'not built'})`);
for (const [g, n] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`  ${mb(n).padStart(10)}  ${(100 * n / total).toFixed(0).padStart(3)}%  ${g}`);

/** The marketplace icon: the activity-bar glyph, white on the brand colour, 256 px. */
async function makeIcon(file) {
  const glyph = fs.readFileSync(path.join(ROOT, 'media', 'kefer.svg'), 'utf8').replace(/currentColor/g, '#ffffff');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" rx="48" fill="#2f5d8a"/>`
    + `<g transform="translate(32 32) scale(8)">${glyph.replace(/^<svg[^>]*>|<\/svg>\s*$/g, '')}</g></svg>`;
  const styled = svg.replace('<g ', '<g fill="none" stroke="#ffffff" stroke-width="1.6" stroke-linecap="round" ');
  await sharp(Buffer.from(styled)).png().toFile(file);
}
