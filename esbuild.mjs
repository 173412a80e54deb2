// Bundles: the extension host (cjs), the curation worker and CLI (cjs, node), and one browser ESM
// bundle per webview app.
//   node esbuild.mjs                      development: engine packages stay external (node_modules)
//   node esbuild.mjs --package DIR        the .vsix's bundles under DIR (scripts/package.mjs): every
//                                         pure-JS package is bundled; only packages with native
//                                         binaries stay external (DIR/dist/node_modules), no sourcemaps
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const watch = process.argv.includes('--watch');
const pi = process.argv.indexOf('--package');
const pkgRoot = pi > 0 ? process.argv[pi + 1] : undefined;
if (pi > 0 && !pkgRoot) throw new Error('--package needs an output folder');
const out = (p) => (pkgRoot ? path.join(pkgRoot, p) : p);
/** Packages with native binaries (or tfjs-node, which is not shipped): loaded at run time, never bundled. */
export const NATIVE_PACKAGES = ['sharp', 'onnxruntime-node', '@photostructure/sqlite', 'webgpu', 'usearch', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];
const nodeExternal = pkgRoot
  ? ['vscode', 'tsx', ...NATIVE_PACKAGES]
  : ['vscode', '@tensorflow/*', 'sharp', 'onnxruntime-node', '@photostructure/sqlite', 'webgpu', 'usearch', '@huggingface/*', 'tsx'];
// tfjs-core's gradient registrations exist only as its ESM dist tree (extensionless imports that
// Node cannot load at run time), so that one entry is bundled; tfjs keeps its registries on
// globalThis, so the bundled copy registers into the same registry as the external tfjs-core.
const bundleTfjsGradients = {
  name: 'bundle-tfjs-gradients',
  setup(build) {
    build.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\/register_all_gradients/ }, () => ({
      path: createRequire(import.meta.url).resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js'),
    }));
  },
};
const common = { bundle: true, sourcemap: !pkgRoot, logLevel: pkgRoot ? 'warning' : 'info', target: 'es2022', plugins: [bundleTfjsGradients] };

const builds = [
  { ...common, entryPoints: ['src/extension/extension.ts'], outfile: out('dist/extension.js'), platform: 'node', format: 'cjs', external: nodeExternal },
  { ...common, entryPoints: ['src/extension/curation/worker.ts'], outfile: out('dist/curationWorker.js'), platform: 'node', format: 'cjs', external: nodeExternal },
  // the curation worker's UMAP thread (src/extension/curation/umapThread.ts starts it beside the worker)
  { ...common, entryPoints: ['src/extension/curation/umapWorker.ts'], outfile: out('dist/umapWorker.js'), platform: 'node', format: 'cjs', external: nodeExternal },
  // the duplicate finder's scan threads (src/engine/dups/pool.ts starts them beside whichever bundle runs it)
  { ...common, entryPoints: ['src/engine/dups/scanWorker.ts'], outfile: out('dist/dupsScanWorker.js'), platform: 'node', format: 'cjs', external: nodeExternal },
  { ...common, entryPoints: { dashboard: 'src/webviews/dashboard/app.ts', diagnostics: 'src/webviews/diagnostics/app.ts' }, outdir: out('media/dist'), platform: 'browser', format: 'esm', minify: !watch },
];
// The engine CLI is bundled once every command module it registers exists (they are being written in
// parallel); until then bin/kefer.js runs the sources through tsx.
const cliCommands = fs.existsSync('src/engine/cli/commands.ts')
  ? [...fs.readFileSync('src/engine/cli/commands.ts', 'utf8').matchAll(/import\('\.\/([\w-]+)\.js'\)/g)].map((m) => m[1])
  : [];
if (cliCommands.length && cliCommands.every((c) => fs.existsSync(`src/engine/cli/${c}.ts`))) {
  builds.push({ ...common, entryPoints: ['src/engine/cli/main.ts'], outfile: out('dist/cli.js'), platform: 'node', format: 'cjs', external: nodeExternal });
  // `kefer train --workers N` starts this next to dist/cli.js (src/engine/runtimes/tfjs/parallel.ts).
  builds.push({ ...common, entryPoints: ['src/engine/runtimes/tfjs/parallelWorker.ts'], outfile: out('dist/parallelWorker.js'), platform: 'node', format: 'cjs', external: nodeExternal });
  // `kefer train --loader-workers N` starts this next to dist/cli.js (src/engine/data/prefetch.ts).
  builds.push({ ...common, entryPoints: ['src/engine/data/prefetchWorker.ts'], outfile: out('dist/prefetchWorker.js'), platform: 'node', format: 'cjs', external: nodeExternal });
} else if (pkgRoot) {
  throw new Error('the engine CLI cannot be bundled: a command module named in src/engine/cli/commands.ts is missing');
}
// Extension-host test suites (mocha, run inside VS Code / code-server).
if (!pkgRoot && fs.existsSync('test/suite/index.ts')) {
  builds.push({ ...common, entryPoints: ['test/suite/index.ts'], outfile: 'out/test/suite/index.js', platform: 'node', format: 'cjs', external: [...nodeExternal, 'mocha'] });
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
