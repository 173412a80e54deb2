// What the duplicate finder keeps of each image: a content hash of its decoded pixels (the exact tier:
// a PNG saved again, as grey or RGB, hashes the same) and a small grey copy (the near tier's input).
// The pixel arithmetic is in pixels.ts; this module decodes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../data/imageCheck.js';
import { decodeSimplePng } from '../data/pngFastPath.js';
import { DatasetError, type Dataset, type Sample } from '../data/types.js';
import { canonicalPixels, exactHash, greyOf, type Grey, type Pixels } from './pixels.js';

export { canonicalPixels, exactHash, greyOf, GREY_MAX, type Grey } from './pixels.js';

export interface Fingerprint {
  /** sha1 (hex) of the decoded pixels and their size, after dropping an opaque alpha and collapsing grey RGB. */
  exact: string;
  /** Grey copy, at most GREY_MAX on its longer side. */
  grey: Grey;
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

/** The fingerprint of one sample's image. */
export async function fingerprint(dataset: Dataset, sample: Sample): Promise<Fingerprint> {
  const px = canonicalPixels(await decodePixels(dataset, sample));
  return { exact: exactHash(px), grey: greyOf(px) };
}

/** Only the exact hash (data check, eval): no grey copy kept. */
export async function exactFingerprint(dataset: Dataset, sample: Sample): Promise<string> {
  return exactHash(canonicalPixels(await decodePixels(dataset, sample)));
}
