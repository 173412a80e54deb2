// Native TensorFlow through tfjs-node(-gpu). Both are optionalDependencies: their install script
// downloads libtensorflow, so on offline machines they are simply absent and we fall through.
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import type { BackendReport } from '../events.js';

export type TensorflowPackage = '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node';

/** A runtime require, so bundlers leave the optional module alone instead of failing on it. */
const optionalRequire = createRequire(__filename);

export async function initTensorflow(pkg: TensorflowPackage, log: (msg: string) => void = () => {}): Promise<BackendReport> {
  try {
    optionalRequire(pkg);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'MODULE_NOT_FOUND' ? 'not installed' : (err instanceof Error ? err.message.split('\n')[0] : String(err));
    throw new Error(`${pkg}: ${why}`);
  }
  // tfjs-node registers 'tensorflow' into the tfjs-core it resolves; a second copy of tfjs-core
  // (version mismatch) would leave ours without it.
  if (!tf.findBackendFactory('tensorflow')) throw new Error(`${pkg}: loaded, but registered no 'tensorflow' backend with this @tensorflow/tfjs-core (version mismatch?)`);
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg}: the 'tensorflow' backend failed to initialise`);
  await tf.ready();
  const gpu = pkg.endsWith('-gpu');
  log(`${pkg} loaded`);
  return { name: 'tensorflow', detail: gpu ? 'libtensorflow (CUDA build)' : 'libtensorflow (CPU)' };
}

/** The 'tensorflow' backend: the CUDA build first, then the CPU one; one error naming why neither loaded. */
export async function initTensorflowAny(log: (msg: string) => void = () => {}): Promise<BackendReport> {
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const) {
    try {
      return await initTensorflow(pkg, log);
    } catch (err) {
      reasons.push(err instanceof Error ? err.message : String(err));
    }
  }
  throw new Error(reasons.join('; '));
}
