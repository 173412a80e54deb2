// The duplicate finder's pixel arithmetic, apart from any decoder (worker threads load this module, not
// sharp): the canonical form the exact hash is taken of, the hash, and the small grey copy the near tier uses.
import { createHash } from 'node:crypto';

/** Row-major 8-bit grey pixels. */
export interface Grey {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The near tier's thumbnails are 16 px: 48 px of grey keep every detail they use. */
export const GREY_MAX = 48;

export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
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
  // no larger than GREY_MAX (FER's 48 x 48): one pixel a cell, the same values the averaging gives
  if (f === 1) {
    const out = new Uint8Array(width * height);
    if (channels === 1) out.set(data.subarray(0, out.length));
    else if (channels === 2) for (let i = 0; i < out.length; i++) out[i] = data[2 * i];
    else for (let i = 0, o = 0; i < out.length; i++, o += channels) out[i] = Math.round(0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2]);
    return { width, height, data: out };
  }
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

