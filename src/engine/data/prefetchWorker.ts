// One decode + augment worker of prefetch.ts: decodes a batch's image files as the training thread's image
// cache does (plain 8-bit PNGs that are enlarged through the fast path, pngFastPath.ts; anything else
// through decode.ts decodeImage, i.e. sharp, loaded only then: the GPU machine's bundle has no sharp) and
// augments them with the trainer's own seed derivation, so a batch equals the trainer's batch. The result
// travels back as a transferred Float32Array.
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { augmentInto, type AugmentMode, type Normalisation } from './augment.js';
import { canResizeLikeVips, decodeSimplePng, MAX_IMAGE_PIXELS, resizeLikeVips } from './pngFastPath.js';
import type { Dataset, Sample } from './types.js';
import { deriveSeed, Rng } from '../util/rng.js';

export interface PrefetchRequest {
  id: number;
  files: string[];
  size: number;
  norm: Normalisation;
  augment: AugmentMode;
  seed: number;
  epoch: number;
  step: number;
}
export type PrefetchReply = { id: number; x: Float32Array } | { id: number; error: string };
/** Evaluation's request: the files' RGB bytes at `size`, undecorated (no augmentation, no normalisation). */
export interface DecodeRequest {
  decodeId: number;
  files: string[];
  size: number;
}
export type DecodeReply = { decodeId: number; rgb: Uint8Array } | { decodeId: number; error: string };

/** decode.ts's fast path: a plain 8-bit PNG enlarged to `size`, else null. */
function fastPath(file: string, size: number): Uint8Array | null {
  if (!file.toLowerCase().endsWith('.png')) return null;
  let png: ReturnType<typeof decodeSimplePng>;
  try {
    png = decodeSimplePng(readFileSync(file), MAX_IMAGE_PIXELS);
  } catch {
    return null; // sharp's decode reports what is wrong
  }
  return png && canResizeLikeVips(png.width, png.height, size) ? resizeLikeVips(png, size) : null;
}

/** Everything else through sharp, as the training thread's cache decodes it. */
async function slowPath(file: string, size: number): Promise<Uint8Array> {
  // require, not import(): the worker runs as CommonJS (tsx/cjs in development, a cjs bundle), and
  // import() would bypass tsx's resolution of ./decode.js to decode.ts.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { decodeImage } = require('./decode.js') as typeof import('./decode.js');
  // An absolute file: a dataset rooted at / names it as it is.
  return decodeImage({ root: '/' } as Dataset, { id: file, path: file } as Sample, size);
}

/** One file's RGB bytes at `size`, as the main thread's image cache decodes it; errors name the file. */
async function decodeFile(file: string, size: number): Promise<Uint8Array> {
  try {
    return fastPath(file, size) ?? (await slowPath(file, size));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

async function batch(r: PrefetchRequest): Promise<Float32Array> {
  const per = r.size * r.size * 3;
  const x = new Float32Array(r.files.length * per);
  const rng = new Rng(deriveSeed(r.seed, r.epoch, r.step, 1));
  const images = await Promise.all(r.files.map((file) => decodeFile(file, r.size)));
  images.forEach((img, i) => augmentInto(img, r.size, r.norm, rng, x, i * per, r.augment));
  return x;
}

async function decode(r: DecodeRequest): Promise<Uint8Array> {
  const per = r.size * r.size * 3;
  const rgb = new Uint8Array(r.files.length * per);
  for (let i = 0; i < r.files.length; i++) rgb.set(await decodeFile(r.files[i], r.size), i * per);
  return rgb;
}

parentPort?.on('message', (r: PrefetchRequest | DecodeRequest) => {
  if ('decodeId' in r) {
    decode(r).then(
      (rgb) => parentPort!.postMessage({ decodeId: r.decodeId, rgb } satisfies DecodeReply, [rgb.buffer as ArrayBuffer]),
      (e: Error) => parentPort!.postMessage({ decodeId: r.decodeId, error: e.message } satisfies DecodeReply),
    );
    return;
  }
  batch(r).then(
    (x) => parentPort!.postMessage({ id: r.id, x } satisfies PrefetchReply, [x.buffer as ArrayBuffer]),
    (e: Error) => parentPort!.postMessage({ id: r.id, error: e.message } satisfies PrefetchReply),
  );
});
