// Scatter geometry without the DOM (unit-tested): the data-to-screen frame on a robust range, the
// nearest point to a click, and whether a point lies inside a lasso polygon.

export interface Frame {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  width: number;
  height: number;
  pad: number;
}

function quantile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(p * (sorted.length - 1))))];
}

/** The frame: each axis from its 0.5% to its 99.5% quantile (all points when there are few), padded. */
export function frameOf(points: readonly { x: number; y: number }[], width: number, height: number, pad: number): Frame {
  const xs = Float64Array.from(points, (p) => p.x).sort();
  const ys = Float64Array.from(points, (p) => p.y).sort();
  const lo = points.length >= 200 ? 0.005 : 0;
  let [x0, x1, y0, y1] = [quantile(xs, lo), quantile(xs, 1 - lo), quantile(ys, lo), quantile(ys, 1 - lo)];
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  return { x0, x1, y0, y1, width, height, pad };
}

/** Screen position of a point (y up), clamped to the frame's edge. */
export function toScreen(p: { x: number; y: number }, f: Frame): [number, number] {
  const fx = Math.min(1, Math.max(0, (p.x - f.x0) / (f.x1 - f.x0)));
  const fy = Math.min(1, Math.max(0, (p.y - f.y0) / (f.y1 - f.y0)));
  return [f.pad + fx * (f.width - 2 * f.pad), f.height - f.pad - fy * (f.height - 2 * f.pad)];
}

/** Index of the point nearest to `at` on screen within `radius` px, or -1. */
export function nearestPoint(points: readonly { x: number; y: number }[], f: Frame, at: [number, number], radius: number): number {
  let best = -1;
  let bestD = radius * radius;
  points.forEach((p, i) => {
    const [x, y] = toScreen(p, f);
    const d = (x - at[0]) ** 2 + (y - at[1]) ** 2;
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

/** Even-odd rule: is `pt` inside the closed polygon? */
export function insidePolygon(pt: [number, number], poly: readonly [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > pt[1] !== yj > pt[1] && pt[0] < ((xj - xi) * (pt[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
