// A fast path for the images FER datasets are mostly made of: small 8-bit PNGs (FER2013/FERPlus are 48x48
// grey) enlarged to the model's input size. sharp costs ~1.7 ms of CPU per such image, nearly all of it
// per-call libvips overhead; with the int8 model that is most of an evaluation's time. Here the PNG is
// decoded by fast-png and enlarged by libvips' own bilinear upsizing rule, written out below by hand
// because no package reproduces it. The result equals sharp's to within one grey level on a fraction of a
// percent of the pixels (test/engine/decode-fast.test.ts measures it on real FERPlus images).
// Where the oneDNN addon loads, the enlargement runs compiled there (native/resize_bilinear.h) on the
// plan made here, bit for bit the same (the same test).
import { decode } from 'fast-png';
import { createRequire } from 'node:module';
import { findAddon } from '../util/addonPath.js';

/** Decode budget: 50 megapixels (150 MB as RGB). FER images are 48..224 px; larger ones are refused unread. */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** Row-major 8-bit pixels, `channels` interleaved. */
export interface Pixels8 {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(bytes: Uint8Array): boolean {
  return bytes.length > PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Decodes a PNG when sharp would read the same pixels from it (no colour management involved): 8-bit grey or RGB,
 * no palette, no transparency, no embedded ICC profile (sharp would colour-convert through it).
 * Returns null for anything else (the caller uses sharp). Throws on a corrupt or truncated file.
 */
export function decodeSimplePng(bytes: Uint8Array, maxPixels = Infinity): Pixels8 | null {
  if (!isPng(bytes)) return null;
  // IHDR's width and height (bytes 16..23): an image over the budget goes to sharp, which refuses it unread.
  if (bytes.length >= 24) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(16) * view.getUint32(20) > maxPixels) return null;
  }
  const png = decode(bytes);
  if (png.depth !== 8 || (png.channels !== 1 && png.channels !== 3)) return null;
  if (png.palette || png.transparency || png.iccEmbeddedProfile) return null;
  return { width: png.width, height: png.height, channels: png.channels, data: png.data as Uint8Array };
}

/** Whether resizeLikeVips handles this resize: identity, or an enlargement on both axes. */
export function canResizeLikeVips(width: number, height: number, size: number): boolean {
  return (width === size && height === size) || (width < size && height < size);
}

const SHIFT = 12; // VIPS_INTERPOLATE_SHIFT: coefficients in 1/4096
const ONE = 1 << SHIFT;
const f32 = Math.fround;

/** Source index and float32 fraction of each output coordinate, centre convention (vips_resize's 0.5 shift). */
function axis(inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array; frac: Float32Array } {
  // sharp asks libvips for scale 1 / (in / out); affine maps back with the inverse of that.
  const inverse = 1 / (1 / (inSize / outSize));
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const x = o * inverse - 0.5;
    const i = Math.floor(x);
    frac[o] = x - i;
    // Edges extend by copying the border pixel.
    lo[o] = Math.min(inSize - 1, Math.max(0, i));
    hi[o] = Math.min(inSize - 1, Math.max(0, i + 1));
  }
  return { lo, hi, frac };
}

/**
 * Resizes to size*size RGB (grey repeated to three channels) the way sharp's
 * `.resize(size, size, { fit: 'fill', kernel: 'linear' })` enlarges: libvips' affine with its bilinear
 * interpolator, float32 weights truncated to 12-bit fixed point. Identity when already size*size.
 */
export function resizeLikeVips(img: Pixels8, size: number, opts: { native?: boolean } = {}): Uint8Array {
  const { width: w, height: h, channels: c, data } = img;
  if (!canResizeLikeVips(w, h, size)) throw new RangeError(`resizeLikeVips enlarges only: ${w}x${h} -> ${size}x${size}`);
  const out = new Uint8Array(size * size * 3);
  if (w === size) {
    for (let p = 0; p < size * size; p++) {
      for (let k = 0; k < 3; k++) out[p * 3 + k] = data[p * c + (c === 3 ? k : 0)];
    }
    return out;
  }
  const { xs, ys, weights, rows } = plan(w, h, size);
  // The same loop compiled where the oneDNN addon loads (3-4x faster per image); opts.native false: this one.
  const compiled = opts.native === false ? undefined : compiledResize();
  if (compiled) compiled(data, w, h, c, size, xs.lo, xs.hi, ys.lo, ys.hi, weights, rows, out);
  else if (c === 1) interpolateGrey(data, w, size, xs, ys, weights, rows, out);
  else interpolateRgb(data, w, size, xs, ys, weights, rows, out);
  return out;
}

/**
 * The oneDNN addon's `resizeBilinear` (native/resize_bilinear.h): `out` (size x size x 3) from `src`
 * (h x w x channels) on a plan's indices and fixed-point weights; throws on a plan that does not fit.
 */
export type CompiledResize = (
  src: Uint8Array, w: number, h: number, channels: 1 | 3, size: number,
  xlo: Int32Array, xhi: Int32Array, ylo: Int32Array, yhi: Int32Array, weights: Int32Array, rowWeights: Int32Array, out: Uint8Array,
) => void;

let compiled: CompiledResize | null | undefined;

/**
 * The compiled enlargement where the oneDNN addon is built and loads, else undefined (the JS loop runs).
 * Loaded here, not through runtimes/onednn/addon.ts: data/ sits below runtimes/ (no folder cycles); Node
 * hands both the same module.
 */
export function compiledResize(): CompiledResize | undefined {
  if (compiled === undefined) {
    const file = findAddon('kefer_dnnl.node', 'KEFER_DNNL_ADDON');
    try {
      compiled = (file && (createRequire(__filename)(file) as { resizeBilinear?: CompiledResize }).resizeBilinear) || null;
    } catch {
      compiled = null; // not loadable here (no libdnnl): runtimes/onednn/addon.ts says why where it matters
    }
  }
  return compiled ?? undefined;
}

interface ResizePlan {
  xs: ReturnType<typeof axis>;
  ys: ReturnType<typeof axis>;
  /**
   * Each distinct vertical fraction's size*4 weights, end to end (48 -> 112 has 7), and each output row's
   * index among them: one layout for the JS loops and the addon.
   */
  weights: Int32Array;
  rows: Int32Array;
}

// Datasets come in a handful of image sizes, so plans are kept; the cap only guards odd mixed-size folders.
const plans = new Map<string, ResizePlan>();
const MAX_PLANS = 64;

function plan(w: number, h: number, size: number): ResizePlan {
  const key = `${w}x${h}>${size}`;
  let p = plans.get(key);
  if (!p) {
    const xs = axis(w, size);
    const ys = axis(h, size);
    const byFraction = new Map<number, number>();
    const distinct: Int32Array[] = [];
    const rows = Int32Array.from(ys.frac, (fy) => {
      let i = byFraction.get(fy);
      if (i === undefined) byFraction.set(fy, (i = distinct.push(rowWeights(fy, xs.frac)) - 1));
      return i;
    });
    const weights = new Int32Array(distinct.length * size * 4);
    distinct.forEach((wts, i) => weights.set(wts, i * size * 4));
    if (plans.size >= MAX_PLANS) plans.clear();
    plans.set(key, (p = { xs, ys, weights, rows }));
  }
  return p;
}

/**
 * The four fixed-point weights of each output column for vertical fraction fy: libvips' float32 weight
 * arithmetic, then truncation to 12 bits; the first weight takes the remainder so the four sum to exactly 1.
 */
function rowWeights(fy: number, fxs: Float32Array): Int32Array {
  const wts = new Int32Array(fxs.length * 4);
  const yd = f32(1 - fy);
  for (let ox = 0; ox < fxs.length; ox++) {
    const fx = fxs[ox];
    const c4 = f32(fy * fx);
    const s2 = Math.trunc(ONE * f32(yd * fx));
    const s3 = Math.trunc(ONE * f32(fy - c4));
    const s4 = Math.trunc(ONE * c4);
    wts[ox * 4] = ONE - s2 - s3 - s4;
    wts[ox * 4 + 1] = s2;
    wts[ox * 4 + 2] = s3;
    wts[ox * 4 + 3] = s4;
  }
  return wts;
}

// Whole images in one function each, rows inline: a call per output row kept V8 from optimising the loop
// as a whole (about 1.5-2.4x slower). Grey is written to all three channels.
function interpolateGrey(src: Uint8Array, w: number, size: number, xs: ResizePlan['xs'], ys: ResizePlan['ys'], wts: Int32Array, rows: Int32Array, out: Uint8Array): void {
  const { lo, hi } = xs;
  let o = 0;
  for (let oy = 0; oy < size; oy++) {
    const base = rows[oy] * size * 4;
    const row0 = ys.lo[oy] * w;
    const row1 = ys.hi[oy] * w;
    for (let ox = 0; ox < size; ox++, o += 3) {
      const q = base + ox * 4;
      const a = lo[ox];
      const b = hi[ox];
      const v = (wts[q] * src[row0 + a] + wts[q + 1] * src[row0 + b] + wts[q + 2] * src[row1 + a] + wts[q + 3] * src[row1 + b] + (ONE >> 1)) >> SHIFT;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
  }
}

function interpolateRgb(src: Uint8Array, w: number, size: number, xs: ResizePlan['xs'], ys: ResizePlan['ys'], wts: Int32Array, rows: Int32Array, out: Uint8Array): void {
  const { lo, hi } = xs;
  let o = 0;
  for (let oy = 0; oy < size; oy++) {
    const base = rows[oy] * size * 4;
    const row0 = ys.lo[oy] * w;
    const row1 = ys.hi[oy] * w;
    for (let ox = 0; ox < size; ox++) {
      const q = base + ox * 4;
      const p1 = (row0 + lo[ox]) * 3;
      const p2 = (row0 + hi[ox]) * 3;
      const p3 = (row1 + lo[ox]) * 3;
      const p4 = (row1 + hi[ox]) * 3;
      for (let k = 0; k < 3; k++, o++) {
        out[o] = (wts[q] * src[p1 + k] + wts[q + 1] * src[p2 + k] + wts[q + 2] * src[p3 + k] + wts[q + 3] * src[p4 + k] + (ONE >> 1)) >> SHIFT;
      }
    }
  }
}
