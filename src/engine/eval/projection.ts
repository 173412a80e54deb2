// 2-D projection of embeddings for the scatter view: PCA by power iteration with deflation.
// Deterministic (fixed start vectors) and linear in N, so it stays cheap at 300,000 samples;
// the paper's t-SNE figure is the inspiration, PCA the affordable default.
export function pca2d(x: Float32Array, n: number, d: number): Float32Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / n;
  const comps: Float64Array[] = [];
  for (let c = 0; c < 2; c++) {
    let v = new Float64Array(d).map((_, j) => Math.sin(7 * j + 3 * c + 1));
    for (let it = 0; it < 30; it++) {
      const next = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        let p = 0;
        for (let j = 0; j < d; j++) p += (x[i * d + j] - mean[j]) * v[j];
        for (let j = 0; j < d; j++) next[j] += p * (x[i * d + j] - mean[j]);
      }
      for (const u of comps) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += next[j] * u[j];
        for (let j = 0; j < d; j++) next[j] -= dot * u[j];
      }
      const norm = Math.hypot(...next) || 1;
      v = next.map((z) => z / norm);
    }
    comps.push(v);
  }
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      let p = 0;
      for (let j = 0; j < d; j++) p += (x[i * d + j] - mean[j]) * comps[c][j];
      out[i * 2 + c] = p;
    }
  }
  return out;
}
