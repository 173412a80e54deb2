// Public entry of the data layer: load (strict) or check (collect every problem) a dataset spec.
import type { ClassName } from '../classes.js';
import { mapLimit, sampleFile } from './decode.js';
import { inspectImageFile } from './imageCheck.js';
import { clipProblem, type Problem, type ProblemKind } from './problems.js';
import { READERS } from './registry.js';
import { DATA_FORMATS, isDataFormat, toSpec } from './spec.js';
import { DatasetError, type Dataset, type DataSpec, type LayoutVerdict } from './types.js';

export { DATA_FORMATS, formatSpec, parseSpec } from './spec.js';
export { formatProblem, groupProblems, PROBLEM_KINDS, type Problem, type ProblemKind } from './problems.js';
export { createImageCache, decodeBatch, decodeImage, type ImageCache } from './decode.js';
export { generateSyntheticDataset, type SyntheticOptions } from './synthetic.js';
export { DatasetError, describeDataset, type Dataset, type DataSpec, type LayoutVerdict, type Sample } from './types.js';

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
  /** Check every image file: size 0, format, header dimensions, layout size, full decode (default true). */
  images?: boolean;
  concurrency?: number;
  /**
   * Problems kept per kind in the result (default all): a text report shows a few of each, and a million
   * problems (a big dataset given the wrong image folder) need not all be held. Every one is counted.
   */
  keepPerKind?: number;
  /** Told of every problem as it is found (clipped): `--json` streams them instead of keeping them. */
  onProblem?: (p: Problem) => void;
}

export interface CheckResult {
  /** Absent when the spec cannot be read at all (unknown format, no label file, wrong subset, ...). */
  dataset?: Dataset;
  /** The problems kept (all, unless keepPerKind): readers' first (label-file order), then image checks in sample order. */
  problems: Problem[];
  /** Every problem found, counted per kind (kept or not). */
  problemCounts?: Partial<Record<ProblemKind, number>>;
  /** The reader's layout verdict and what it rests on. */
  layout?: LayoutVerdict;
}

/**
 * Reads a dataset and lists every problem instead of stopping at the first: every line is read and,
 * unless `images: false`, every image is checked. Samples whose image has a problem are left out of
 * `dataset` (their problem names the sample), so what is returned is what training may use.
 */
export async function checkDataset(spec: string | DataSpec, opts: CheckOptions = {}): Promise<CheckResult> {
  const problems: Problem[] = [];
  const problemCounts: Partial<Record<ProblemKind, number>> = {};
  const keep = opts.keepPerKind ?? Infinity;
  const add = (found: Problem): void => {
    // clipped as it comes: a problem never keeps a megabyte label line alive
    const p = clipProblem(found);
    const n = (problemCounts[p.kind] = (problemCounts[p.kind] ?? 0) + 1);
    opts.onProblem?.(p);
    if (n <= keep) problems.push(p);
  };
  let dataset: Dataset;
  try {
    const s = toSpec(spec);
    dataset = await readerFor(s)(s, add);
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    add({ kind: 'bad-layout', message: e.reason, file: e.file, line: e.line });
    return { problems, problemCounts };
  }
  if (opts.images ?? true) {
    // Collected per sample, then appended in sample order, so the report does not depend on timing.
    const found = await mapLimit(dataset.samples, opts.concurrency ?? 4, async (sample): Promise<Problem | undefined> => {
      if (sample.pixels) return undefined; // in-memory pixels were checked by the reader
      const file = sampleFile(dataset, sample);
      const f = await inspectImageFile(file, dataset.imageSize);
      return f && clipProblem({ kind: f.kind, message: f.message, file, sample: sample.id });
    });
    const bad = new Set<string>();
    for (const p of found) {
      if (!p) continue;
      add(p);
      bad.add(p.sample!);
    }
    if (bad.size) dataset = { ...dataset, samples: dataset.samples.filter((s) => !bad.has(s.id)) };
  }
  return { dataset, problems, problemCounts, layout: dataset.layout };
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
