// Public entry of the data layer: load (strict) or check (collect every problem) a dataset spec.
import type { ClassName } from '../classes.js';
import { mapLimit, verifyImage } from './decode.js';
import type { Problem } from './problems.js';
import { READERS } from './registry.js';
import { DATA_FORMATS, isDataFormat, toSpec } from './spec.js';
import { DatasetError, type Dataset, type DataSpec } from './types.js';

export { DATA_FORMATS, formatSpec, parseSpec } from './spec.js';
export { formatProblem, type Problem, type ProblemKind } from './problems.js';
export { createImageCache, decodeBatch, decodeImage, type ImageCache } from './decode.js';
export { generateSyntheticDataset, type SyntheticOptions } from './synthetic.js';
export { DatasetError, describeDataset, type Dataset, type DataSpec, type Sample } from './types.js';

function readerFor(spec: DataSpec) {
  if (!isDataFormat(spec.format)) {
    throw new DatasetError(`unknown data format '${spec.format}'; known formats: ${DATA_FORMATS.join(', ')}`);
  }
  return READERS[spec.format];
}

/** Reads a dataset; throws DatasetError (with file:line) at the first problem. Images are not decoded. */
export async function loadDataset(spec: string | DataSpec): Promise<Dataset> {
  const s = toSpec(spec);
  return readerFor(s)(s);
}

export interface CheckOptions {
  /** Fully decode every image to find unreadable or truncated files (default true). */
  images?: boolean;
  concurrency?: number;
}

/**
 * Reads a dataset and lists every problem instead of stopping at the first. `dataset` is absent when
 * the spec cannot be read at all (unknown format, no label file, wrong subset, ...).
 */
export async function checkDataset(
  spec: string | DataSpec,
  opts: CheckOptions = {},
): Promise<{ dataset?: Dataset; problems: Problem[] }> {
  const problems: Problem[] = [];
  let dataset: Dataset;
  try {
    const s = toSpec(spec);
    dataset = await readerFor(s)(s, (p) => problems.push(p));
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    problems.push({ kind: 'bad-layout', message: e.reason, file: e.file, line: e.line });
    return { problems };
  }
  if (opts.images ?? true) {
    // Collected per sample, then appended in sample order, so the report does not depend on timing.
    const bad = await mapLimit(dataset.samples, opts.concurrency ?? 4, async (sample): Promise<Problem | undefined> => {
      try {
        await verifyImage(dataset, sample);
        return undefined;
      } catch (e) {
        const err = e as DatasetError;
        return { kind: 'bad-image', message: err.reason, file: err.file };
      }
    });
    for (const p of bad) if (p) problems.push(p);
  }
  return { dataset, problems };
}

export interface ClassCounts {
  classes: ClassName[];
  /** split -> count per class index. */
  splits: Record<string, number[]>;
  /** Count per class over all splits. */
  total: number[];
}

/** Samples per class and split. */
export function countsByClass(dataset: Dataset): ClassCounts {
  const n = dataset.classes.length;
  const splits: Record<string, number[]> = {};
  const total = new Array<number>(n).fill(0);
  for (const s of dataset.samples) {
    (splits[s.split] ??= new Array<number>(n).fill(0))[s.label]++;
    total[s.label]++;
  }
  return { classes: dataset.classes, splits, total };
}
