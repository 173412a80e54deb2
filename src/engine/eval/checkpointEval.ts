// Evaluates a saved checkpoint on a dataset (shared by `kefer eval`, `kefer demo` and the extension).
import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import type { Normalisation } from '../data/augment.js';
import { createImageCache } from '../data/decode.js';
import { LoaderPool } from '../data/prefetch.js';
import type { Dataset } from '../data/types.js';
import { l2normalize } from '../losses.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import type { Encoder } from '../model/index.js';
import { evaluate, type EvalOptions, type EvalResult, type RuntimeEncoder } from './evaluate.js';

/** Re-indexes a dataset's labels into the checkpoint's class list, by class name. */
export function alignClasses(dataset: Dataset, classes: string[], where: string): Dataset {
  if (dataset.classes.join() === classes.join()) return dataset;
  const map = dataset.classes.map((c) => classes.indexOf(c));
  const missing = dataset.classes.filter((_, i) => map[i] < 0 && dataset.samples.some((s) => s.label === i));
  if (missing.length) throw new Error(`${where}: the dataset has class(es) ${missing.join(', ')} that the checkpoint does not know (it has ${classes.join(', ')})`);
  return { ...dataset, classes: classes as Dataset['classes'], samples: dataset.samples.map((s) => ({ ...s, label: map[s.label] })) };
}

/**
 * Loader workers that decode beside the main thread: one per core but one (at most 3), for sets large enough
 * to repay starting them (about 0.1 s). With 2 cores a 1,024-image int8 evaluation ran 0.99-1.26x as fast,
 * about 1.07x in the median (alternating pairs, bench/README.md).
 */
export function decodeWorkers(images: number): number {
  return images >= 512 ? Math.min(3, os.availableParallelism() - 1) : 0;
}

/**
 * `log` receives how the checkpoint was adapted on loading (loadCheckpoint's notes and warnings).
 * runtimeEncoder: runs the checkpoint's encoder on a runtime (runtimes/registry.ts createEvalEncoder: kefer
 * eval --runtime onednn|cuda) in batches of its size; default: tfjs.
 */
export async function evaluateCheckpoint(dir: string, dataset: Dataset, opts: EvalOptions & { log?: (message: string) => void; runtimeEncoder?: (encoder: Encoder, norm: Normalisation) => Promise<RuntimeEncoder> } = {}): Promise<EvalResult> {
  const model = await loadCheckpoint(dir, { log: opts.log });
  const native = opts.runtimeEncoder ? await opts.runtimeEncoder(model.encoder, { mean: model.config.mean, std: model.config.std }) : undefined;
  try {
    const ds = alignClasses(dataset, model.config.classes, dir);
    const K = model.config.classes.length;
    const textNorm = tf.tidy(() => l2normalize(tf.tensor2d(model.textEmbeddings, [K, model.textEmbeddings.length / K])));
    const workers = decodeWorkers(ds.samples.length);
    const pool = workers > 0 ? new LoaderPool(workers) : undefined;
    try {
      return await evaluate(
        { encoder: model.encoder, forward: native?.forward, forwardPixels: native?.forwardPixels, transform: model.transform, textNorm, neutralIndex: model.config.neutralIndex, logitScale: model.config.logitScale, norm: { mean: model.config.mean, std: model.config.std }, classes: model.config.classes },
        ds,
        createImageCache(ds, model.config.inputSize, { maxBytes: 0, pool }),
        { ...opts, batchSize: native?.batchSize ?? opts.batchSize },
      );
    } finally {
      textNorm.dispose();
      await pool?.close();
    }
  } finally {
    native?.release();
    model.dispose();
  }
}
