// One decode + augment worker of prefetch.ts: reads a batch's PNG files, decodes and enlarges them as
// sharp would (pngFastPath.ts: fast-png + libvips' bilinear rule, no native code in the thread) and
// augments them with the trainer's own seed derivation, so a batch equals the trainer's batch. The
// result travels back as a transferred Float32Array.
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { canResizeLikeVips, decodeSimplePng, resizeLikeVips } from './pngFastPath.js';
import { augmentInto, type AugmentMode, type Normalisation } from '../train/augment.js';
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

function batch(r: PrefetchRequest): Float32Array {
  const per = r.size * r.size * 3;
  const x = new Float32Array(r.files.length * per);
  const rng = new Rng(deriveSeed(r.seed, r.epoch, r.step, 1));
  r.files.forEach((file, i) => {
    let png: ReturnType<typeof decodeSimplePng>;
    try {
      png = decodeSimplePng(readFileSync(file));
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    if (!png || !canResizeLikeVips(png.width, png.height, r.size)) throw new Error(`${file}: not a plain 8-bit grey/RGB PNG no larger than ${r.size}px (the GPU input pipeline decodes only those)`);
    augmentInto(resizeLikeVips(png, r.size), r.size, r.norm, rng, x, i * per, r.augment);
  });
  return x;
}

parentPort?.on('message', (r: PrefetchRequest) => {
  try {
    const x = batch(r);
    parentPort!.postMessage({ id: r.id, x } satisfies PrefetchReply, [x.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: r.id, error: (e as Error).message } satisfies PrefetchReply);
  }
});
