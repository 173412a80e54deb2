// Problems found while reading a dataset. Readers report each problem to a sink instead of throwing, so
// `checkDataset` can list all of them while `loadDataset` (a throwing sink) stops at the first.
import { DatasetError } from './types.js';

/** Every kind, in the order reports group them; each is one thing the user fixes in one way. */
export const PROBLEM_KINDS = [
  'missing-file', // listed image not on disk, or a required label file missing
  'escapes-root', // a listed path or a symlink that leads outside the dataset root (refused)
  'bad-encoding', // a label line or file name that is not UTF-8
  'bad-line', // malformed line in a label file (columns, name pattern, vote arity)
  'unknown-code', // a label / folder name / vote count that maps to no class or is out of range
  'duplicate-id', // the same id listed twice with the same label (the first is kept)
  'conflicting-label', // the same id listed twice with two labels (both dropped)
  'empty-image', // zero-byte image file (or empty pixels field)
  'not-image', // a file whose bytes are no image format
  'huge-image', // header dimensions over the decode budget (never decoded)
  'wrong-size', // image size is not the layout's (e.g. FER2013 48x48)
  'bad-image', // truncated or corrupt image: the decoder fails
  'bad-layout', // nothing readable: no label file, wrong subset, unknown format
] as const;

export type ProblemKind = (typeof PROBLEM_KINDS)[number];

export interface Problem {
  kind: ProblemKind;
  message: string;
  /** Absolute path of the file (or folder) concerned. */
  file?: string;
  /** 1-based line in `file`. */
  line?: number;
  /** Column or part of the line concerned ("label", "votes", "pixels", "name", ...). */
  field?: string;
  /** Id of the sample the problem drops, when the reader had made one (image checks). */
  sample?: string;
}

export type ProblemSink = (problem: Problem) => void;

/** loadDataset's sink: the first problem is fatal. */
export const throwingSink: ProblemSink = (p) => {
  throw new DatasetError(p.message, p.file, p.line);
};

/** Longest text a report prints of one field: a label line can hold megabytes (a wrong file given as labels). */
export const MAX_FIELD = 240;

/** `s` cut to about `max` characters, saying how long it was: "head… [200,000,077 characters] …tail". */
export function clip(s: string, max = MAX_FIELD): string {
  if (s.length <= max) return s;
  const tail = Math.min(40, Math.floor(max / 4));
  return `${s.slice(0, max - tail)}… [${s.length.toLocaleString('en-US')} characters] …${s.slice(-tail)}`;
}

/** A problem with every text field clipped (what checkDataset keeps: a report never holds a megabyte field). */
export function clipProblem(p: Problem): Problem {
  const long = p.message.length > MAX_FIELD || (p.file?.length ?? 0) > MAX_FIELD || (p.field?.length ?? 0) > MAX_FIELD || (p.sample?.length ?? 0) > MAX_FIELD;
  if (!long) return p;
  // a message often repeats the long field itself: clipped a little longer so its own words survive
  return { ...p, message: clip(p.message, 2 * MAX_FIELD), ...(p.file ? { file: clip(p.file) } : {}), ...(p.field ? { field: clip(p.field) } : {}), ...(p.sample ? { sample: clip(p.sample) } : {}) };
}

/** "file:line [field]" of a problem (empty when it names no file). */
export function problemLocation(p: Problem, rel?: (file: string) => string): string {
  if (!p.file) return p.field ? `[${p.field}]` : '';
  return `${rel ? rel(p.file) : p.file}${p.line !== undefined ? `:${p.line}` : ''}${p.field ? ` [${p.field}]` : ''}`;
}

export function formatProblem(p: Problem, rel?: (file: string) => string): string {
  const where = problemLocation(p, rel);
  return `${where ? `${where}: ` : ''}${p.message} [${p.kind}]`;
}

/** Problems grouped by kind in PROBLEM_KINDS order, each group in report order (one pass). */
export function groupProblems(problems: readonly Problem[]): { kind: ProblemKind; problems: Problem[] }[] {
  const byKind = new Map<ProblemKind, Problem[]>(PROBLEM_KINDS.map((k) => [k, []]));
  for (const p of problems) byKind.get(p.kind)?.push(p);
  return PROBLEM_KINDS.map((kind) => ({ kind, problems: byKind.get(kind)! })).filter((g) => g.problems.length > 0);
}
