// Bundles what bench/gpu/run.sh runs on the device machine (no node_modules there) into OUT_DIR:
// the CUDA tests, the step and epoch benchmarks and the input pipeline's worker, each with tfjs inside.
// Native packages the device run does not use are replaced by stubs that throw when called (the CUDA
// addon is built there and loaded by path; sharp, onnxruntime-node, webgpu, the SQLite binding stay here).
import * as esbuild from 'esbuild';
import { createRequire } from 'node:module';

const out = process.argv[2];
if (!out) throw new Error('usage: node bench/gpu/bundle-cuda.mjs OUT_DIR');
const require = createRequire(import.meta.url);
const STUBBED = /^(onnxruntime-node|sharp|webgpu|@photostructure\/sqlite|@huggingface\/tokenizers)$/;
await esbuild.build({
  entryPoints: {
    'cudaTrain.test': 'test/engine/cudaTrain.test.ts',
    'headReference.test': 'test/engine/headReference.test.ts',
    cudaStep: 'bench/gpu/cudaStep.ts',
    cudaEpoch: 'bench/gpu/cudaEpoch.ts',
    prefetchWorker: 'src/engine/data/prefetchWorker.ts',
  },
  outdir: out,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'error',
  // tfjs-backend-cpu's package.json marks its registering entry side-effect free; keep `import '...'`.
  ignoreAnnotations: true,
  plugins: [
    {
      name: 'tfjs-gradients',
      setup(build) {
        build.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\/register_all_gradients/ }, () => ({ path: require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js') }));
      },
    },
    {
      name: 'stub-native',
      setup(build) {
        build.onResolve({ filter: STUBBED }, (a) => ({ path: a.path, namespace: 'stub' }));
        build.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => ({
          contents: `const fail = () => { throw new Error(${JSON.stringify(`${a.path} is not carried to the device machine`)}); };
module.exports = new Proxy(fail, { get: (_, k) => (k === '__esModule' ? false : k === 'default' ? module.exports : fail) });`,
          loader: 'js',
        }));
      },
    },
  ],
});
