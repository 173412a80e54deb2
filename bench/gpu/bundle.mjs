// Bundles bench/gpu/step.ts with tfjs into one ESM file for machines without node_modules
// (bench/gpu/webgpu-prepare.sh). Only the `webgpu` package (Dawn's native addon) stays external.
import * as esbuild from 'esbuild';
import { createRequire } from 'node:module';

const out = process.argv[2];
const require = createRequire(import.meta.url);
await esbuild.build({
  entryPoints: ['bench/gpu/step.ts'],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu'],
  // Bundled CommonJS dependencies call require(); ESM output has none.
  banner: { js: "import { createRequire as __kcr } from 'node:module'; const require = __kcr(import.meta.url);" },
  logLevel: 'warning',
  plugins: [{
    // Same as esbuild.mjs: tfjs-core's gradient registrations exist only as this ESM dist file.
    name: 'tfjs-gradients',
    setup(build) {
      build.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\/register_all_gradients/ }, () => ({ path: require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js') }));
    },
  }],
});
