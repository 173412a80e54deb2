// Problems found while reading a dataset. Readers report each problem to a sink instead of throwing, so
// `checkDataset` can list all of them while `loadDataset` (a throwing sink) stops at the first.
import { DatasetError } from './types.js';

export type ProblemKind =
  | 'unknown-code' // a label / folder name that maps to no class
  | 'missing-file' // listed image not on disk, or a required label file missing
  | 'duplicate-id'
  | 'bad-image' // unreadable or truncated image
  | 'bad-line' // malformed line in a label file
  | 'bad-layout'; // folder structure the reader does not understand

export interface Problem {
  kind: ProblemKind;
  message: string;
  /** Absolute path of the file (or folder) concerned. */
  file?: string;
  /** 1-based line in `file`. */
  line?: number;
}

export type ProblemSink = (problem: Problem) => void;

/** loadDataset's sink: the first problem is fatal. */
export const throwingSink: ProblemSink = (p) => {
  throw new DatasetError(p.message, p.file, p.line);
};

export function formatProblem(p: Problem, rel?: (file: string) => string): string {
  const where = p.file ? `${rel ? rel(p.file) : p.file}${p.line !== undefined ? `:${p.line}` : ''}: ` : '';
  return `${where}${p.message} [${p.kind}]`;
}
