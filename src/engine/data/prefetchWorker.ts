// One decode + augment worker of prefetch.ts: decodes a batch's image files as the training thread's image
// cache does (decode.ts decodeImage: plain PNGs through the fast path, everything else through sharp) and
// augments them with the trainer's own seed derivation, so a batch equals the trainer's batch. The result
// travels back as a transferred Float32Array.
import { parentPort } from 'node:worker_threads';
import { augmentInto, type AugmentMode, type Normalisation } from './augment.js';
import { decodeImage } from './decode.js';
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

async function batch(r: PrefetchRequest): Promise<Float32Array> {
  const per = r.size * r.size * 3;
  const x = new Float32Array(r.files.length * per);
  const rng = new Rng(deriveSeed(r.seed, r.epoch, r.step, 1));
  // Absolute files: a dataset rooted at / names them as they are.
  const root = { root: '/' } as Dataset;
  const images = await Promise.all(r.files.map(async (file) => {
    try {
      return await decodeImage(root, { id: file, path: file } as Sample, r.size);
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  }));
  images.forEach((img, i) => augmentInto(img, r.size, r.norm, rng, x, i * per, r.augment));
  return x;
}

parentPort?.on('message', (r: PrefetchRequest) => {
  batch(r).then(
    (x) => parentPort!.postMessage({ id: r.id, x } satisfies PrefetchReply, [x.buffer as ArrayBuffer]),
    (e: Error) => parentPort!.postMessage({ id: r.id, error: e.message } satisfies PrefetchReply),
  );
});
