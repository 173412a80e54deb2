#!/usr/bin/env node
// `npm run package [-- --target linux-x64 | --all] [--no-onednn] [--no-cuda]`: platform-specific .vsix
// packages with @vscode/vsce, all built on this machine.
// For each target it stages the extension in .package/TARGET/ (never the checkout itself, so the
// development dist/ keeps resolving node_modules): the esbuild bundles (esbuild.mjs --package), the
// wasm binaries, the oneDNN / CUDA addons where this machine built them (its own linux-x64 package
// only), and the run-time files of the packages with native binaries under dist/node_modules (the
// bundles' require() finds them there), with that target's binaries only:
// - onnxruntime-node, webgpu (Dawn) and @photostructure/sqlite carry every platform's binaries;
// - sharp's per-platform @img/* packages come from node_modules on their own platform and from the
//   npm registry (npm pack, cached in .cache/platform-packages) for the others.
// Then `vsce ls` must list exactly the staged files (and only allowed kinds of file), `vsce package
// --no-dependencies --target` writes out/kefer-studio-TARGET-VERSION.vsix, scripts/check-vsix.mjs
// opens it and checks that every native file has the target's binary format, and the sizes are
// printed, largest first.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { checkVsix, TARGETS } from './check-vsix.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(ROOT);
const require = createRequire(path.join(ROOT, 'package.json'));
const HOST = `${process.platform}-${process.arch}`;
const manifest = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');

/** The packages a bundle require()s at run time; everything else is inside the bundles. */
const NATIVE_ROOTS = ['@photostructure/sqlite', 'sharp', 'onnxruntime-node', 'webgpu', 'usearch'];
/** Dependencies used only by install scripts, builds or for types: never loaded by the shipped code. */
const INSTALL_ONLY = new Set(['prebuild-install', 'adm-zip', 'global-agent', '@webgpu/types', 'debug', 'node-addon-api']);
const ALLOWED = [
  /^(package\.json|README\.md|CHANGELOG\.md|LICENSE)$/,
  /^media\/(kefer\.svg|icon\.png|dist\/(dashboard|diagnostics)\.js|walkthrough\/\w+\.md)$/,
  /^dist\/(extension|cli|curationWorker|umapWorker|parallelWorker|prefetchWorker|dupsScanWorker)\.js$/,
  /^dist\/native\.json$/,
  /^dist\/wasm\/tfjs-backend-wasm(-simd|-threaded-simd)?\.wasm$/,
  /^dist\/build\/kefer_(dnnl|cuda)\.node$/,
  /^dist\/python\/kefer_torch\/\w+\.py$/,
  /^dist\/node_modules\/(@[\w.-]+\/)?[\w.-]+\/.*\.(js|cjs|mjs|json|node|dylib|dll|so(\.\d+)*)$/,
  /^dist\/node_modules\/(@[\w.-]+\/)?[\w.-]+\/(.*\/)?(LICEN[CS]E|NOTICE|COPYING)[\w.-]*$/i,
];

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const targets = process.argv.includes('--all') ? TARGETS : [arg('target', HOST)];
for (const t of targets) {
  if (!TARGETS.includes(t)) {
    console.error(`package: no package for ${t}: the targets are ${TARGETS.join(', ')} (README, "Platforms")`);
    process.exit(2);
  }
}
await makeIcon(path.join(ROOT, manifest.icon));
const lines = [];
for (const target of targets) lines.push(await packageTarget(target));
if (lines.length > 1) console.log(`\npackages:\n${lines.map((l) => `  ${l}`).join('\n')}`);

async function packageTarget(target) {
  const stage = path.join(ROOT, '.package', target);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  execFileSync(process.execPath, ['esbuild.mjs', '--package', stage], { stdio: 'inherit' });
  const nm = path.join(stage, 'dist', 'node_modules');
  for (const [name, dir] of nativePackages(target)) {
    for (const rel of walk(dir).filter((f) => runtimeFile(target, name, f))) {
      const dst = path.join(nm, name, rel);
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      fs.copyFileSync(path.join(dir, rel), dst);
    }
  }
  const addons = stageAddons(target, stage);
  stagePython(stage);
  stageManifestAndMedia(stage);

  // vsce ls: exactly the staged files, and only allowed kinds
  const listed = execFileSync(process.execPath, [vsce, 'ls', '--no-dependencies'], { cwd: stage, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  const staged = walk(stage).concat(walk(nm).map((f) => `dist/node_modules/${f}`)).filter((f) => f !== '.vscodeignore').sort();
  const unexpected = listed.filter((f) => !ALLOWED.some((r) => r.test(f)));
  const notListed = staged.filter((f) => !listed.includes(f));
  if (unexpected.length || notListed.length) {
    console.error(`package: ${target}: vsce ls differs from the intended files\n  unexpected: ${unexpected.join(', ') || '-'}\n  staged but not listed: ${notListed.join(', ') || '-'}`);
    process.exit(1);
  }

  fs.mkdirSync('out', { recursive: true });
  const vsix = path.join(ROOT, 'out', `${manifest.name}-${target}-${manifest.version}.vsix`);
  execFileSync(process.execPath, [vsce, 'package', '--no-dependencies', '--target', target, '--out', vsix], { cwd: stage, stdio: ['ignore', 'ignore', 'inherit'] });

  const line = `${path.relative(ROOT, vsix)}: ${printSizes(stage, listed, vsix)} (oneDNN addon ${addons.onednn ? 'included' : 'not included'}, CUDA addon ${addons.cuda ? 'included' : 'not included'})`;
  console.log(line);
  const check = await checkVsix(vsix, target);
  console.log(`  binaries: ${check.summary}`);
  if (check.problems.length) {
    console.error(`package: ${path.relative(ROOT, vsix)}: ${check.problems.join('; ')}`);
    process.exit(1);
  }
  return `${line}; ${check.summary}`;
}

/** name -> source folder of every package the bundles load at run time, with the target's platform packages. */
function nativePackages(target) {
  const shipped = new Map();
  const add = (name, from) => {
    if (shipped.has(name) || INSTALL_ONLY.has(name)) return;
    const dir = packageDir(name, from);
    if (!dir) throw new Error(`package: ${name} (needed by ${path.relative(ROOT, from) || 'the extension'}) is not installed`);
    shipped.set(name, dir);
    const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    for (const d of Object.keys(pj.dependencies ?? {})) add(d, dir);
    // platform packages (sharp's @img/sharp-linux-x64 and @img/sharp-libvips-linux-x64, ...)
    for (const [d, version] of Object.entries(pj.optionalDependencies ?? {})) {
      if (!d.endsWith(`-${target}`) || shipped.has(d)) continue;
      shipped.set(d, (target === HOST && packageDir(d, dir)) || fetchedPackage(d, version));
    }
  };
  for (const r of NATIVE_ROOTS) add(r, ROOT);
  return shipped;
}

/** Files a package needs at run time on the target: JS, its native binaries and libraries, JSON, licence. */
function runtimeFile(target, pkg, rel) {
  const [os_, arch] = target.split('-');
  const parts = rel.split('/');
  if (/^(LICEN[CS]E|NOTICE|COPYING)/i.test(path.basename(rel))) return true;
  if (!/\.(js|cjs|mjs|json|node|dylib|dll)$|\.so(\.\d+)*$/.test(rel)) return false;
  if (['src', 'deps', 'test', 'tests', 'docs', 'script', 'scripts', 'install', 'example', 'examples', '.github'].includes(parts[0])) return false;
  // node-gyp-build picks prebuilds/<platform>-<arch>/*.node; glibc only (no Alpine package: onnxruntime is glibc-only)
  if (pkg === '@photostructure/sqlite' && parts[0] === 'prebuilds') return parts[1] === target && !rel.endsWith('.musl.node');
  if (pkg === '@photostructure/sqlite' && parts[0] === 'dist') return rel === 'dist/index.cjs';
  // bin/napi-v6/OS/ARCH; on macOS the binding loads @rpath/libonnxruntime.1.dylib, and the package's
  // libonnxruntime.1.30.0.dylib beside it is a byte-identical copy (44 MiB) that nothing loads
  if (pkg === 'onnxruntime-node' && parts[0] === 'bin') return parts[2] === os_ && parts[3] === arch && !/\.\d+\.\d+\.\d+\.dylib$/.test(rel);
  if (pkg === 'onnxruntime-node' && parts[0] === 'lib') return false; // TypeScript sources
  if (pkg === 'onnxruntime-common' && parts[0] === 'lib') return false;
  if (pkg === 'webgpu' && parts[0] === 'dist') return parts[1] === target || (os_ === 'darwin' && parts[1] === 'darwin-universal');
  if (pkg === 'webgpu' && parts[0] === 'build') return false; // its build/download scripts
  // usearch: node-gyp-build picks prebuilds/<platform>-<arch>/usearch.node (macOS: one universal binary);
  // the rest of the package is C++ sources, benchmarks and other languages' bindings
  if (pkg === 'usearch') {
    if (parts[0] === 'prebuilds') return parts[1] === target || (os_ === 'darwin' && parts[1] === 'darwin-arm64+x64');
    return rel === 'package.json' || /^javascript\/dist\/(cjs|esm)\/[^/]+\.(js|json)$/.test(rel);
  }
  return true;
}

/** The wasm binaries, the oneDNN / CUDA addons where built, and dist/native.json saying which. */
function stageAddons(target, stage) {
  const wasmSrc = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  fs.mkdirSync(path.join(stage, 'dist', 'wasm'));
  for (const f of fs.readdirSync(wasmSrc).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmSrc, f), path.join(stage, 'dist', 'wasm', f));
  // The addons are built on this machine, so only its own package carries them. src/engine/runtimes/onednn/addon.ts
  // (and cuda/addon.ts) look for build/kefer_*.node above the bundle: dist/build/ first. The oneDNN addon
  // links libdnnl.so.2 dynamically; the CUDA addon links the CUDA runtime statically and loads the
  // driver and cuDNN at run time. Without them the engine says so and trains on onnxruntime.
  const own = target === HOST;
  const copy = (file, flag) => {
    const src = path.join(ROOT, 'build', file);
    if (!own || !fs.existsSync(src) || process.argv.includes(flag)) return false;
    fs.mkdirSync(path.join(stage, 'dist', 'build'), { recursive: true });
    fs.copyFileSync(src, path.join(stage, 'dist', 'build', file));
    return true;
  };
  const addons = { onednn: copy('kefer_dnnl.node', '--no-onednn'), cuda: copy('kefer_cuda.node', '--no-cuda') };
  // What the package carries (the output channel's first line). Every native module is Node-API, so
  // nothing here binds the package to one Node version.
  fs.writeFileSync(path.join(stage, 'dist', 'native.json'), JSON.stringify({ target, ...addons }, null, 2) + '\n');
  return addons;
}

/** The PyTorch trainer (`kefer train --engine torch`; src/engine/torch/python.ts finds it in dist/python). */
function stagePython(stage) {
  const dst = path.join(stage, 'dist', 'python', 'kefer_torch');
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync('python/kefer_torch').filter((f) => f.endsWith('.py'))) fs.copyFileSync(path.join('python/kefer_torch', f), path.join(dst, f));
}

function stageManifestAndMedia(stage) {
  const m = { ...manifest };
  for (const k of ['scripts', 'devDependencies', 'dependencies', 'optionalDependencies', 'allowScripts', 'bin']) delete m[k];
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(m, null, 2) + '\n');
  for (const f of ['README.md', 'CHANGELOG.md', 'LICENSE']) fs.copyFileSync(f, path.join(stage, f));
  fs.mkdirSync(path.join(stage, 'media'), { recursive: true });
  fs.copyFileSync('media/kefer.svg', path.join(stage, 'media', 'kefer.svg'));
  fs.cpSync('media/walkthrough', path.join(stage, 'media', 'walkthrough'), { recursive: true });
  fs.copyFileSync(manifest.icon, path.join(stage, manifest.icon));
  fs.copyFileSync('.vscodeignore', path.join(stage, '.vscodeignore'));
}

/** Prints the package's size by part, largest first; returns the one-line total. */
function printSizes(stage, listed, vsix) {
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
  console.log(`\n${path.relative(ROOT, vsix)}, by part:`);
  for (const [g, n] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`  ${mb(n).padStart(10)}  ${(100 * n / total).toFixed(0).padStart(3)}%  ${g}`);
  return `${mb(fs.statSync(vsix).size)} compressed, ${mb(total)} unpacked, ${listed.length} files`;
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

/**
 * Another platform's package (sharp's @img/sharp-win32-x64, ...), which npm installs only on that
 * platform: fetched from the npm registry once (npm pack runs no install script) into .cache/.
 */
function fetchedPackage(name, version) {
  const dir = path.join(ROOT, '.cache', 'platform-packages', `${name.replace('/', '+')}@${version}`);
  if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.part-`);
  try {
    const tgz = execFileSync('npm', ['pack', '--silent', `${name}@${version}`], { cwd: tmp, encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['xzf', tgz, '--strip-components=1'], { cwd: tmp });
    fs.rmSync(path.join(tmp, tgz));
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`package: could not fetch ${name}@${version} from the npm registry: ${err.message}`);
  }
  return dir;
}

/** The marketplace icon: the activity-bar glyph, white on the brand colour, 256 px. */
async function makeIcon(file) {
  const glyph = fs.readFileSync(path.join(ROOT, 'media', 'kefer.svg'), 'utf8').replace(/currentColor/g, '#ffffff');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" rx="48" fill="#2f5d8a"/>`
    + `<g transform="translate(32 32) scale(8)">${glyph.replace(/^<svg[^>]*>|<\/svg>\s*$/g, '')}</g></svg>`;
  const styled = svg.replace('<g ', '<g fill="none" stroke="#ffffff" stroke-width="1.6" stroke-linecap="round" ');
  await sharp(Buffer.from(styled)).png().toFile(file);
}
