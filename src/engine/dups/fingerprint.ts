// What the duplicate finder keeps of each image: a content hash of its decoded pixels (the exact tier:
// a PNG saved again, as grey or RGB, hashes the same) and a small grey copy (the near tier's input).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../data/imageCheck.js';
import { decodeSimplePng } from '../data/pngFastPath.js';
import { DatasetError, type Dataset, type Sample } from '../data/types.js';

/** Row-major 8-bit grey pixels. */
export interface Grey {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Fingerprint {
  /** sha1 (hex) of the decoded pixels and their size, after dropping an opaque alpha and collapsing grey RGB. */
  exact: string;
  /** Grey copy, at most GREY_MAX on its longer side. */
  grey: Grey;
}

/** The near tier's thumbnails are 16 px: 48 px of grey keep every detail they use. */
export const GREY_MAX = 48;

interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Decoded pixels: plain PNGs through fast-png (the same pixels sharp gives, ~20x cheaper), the rest through sharp. */
async function decodePixels(dataset: Dataset, sample: Sample): Promise<Pixels> {
  if (sample.pixels) return sample.pixels;
  const file = path.join(dataset.root, sample.path);
  if (path.extname(file).toLowerCase() === '.png') {
    try {
      const png = decodeSimplePng(readFileSync(file), MAX_IMAGE_PIXELS);
      if (png) return png;
    } catch {
      // corrupt or unusual: sharp reports it
    }
  }
  try {
    const { data, info } = await sharp(file, { failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS }).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    throw new DatasetError(`cannot decode image ${sample.id}: ${(e as Error).message}`, file);
  }
}

/** Drops an alpha channel that is opaque everywhere and collapses RGB whose channels are equal to grey. */
export function canonicalPixels(p: Pixels): Pixels {
  let { channels, data } = p;
  const n = p.width * p.height;
  if (channels === 2 || channels === 4) {
    const a = channels - 1;
    let opaque = true;
    for (let i = 0; i < n && opaque; i++) opaque = data[i * channels + a] === 255;
    if (opaque) {
      const c = channels - 1;
      const out = new Uint8Array(n * c);
      for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) out[i * c + k] = data[i * channels + k];
      data = out;
      channels = c;
    }
  }
  if (channels === 3) {
    let grey = true;
    for (let i = 0; i < n && grey; i++) grey = data[i * 3] === data[i * 3 + 1] && data[i * 3] === data[i * 3 + 2];
    if (grey) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = data[i * 3];
      data = out;
      channels = 1;
    }
  }
  return { width: p.width, height: p.height, channels, data };
}

/** Luminance (Rec. 601), area-averaged down to at most GREY_MAX on the longer side. */
export function greyOf(p: Pixels): Grey {
  const { width, height, channels, data } = p;
  const f = Math.max(1, Math.max(width, height) / GREY_MAX);
  const w = Math.max(1, Math.round(width / f)), h = Math.max(1, Math.round(height / f));
  const sum = new Float64Array(w * h);
  const cnt = new Float64Array(w * h);
  for (let y = 0; y < height; y++) {
    const oy = Math.min(h - 1, Math.floor((y * h) / height));
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      const v = channels >= 3 ? 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2] : data[o];
      const k = oy * w + Math.min(w - 1, Math.floor((x * w) / width));
      sum[k] += v;
      cnt[k]++;
    }
  }
  const out = new Uint8Array(w * h);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(sum[i] / Math.max(cnt[i], 1));
  return { width: w, height: h, data: out };
}

export function exactHash(p: Pixels): string {
  return createHash('sha1').update(`${p.width}x${p.height}x${p.channels}\n`).update(p.data).digest('hex');
}

/** The fingerprint of one sample's image. */
export async function fingerprint(dataset: Dataset, sample: Sample): Promise<Fingerprint> {
  const px = canonicalPixels(await decodePixels(dataset, sample));
  return { exact: exactHash(px), grey: greyOf(px) };
}

/** Only the exact hash (data check, eval): no grey copy kept. */
export async function exactFingerprint(dataset: Dataset, sample: Sample): Promise<string> {
  return exactHash(canonicalPixels(await decodePixels(dataset, sample)));
}
