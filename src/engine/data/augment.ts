// Per-sample augmentation of the released code, on RGB bytes, into a normalised float buffer:
// with p = 0.5 a random crop after 4-pixel zero padding, a horizontal flip with p = 0.5,
// mean/std normalisation, then random erasing (p = 0.5, area 0.02..0.25, aspect 0.3..3.3, value 0)
// as torchvision's RandomErasing does after Normalize. The released code pads 4 px at 112 px; at
// other input sizes the padding keeps that proportion (1 px at 32, 2 px at 48), since a 4 px shift
// of a 32 px face moves it by an eighth. 'light' drops the erasing (short runs learn much faster),
// 'none' only normalises. 'affine' is the FER+ paper's (Barsoum et al. 2016; microsoft/FERPlus
// img_util.py distort_img): a random affine map (rotation, skew, per-axis scale, shift) with bilinear
// sampling and a mirrored border, then a horizontal flip; no crop padding, no erasing.
export type AugmentMode = 'standard' | 'light' | 'affine' | 'none';
export const AUGMENT_MODES: readonly AugmentMode[] = ['standard', 'light', 'affine', 'none'];

/** The FER+ training reader's ranges (ferplus.py): shift 8% of the side, scale 1.05, 20 degrees, skew 0.05. */
export const FERPLUS_AFFINE = { maxShift: 0.08, maxScale: 1.05, maxAngleDeg: 20, maxSkew: 0.05 } as const;
import type { Rng } from '../util/rng.js';

export interface Normalisation {
  mean: [number, number, number];
  std: [number, number, number];
}

/**
 * The normalised value of every byte per channel: [c * 256 + byte]. A lookup per value instead of two
 * divisions (evaluation normalises ~38k values per 112 px image); the entries are the same float32 values.
 */
function normalisationTable(norm: Normalisation): Float32Array {
  const key = `${norm.mean.join(',')}/${norm.std.join(',')}`;
  let table = tables.get(key);
  if (!table) {
    table = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) table[c * 256 + v] = (v / 255 - norm.mean[c]) / norm.std[c];
    tables.set(key, table);
  }
  return table;
}
const tables = new Map<string, Float32Array>();

/** Writes the normalised image (no augmentation) into out[offset ..]. */
export function normaliseInto(img: Uint8Array, size: number, norm: Normalisation, out: Float32Array, offset: number): void {
  const table = normalisationTable(norm);
  const n = size * size * 3;
  for (let i = 0; i < n; i += 3) {
    out[offset + i] = table[img[i]];
    out[offset + i + 1] = table[256 + img[i + 1]];
    out[offset + i + 2] = table[512 + img[i + 2]];
  }
}

export function augmentInto(img: Uint8Array, size: number, norm: Normalisation, rng: Rng, out: Float32Array, offset: number, mode: AugmentMode = 'standard'): void {
  if (mode === 'none') return normaliseInto(img, size, norm, out, offset);
  if (mode === 'affine') return affineInto(img, size, norm, rng, out, offset);
  const pad = Math.max(1, Math.round((4 * size) / 112));
  const crop = rng.next() < 0.5;
  const dx = crop ? rng.int(2 * pad + 1) - pad : 0;
  const dy = crop ? rng.int(2 * pad + 1) - pad : 0;
  const flip = rng.next() < 0.5;
  // Zero padding is black in pixel space, i.e. (0 - mean) / std after normalisation.
  const zero = [0, 1, 2].map((c) => -norm.mean[c] / norm.std[c]);
  for (let y = 0; y < size; y++) {
    const sy = y + dy;
    for (let x = 0; x < size; x++) {
      // crop then flip: output column x reads cropped column (size-1-x) when flipped.
      const sx = (flip ? size - 1 - x : x) + dx;
      const o = offset + (y * size + x) * 3;
      if (sy < 0 || sy >= size || sx < 0 || sx >= size) {
        out[o] = zero[0];
        out[o + 1] = zero[1];
        out[o + 2] = zero[2];
        continue;
      }
      const i = (sy * size + sx) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = (img[i + c] / 255 - norm.mean[c]) / norm.std[c];
    }
  }
  if (mode === 'standard' && rng.next() < 0.5) erase(size, rng, out, offset);
}

function erase(size: number, rng: Rng, out: Float32Array, offset: number): void {
  const area = size * size;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(0.02, 0.25);
    const aspect = Math.exp(rng.uniform(Math.log(0.3), Math.log(3.3)));
    const h = Math.round(Math.sqrt(target * aspect));
    const w = Math.round(Math.sqrt(target / aspect));
    if (h >= size || w >= size || h < 1 || w < 1) continue;
    const top = rng.int(size - h + 1);
    const left = rng.int(size - w + 1);
    for (let y = top; y < top + h; y++) out.fill(0, offset + (y * size + left) * 3, offset + (y * size + left + w) * 3);
    return;
  }
}

/** Index into [0, n) with the border mirrored (scipy's 'reflect': ... b a | a b ... y z | z y ...). */
function mirror(i: number, n: number): number {
  const m = ((i % (2 * n)) + 2 * n) % (2 * n);
  return m < n ? m : 2 * n - 1 - m;
}

/**
 * The FER+ paper's augmentation: output pixel p (row, column, from the centre shifted by the random shift)
 * reads the input at centre + A p, A = rotation * skew_y * skew_x * diag(scale_y, scale_x), bilinearly,
 * with a mirrored border; then a horizontal flip with p = 0.5. Parameters drawn as distort_img draws them.
 */
export function affineInto(img: Uint8Array, size: number, norm: Normalisation, rng: Rng, out: Float32Array, offset: number): void {
  const { maxShift, maxScale, maxAngleDeg, maxSkew } = FERPLUS_AFFINE;
  const shiftY = size * maxShift * rng.uniform(-1, 1);
  const shiftX = size * maxShift * rng.uniform(-1, 1);
  const ang = (maxAngleDeg * rng.uniform(-1, 1) * Math.PI) / 180;
  const skY = maxSkew * rng.uniform(-1, 1);
  const skX = maxSkew * rng.uniform(-1, 1);
  const scale = () => {
    const s = rng.uniform(1, maxScale);
    return rng.next() < 0.5 ? 1 / s : s;
  };
  const sY = scale();
  const sX = scale();
  const flip = rng.next() < 0.5;
  // A = R [[1, skY], [0, 1]] [[1, 0], [skX, 1]] diag(sY, sX), in (row, column) coordinates.
  const c = Math.cos(ang), s = Math.sin(ang);
  const k00 = 1 + skY * skX, k01 = skY, k10 = skX, k11 = 1;
  const a00 = (c * k00 - s * k10) * sY, a01 = (c * k01 - s * k11) * sX;
  const a10 = (s * k00 + c * k10) * sY, a11 = (s * k01 + c * k11) * sX;
  const ctr = (size - 1) / 2;
  const table = normalisationTable(norm);
  for (let y = 0; y < size; y++) {
    const py = y - (ctr + shiftY);
    for (let x = 0; x < size; x++) {
      const px = (flip ? size - 1 - x : x) - (ctr + shiftX);
      const iy = ctr + a00 * py + a01 * px;
      const ix = ctr + a10 * py + a11 * px;
      const y0 = Math.floor(iy), x0 = Math.floor(ix);
      const fy = iy - y0, fx = ix - x0;
      const r0 = mirror(y0, size) * size, r1 = mirror(y0 + 1, size) * size;
      const c0 = mirror(x0, size), c1 = mirror(x0 + 1, size);
      const o = offset + (y * size + x) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const v00 = img[(r0 + c0) * 3 + ch], v01 = img[(r0 + c1) * 3 + ch];
        const v10 = img[(r1 + c0) * 3 + ch], v11 = img[(r1 + c1) * 3 + ch];
        const v = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11);
        // the table's endpoints are exact; between bytes the map is linear
        const lo = table[ch * 256];
        out[o + ch] = lo + (v / 255) * (table[ch * 256 + 255] - lo);
      }
    }
  }
}
