import type { ProblemSink } from './problems.js';
import type { Dataset, DataSpec } from './types.js';

/**
 * One reader per on-disk layout. Problems the reader can step over (bad line, missing image, ...) go to
 * `report`, which throws by default (loadDataset) or collects (checkDataset). Problems that leave
 * nothing to read (no label file, wrong subset) are thrown as DatasetError directly.
 */
export type Reader = (spec: DataSpec, report?: ProblemSink) => Promise<Dataset>;
