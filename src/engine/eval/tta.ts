// Test-time augmentation (`kefer eval --tta N`): each image is scored in N fixed views — itself, its
// mirror, then shifted crops (the training crop's shift, with its zero padding), each plain and mirrored —
// and the softmax probabilities are averaged. Costs N forward passes per image.
import type { Normalisation } from '../data/augment.js';

export interface TtaView {
  dx: number;
  dy: number;
  flip: boolean;
}

export const MAX_TTA_VIEWS = 10;

/** The first n views: identity, flip, then (+s,0), (-s,0), (0,+s), (0,-s) crops, each plain then flipped. */
export function ttaViews(n: number, size: number): TtaView[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_TTA_VIEWS) throw new Error(`--tta: expected 1..${MAX_TTA_VIEWS} views, got ${n}`);
  // the training crop's shift: 4 px at 112, in proportion elsewhere (augment.ts)
  const s = Math.max(1, Math.round((4 * size) / 112));
  const views: TtaView[] = [{ dx: 0, dy: 0, flip: false }, { dx: 0, dy: 0, flip: true }];
  for (const [dx, dy] of [[s, 0], [-s, 0], [0, s], [0, -s]]) views.push({ dx, dy, flip: false }, { dx, dy, flip: true });
  return views.slice(0, n);
}

/** Writes one view of an RGB byte image, normalised, into out[offset ..]. */
export function viewInto(img: Uint8Array, size: number, norm: Normalisation, view: TtaView, out: Float32Array, offset: number): void {
  const zero = [0, 1, 2].map((c) => -norm.mean[c] / norm.std[c]);
  for (let y = 0; y < size; y++) {
    const sy = y + view.dy;
    for (let x = 0; x < size; x++) {
      const sx = (view.flip ? size - 1 - x : x) + view.dx;
      const o = offset + (y * size + x) * 3;
      const inside = sy >= 0 && sy < size && sx >= 0 && sx < size;
      const i = (sy * size + sx) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = inside ? (img[i + c] / 255 - norm.mean[c]) / norm.std[c] : zero[c];
    }
  }
}
