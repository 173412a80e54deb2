// UMAP of a run's embedding sample (engine/eval/embeddingSample.ts) for the diagnostics scatter, with
// umap-js (McInnes et al.'s algorithm in plain JavaScript: no native binary, so it packages for every
// platform). Seeded, so a run's picture is the same every time. Rows are L2-normalised first: the
// model compares embeddings by cosine (logits = s cos(v, t_k)), and on unit vectors the Euclidean
// neighbours UMAP finds are the cosine ones.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UMAP } from 'umap-js';
import { EMBEDDING_IDS_FILE, EMBEDDINGS_FILE } from '../../engine/eval/embeddingSample.js';
import { npyToFloat64, readNpy } from '../../engine/util/npy.js';
import { Rng } from '../../engine/util/rng.js';

export interface UmapResult {
  ids: string[];
  /** x, y per id. */
  xy: number[][];
  seconds: number;
}

/** The embedding sample of a run folder, or undefined when the run has none (trained before it was written). */
export function embeddingFiles(runDir: string): { npy: string; ids: string } | undefined {
  const npy = path.join(runDir, EMBEDDINGS_FILE);
  const ids = path.join(runDir, EMBEDDING_IDS_FILE);
  return fs.existsSync(npy) && fs.existsSync(ids) ? { npy, ids } : undefined;
}

export function umapOfRun(runDir: string, opts: { seed?: number; nEpochs?: number } = {}): UmapResult {
  const t0 = performance.now();
  const files = embeddingFiles(runDir);
  if (!files) throw new Error(`${runDir}: no embedding sample (${EMBEDDINGS_FILE}); runs trained by this version write one`);
  const ids = JSON.parse(fs.readFileSync(files.ids, 'utf8')) as unknown;
  const arr = readNpy(files.npy);
  if (!Array.isArray(ids) || arr.shape.length !== 2 || arr.shape[0] !== ids.length) throw new Error(`${files.npy}: shape ${JSON.stringify(arr.shape)} does not match ${files.ids}`);
  const flat = npyToFloat64(arr, files.npy);
  const [n, d] = arr.shape as [number, number];
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row = Array.from(flat.subarray(i * d, (i + 1) * d));
    const norm = Math.hypot(...row) || 1;
    rows.push(row.map((x) => x / norm));
  }
  if (n < 3) return { ids: ids as string[], xy: rows.map((_, i) => [i, 0]), seconds: 0 };
  const rng = new Rng(opts.seed ?? 29);
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.max(2, Math.min(15, n - 1)), minDist: 0.1, nEpochs: opts.nEpochs ?? 200, random: () => rng.next() });
  const xy = umap.fit(rows).map(([x, y]) => [Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4]);
  return { ids: ids as string[], xy, seconds: (performance.now() - t0) / 1000 };
}
