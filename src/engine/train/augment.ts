// Per-sample augmentation of the released code, on RGB bytes, into a normalised float buffer:
// with p = 0.5 a random crop after 4-pixel zero padding, a horizontal flip with p = 0.5,
// mean/std normalisation, then random erasing (p = 0.5, area 0.02..0.25, aspect 0.3..3.3, value 0)
// as torchvision's RandomErasing does after Normalize. The released code pads 4 px at 112 px; at
// other input sizes the padding keeps that proportion (1 px at 32, 2 px at 48), since a 4 px shift
// of a 32 px face moves it by an eighth. 'light' drops the erasing (short runs learn much faster),
// 'none' only normalises.
export type AugmentMode = 'standard' | 'light' | 'none';
export const AUGMENT_MODES: readonly AugmentMode[] = ['standard', 'light', 'none'];
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
