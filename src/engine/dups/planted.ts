// Planted duplicates: altered copies of a real image, made the ways FER datasets acquire their copies
// (re-saved, resized, re-compressed, mirrored, brightened, cropped). The duplicate finder's tests and
// benchmarks plant these among distinct faces and count what each tier finds.
import sharp from 'sharp';
import type { Rng } from '../util/rng.js';

export const TRANSFORMS = ['reencode', 'resize', 'jpeg', 'flip', 'brightness', 'crop'] as const;
export type Transform = (typeof TRANSFORMS)[number];

/** The tier that should find a copy made by each transform (exact: same decoded pixels). */
export const TRANSFORM_TIER: Record<Transform, 'exact' | 'near'> = {
  reencode: 'exact', resize: 'near', jpeg: 'near', flip: 'near', brightness: 'near', crop: 'near',
};

export interface PlantedCopy {
  bytes: Buffer;
  /** File extension the bytes are encoded as. */
  ext: 'png' | 'jpg';
  /** What was done, in words (e.g. "crop 7% (45x45 at 1,2)"). */
  detail: string;
}

/**
 * One altered copy of `source` (a file or encoded image). The random parameters come from `rng`:
 * resize x0.75 / x1.5 / x2; JPEG quality 70-90; brightness +-12..30 grey levels; crop 5-10% of each
 * side's length at a random position; reencode writes the same pixels as an RGB PNG at another
 * compression level (other bytes, same pixels).
 */
export async function plantedCopyOf(source: string | Buffer, t: Transform, rng: Rng): Promise<PlantedCopy> {
  const img = sharp(source);
  const { width = 0, height = 0 } = await img.metadata();
  switch (t) {
    case 'reencode':
      return { bytes: await sharp(source).toColourspace('srgb').png({ compressionLevel: 1 }).toBuffer(), ext: 'png', detail: 'RGB PNG, compression 1' };
    case 'resize': {
      const f = [0.75, 1.5, 2][rng.int(3)];
      const w = Math.round(width * f), h = Math.round(height * f);
      return { bytes: await sharp(source).resize(w, h, { fit: 'fill' }).png().toBuffer(), ext: 'png', detail: `resize x${f} (${w}x${h})` };
    }
    case 'jpeg': {
      const q = 70 + rng.int(21);
      return { bytes: await sharp(source).jpeg({ quality: q }).toBuffer(), ext: 'jpg', detail: `JPEG quality ${q}` };
    }
    case 'flip':
      return { bytes: await sharp(source).flop().png().toBuffer(), ext: 'png', detail: 'horizontal flip' };
    case 'brightness': {
      const d = (12 + rng.int(19)) * (rng.next() < 0.5 ? -1 : 1);
      return { bytes: await sharp(source).linear(1, d).png().toBuffer(), ext: 'png', detail: `brightness ${d > 0 ? '+' : ''}${d}` };
    }
    case 'crop': {
      const p = 0.05 + 0.05 * rng.next();
      const w = Math.max(1, Math.round(width * (1 - p))), h = Math.max(1, Math.round(height * (1 - p)));
      const left = rng.int(width - w + 1), top = rng.int(height - h + 1);
      return { bytes: await sharp(source).extract({ left, top, width: w, height: h }).png().toBuffer(), ext: 'png', detail: `crop ${(100 * p).toFixed(0)}% (${w}x${h} at ${left},${top})` };
    }
  }
}

/** plantedCopyOf's bytes only. */
export async function plantedCopy(source: string | Buffer, t: Transform, rng: Rng): Promise<Buffer> {
  return (await plantedCopyOf(source, t, rng)).bytes;
}
