// The near tier's perceptual hash: blockhash (blockhash-core, the block-mean-value hash of Yang et al.)
// of a view's thumbnail, 8 x 8 blocks = 64 bits held as two uint32 words.
import { bmvbhash } from 'blockhash-core';
import { THUMB } from './views.js';

const BITS = 8;
const rgba: number[] = new Array<number>(THUMB * THUMB * 4).fill(255);

/** 64-bit blockhash of a zero-mean, unit-norm (high-passed) thumbnail (views.ts), as [high word, low word]. */
export function thumbHash(thumb: Float32Array): [number, number] {
  // Block means are compared with band medians, so any increasing affine map of the values gives the
  // same bits; this one keeps them in a grey-level range for blockhash's tie rule.
  for (let i = 0; i < thumb.length; i++) rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = 128 + 1024 * thumb[i];
  const hex = bmvbhash({ width: THUMB, height: THUMB, data: rgba }, BITS);
  return [parseInt(hex.slice(0, 8), 16) >>> 0, parseInt(hex.slice(8, 16), 16) >>> 0];
}

export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
