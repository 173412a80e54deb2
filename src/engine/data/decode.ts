// Image decoding for training and evaluation: any sample -> size*size*3 RGB bytes (row-major, interleaved),
// resized bilinearly like torchvision's Resize((size, size)).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from './imageCheck.js';
import { canResizeLikeVips, decodeSimplePng, resizeLikeVips, type Pixels8 } from './pngFastPath.js';
import { decodeOnWorker, type LoaderPool } from './prefetch.js';
import { DatasetError, type Dataset, type Sample } from './types.js';

/** Absolute file of a sample (for messages); pixel-backed samples name their source file. */
export function sampleFile(dataset: Dataset, sample: Sample): string {
  return path.join(dataset.root, sample.path);
}

function source(dataset: Dataset, sample: Sample): sharp.Sharp {
  const px = sample.pixels;
  // failOn 'truncated': real datasets contain JPEGs with harmless warnings, but a cut-off file must fail.
  // limitInputPixels: the header's size is checked before decoding, so a decompression bomb never allocates.
  if (px) return sharp(px.data, { raw: { width: px.width, height: px.height, channels: px.channels }, failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS });
  return sharp(sampleFile(dataset, sample), { failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS });
}

function toRgb(data: Buffer, channels: number, pixels: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const o = i * channels;
    // 1-2 channels: grey (+alpha) repeated; 4: RGB + alpha dropped.
    const r = data[o];
    out[i * 3] = r;
    out[i * 3 + 1] = channels >= 3 ? data[o + 1] : r;
    out[i * 3 + 2] = channels >= 3 ? data[o + 2] : r;
  }
  return out;
}

/**
 * Decodes one sample to size*size*3 RGB. Grey images are repeated to 3 channels. The resize is libvips'
 * bilinear reduce, which (like PIL / torchvision with antialias) averages over the footprint when shrinking.
 * Plain 8-bit PNGs and in-memory pixels that are enlarged (FER2013, FERPlus) take a fast path that resizes
 * as libvips does (pngFastPath.ts); everything else goes through sharp.
 */
export async function decodeImage(dataset: Dataset, sample: Sample, size: number): Promise<Uint8Array> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`decode size must be a positive integer, got ${size}`);
  const fast = await decodeFast(dataset, sample, size);
  return fast ?? decodeWithSharp(dataset, sample, size);
}

/** The fast path's result, or null when the image is not one it reproduces (or cannot read: sharp then reports). */
async function decodeFast(dataset: Dataset, sample: Sample, size: number): Promise<Uint8Array | null> {
  let img: Pixels8 | null = sample.pixels ?? null;
  if (!img) {
    if (path.extname(sample.path).toLowerCase() !== '.png') return null;
    try {
      // Synchronous on purpose: a small local file reads in ~10 us, while fs.promises' open/stat/read/close
      // round trips through the libuv pool cost ~0.25 ms, more than the decode and resize together.
      img = decodeSimplePng(readFileSync(sampleFile(dataset, sample)), MAX_IMAGE_PIXELS);
    } catch {
      return null; // unreadable or corrupt: sharp's decode produces the error the user sees
    }
  }
  return img && canResizeLikeVips(img.width, img.height, size) ? resizeLikeVips(img, size) : null;
}

/** Decodes through sharp/libvips (every format and resize); decodeImage's path for all but the fast cases. */
export async function decodeWithSharp(dataset: Dataset, sample: Sample, size: number): Promise<Uint8Array> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`decode size must be a positive integer, got ${size}`);
  try {
    const { data, info } = await source(dataset, sample)
      .resize(size, size, { fit: 'fill', kernel: 'linear' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return toRgb(data, info.channels, size * size);
  } catch (e) {
    throw new DatasetError(`cannot decode image ${sample.id}: ${(e as Error).message}`, sampleFile(dataset, sample));
  }
}

/** Runs fn over items with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export interface DecodeOptions {
  /** Images decoded at once (sharp runs them on libuv's pool). Default 4. */
  concurrency?: number;
}

/** Decodes samples (by index) into one contiguous N*size*size*3 buffer, ready to become a NHWC tensor. */
export async function decodeBatch(
  dataset: Dataset,
  indices: readonly number[],
  size: number,
  opts: DecodeOptions = {},
): Promise<Uint8Array> {
  const per = size * size * 3;
  const out = new Uint8Array(indices.length * per);
  await mapLimit(indices, opts.concurrency ?? 4, async (idx, k) => {
    out.set(await decodeImage(dataset, dataset.samples[idx], size), k * per);
  });
  return out;
}

export interface ImageCache {
  readonly size: number;
  /** Decoded RGB bytes of sample i; decoded on first use, then served from memory. */
  get(i: number): Promise<Uint8Array>;
  /** Like decodeBatch, through the cache. */
  getBatch(indices: readonly number[]): Promise<Uint8Array>;
  /** Bytes held. */
  readonly bytes: number;
  clear(): void;
}

export interface CacheOptions extends DecodeOptions {
  /** Stop adding entries past this many bytes (later images are decoded on every get). Default 2 GiB. */
  maxBytes?: number;
  /**
   * Loader workers (prefetch.ts) that decode an equal share of each getBatch's uncached PNG files while
   * this thread decodes the rest: a CPU evaluation's decode then takes every core, not one.
   */
  pool?: LoaderPool;
}

/**
 * Decode-once cache for one size: training epochs re-read the same images, and decoding + resizing
 * dominates a small model's step time. Concurrent gets of one image share one decode.
 */
export function createImageCache(dataset: Dataset, size: number, opts: CacheOptions = {}): ImageCache {
  const maxBytes = opts.maxBytes ?? 2 * 1024 ** 3;
  const per = size * size * 3;
  const entries = new Map<number, Promise<Uint8Array>>();
  let bytes = 0;
  const fits = () => bytes + per <= maxBytes;
  // Keeps image i's decode while the budget allows; a failed decode is not cached, so a fixed file can be retried.
  const remember = (i: number, p: Promise<Uint8Array>) => {
    if (!fits()) return;
    bytes += per;
    entries.set(i, p);
    p.catch(() => {
      if (entries.get(i) === p) {
        entries.delete(i);
        bytes -= per;
      }
    });
  };
  const get = (i: number): Promise<Uint8Array> => {
    const hit = entries.get(i);
    if (hit) return hit;
    const sample = dataset.samples[i];
    if (!sample) return Promise.reject(new RangeError(`sample index ${i} out of range 0..${dataset.samples.length - 1}`));
    const p = decodeImage(dataset, sample, size);
    remember(i, p);
    return p;
  };
  const local = async (out: Uint8Array, indices: readonly number[], at: readonly number[]) =>
    void (await mapLimit(at, opts.concurrency ?? 4, async (k) => out.set(await get(indices[k]), k * per)));
  return {
    size,
    get,
    async getBatch(indices) {
      const out = new Uint8Array(indices.length * per);
      const all = indices.map((_, k) => k);
      const pool = opts.pool && !opts.pool.closed ? opts.pool : undefined;
      // Uncached file-backed PNGs can go to a worker (in-memory pixels and other formats stay here).
      const movable = pool ? all.filter((k) => !entries.has(indices[k]) && !dataset.samples[indices[k]]?.pixels && /\.png$/i.test(dataset.samples[indices[k]]?.path ?? '')) : [];
      if (!pool || movable.length < 2) {
        await local(out, indices, all);
        return out;
      }
      // Every worker and this thread an equal share; the workers' shares are sent first, so they run alongside.
      const share = Math.floor(movable.length / (pool.workers.length + 1));
      const remote = pool.workers.map((w, i) => {
        const ks = movable.slice(i * share, (i + 1) * share);
        const files = ks.map((k) => sampleFile(dataset, dataset.samples[indices[k]]));
        const rgb = ks.length ? decodeOnWorker(w, files, size) : Promise.resolve(new Uint8Array(0));
        rgb.catch(() => {}); // awaited below, unless this thread's share fails first
        return { ks, rgb };
      });
      const sent = new Set(remote.flatMap((r) => r.ks));
      await local(out, indices, all.filter((k) => !sent.has(k)));
      for (const r of remote) {
        try {
          const rgb = await r.rgb;
          r.ks.forEach((k, j) => {
            const img = rgb.subarray(j * per, (j + 1) * per);
            out.set(img, k * per);
            // A copy, so a kept image does not hold the whole batch's buffer (copied only when kept).
            if (fits() && !entries.has(indices[k])) remember(indices[k], Promise.resolve(img.slice()));
          });
        } catch {
          await local(out, indices, r.ks); // decoded here: this thread's decode names the file that fails
        }
      }
      return out;
    },
    get bytes() {
      return bytes;
    },
    clear() {
      entries.clear();
      bytes = 0;
    },
  };
}
