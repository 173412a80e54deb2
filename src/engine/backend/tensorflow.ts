// Native TensorFlow through tfjs-node(-gpu). Both are optionalDependencies: their install script
// downloads libtensorflow, so on offline machines they are simply absent and we fall through.
// tfjs-node-gpu 4.x binds libtensorflow 2.9, built for CUDA 11.2 / cuDNN 8.1: on a CUDA 12/13 machine it
// can fail to load, abort the process while creating its GPU device, or spend minutes JIT-compiling its
// kernels for a GPU newer than it knows. So the GPU package is first loaded in a child process with a time
// limit, and only loaded here when that child succeeded: 'auto' falls through instead of crashing or hanging.
import * as tf from '@tensorflow/tfjs-core';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { BackendReport } from '../events.js';

export type TensorflowPackage = '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node';

/** A runtime require, so bundlers leave the optional module alone instead of failing on it. */
const optionalRequire = createRequire(__filename);

/** How long the child may take to load tfjs-node-gpu and run one op (KEFER_TF_PROBE_TIMEOUT_MS). */
const PROBE_TIMEOUT_MS = Number(process.env.KEFER_TF_PROBE_TIMEOUT_MS) || 60_000;

/**
 * Loads `modulePath` in a child Node process, sets tfjs's 'tensorflow' backend there and runs one op.
 * Resolves with why it failed (exit code, signal, timeout, its last error line), or undefined when it worked.
 */
export function probeInChild(modulePath: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<string | undefined> {
  const tfCore = optionalRequire.resolve('@tensorflow/tfjs-core');
  const code = `require(${JSON.stringify(modulePath)});
const tf = require(${JSON.stringify(tfCore)});
Promise.resolve(tf.setBackend('tensorflow')).then((ok) => {
  if (!ok) { console.error('the tensorflow backend did not initialise'); process.exit(3); }
  tf.square(tf.tensor([1, 2])).dataSync();
  process.exit(0);
}, (e) => { console.error(String(e && e.message || e)); process.exit(4); });`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(`did not load and run one op within ${Math.round(timeoutMs / 1000)} s (killed)`);
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(`could not start a probe process: ${e.message}`);
    });
    child.on('exit', (codeOut, signal) => {
      clearTimeout(timer);
      if (codeOut === 0) return resolve(undefined);
      if (signal === 'SIGKILL') return; // the timeout above already answered
      const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('at ') && !l.startsWith('Node.js v'));
      const last = lines.find((l) => /Error\b/.test(l)) ?? lines.pop() ?? '';
      resolve(signal ? `crashed the process loading it (${signal})${last ? `: ${last}` : ''}` : `failed to load (exit ${codeOut})${last ? `: ${last}` : ''}`);
    });
  });
}

/** The module to load for `pkg`: KEFER_TF_GPU_MODULE replaces tfjs-node-gpu (tests use it to simulate a broken install). */
function moduleFor(pkg: TensorflowPackage): string {
  if (pkg === '@tensorflow/tfjs-node-gpu' && process.env.KEFER_TF_GPU_MODULE) return process.env.KEFER_TF_GPU_MODULE;
  return pkg;
}

export async function initTensorflow(pkg: TensorflowPackage, log: (msg: string) => void = () => {}): Promise<BackendReport> {
  const mod = moduleFor(pkg);
  let resolved: string;
  try {
    resolved = optionalRequire.resolve(mod);
  } catch {
    throw new Error(`${pkg}: not installed`);
  }
  if (pkg === '@tensorflow/tfjs-node-gpu') {
    const why = await probeInChild(resolved);
    if (why) throw new Error(`${pkg} ${why} (it needs CUDA 11.2 and cuDNN 8.1; on newer CUDA use --runtime cuda)`);
  }
  try {
    optionalRequire(mod);
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
