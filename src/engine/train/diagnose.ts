// After training: the best checkpoint evaluated on the runtime that trained it (inference mode), per-sample
// records (records.jsonl), each set's summary (eval-val.json, eval-train.json) and a 2-D PCA of the
// embeddings for the scatter view (scatter.json), and a seeded sample of the embeddings themselves for the
// panel's UMAP view (embeddingSample.ts).
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImageCache } from '../data/decode.js';
import type { Dataset } from '../data/types.js';
import { evaluate, type EvalModel, type EvalResult } from '../eval/evaluate.js';
import { pca2d } from '../eval/projection.js';
import { EmbeddingSampler } from '../eval/embeddingSample.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { createEvalEncoder } from '../runtimes/registry.js';
import type { Run } from './run.js';

/** Returns the validation set's evaluation (undefined when cancelled, --diagnose none, or no best checkpoint). */
export async function diagnose(run: Run): Promise<EvalResult | undefined> {
  const { inputs } = run;
  const what = inputs.diagnose ?? 'val';
  if (run.cancelled || what === 'none' || !existsSync(run.bestDir)) return undefined;
  const best = await loadCheckpoint(run.bestDir);
  const ev = await createEvalEncoder(run.runtime ?? 'tfjs', best.encoder, { threads: run.cfg.onnxThreads });
  try {
    const model: EvalModel = { ...run.evalModel, encoder: best.encoder, transform: best.transform, forward: ev.forward, forwardPixels: ev.forwardPixels };
    const lines: string[] = [];
    const scatter: { id: string; x: number; y: number }[] = [];
    const sampler = new EmbeddingSampler(best.encoder.featureDim);
    const one = async (set: Dataset, images: ImageCache, file: string) => {
      const r = await evaluate(model, set, images, { signal: inputs.signal, keepEmbeddings: true, batchSize: ev.batchSize });
      // one push per record: a spread of 100k+ arguments overflows the stack
      for (const rec of r.records) lines.push(JSON.stringify(rec));
      sampler.add(r.records.map((rec) => rec.id), r.embeddings!);
      const xy = pca2d(r.embeddings!, r.records.length, best.encoder.featureDim);
      r.records.forEach((rec, i) => scatter.push({ id: rec.id, x: Math.round(xy[2 * i] * 1e4) / 1e4, y: Math.round(xy[2 * i + 1] * 1e4) / 1e4 }));
      await writeFile(path.join(run.dir, file), JSON.stringify(r.summary, null, 2) + '\n');
      return r;
    };
    const valEval = inputs.val && run.valImages ? await one(inputs.val, run.valImages, 'eval-val.json') : undefined;
    if (what === 'all') await one(inputs.train, run.trainImages, 'eval-train.json');
    await writeFile(path.join(run.dir, 'records.jsonl'), lines.join('\n') + (lines.length ? '\n' : ''));
    await writeFile(path.join(run.dir, 'scatter.json'), JSON.stringify(scatter) + '\n');
    if (scatter.length) await sampler.write(run.dir);
    return valEval;
  } finally {
    ev.release();
    best.dispose();
  }
}
