// A seeded sample of a run's embeddings v, kept in the run folder for the diagnostics panel's UMAP
// view (scatter.json holds every record's 2-D PCA; a UMAP of 300,000 points would take the panel's
// worker far too long, and the full embeddings would be hundreds of MB). Files: embeddings.npy
// (float32 [M, D], M <= EMBEDDING_SAMPLE) and embeddings.ids.json (the M record ids, row order).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { encodeNpy } from '../util/npy.js';
import { Rng } from '../util/rng.js';

/** Most embeddings kept per run: a UMAP of this many points takes seconds (umap-js, one core). */
export const EMBEDDING_SAMPLE = 4000;
export const EMBEDDINGS_FILE = 'embeddings.npy';
export const EMBEDDING_IDS_FILE = 'embeddings.ids.json';

/** Collects the evaluated sets' embeddings, then keeps a seeded sample of them. */
export class EmbeddingSampler {
  private readonly sets: { ids: string[]; data: Float32Array }[] = [];

  constructor(private readonly dim: number, private readonly max = EMBEDDING_SAMPLE, private readonly seed = 29) {}

  add(ids: string[], data: Float32Array): void {
    this.sets.push({ ids, data });
  }

  /** The kept rows: every one when there are at most `max`, else `max` drawn without replacement (seeded), in evaluation order. */
  sample(): { ids: string[]; data: Float32Array } {
    const total = this.sets.reduce((a, s) => a + s.ids.length, 0);
    let keep: number[] = Array.from({ length: total }, (_, i) => i);
    if (total > this.max) keep = new Rng(this.seed).shuffle(keep).slice(0, this.max).sort((a, b) => a - b);
    const ids: string[] = [];
    const data = new Float32Array(keep.length * this.dim);
    let set = 0;
    let base = 0;
    keep.forEach((g, row) => {
      while (g >= base + this.sets[set].ids.length) base += this.sets[set++].ids.length;
      const i = g - base;
      ids.push(this.sets[set].ids[i]);
      data.set(this.sets[set].data.subarray(i * this.dim, (i + 1) * this.dim), row * this.dim);
    });
    return { ids, data };
  }

  async write(runDir: string): Promise<number> {
    const s = this.sample();
    await writeFile(path.join(runDir, EMBEDDINGS_FILE), encodeNpy(s.data, [s.ids.length, this.dim]));
    await writeFile(path.join(runDir, EMBEDDING_IDS_FILE), JSON.stringify(s.ids) + '\n');
    return s.ids.length;
  }
}
