// CK+48: class folders of S<subject>_<seq>_<frame>.png. Cross-validation folds split by subject, never by
// file, because consecutive frames of one sequence are near-duplicates.
import path from 'node:path';
import { classesOption, classList, dedupe, imageSizeOption, indexIn } from '../common.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type Sample } from '../types.js';
import { scanClassFolders } from './folder.js';

const NAME = /^S(\d+)_(\d+)_(\d+)\.[a-z]+$/i;

/** Parses "fold3of10" (optionally "/train" or "/test") into 1-based fold k of n. */
export function parseFold(split: string): { k: number; n: number; part?: 'train' | 'test' } | undefined {
  const m = /^fold(\d+)of(\d+)(?:[/:.-](train|test))?$/i.exec(split.trim());
  if (!m) return undefined;
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (n < 2 || k < 1 || k > n) return undefined;
  return { k, n, part: m[3]?.toLowerCase() as 'train' | 'test' | undefined };
}

/**
 * Subjects sorted by number and dealt round-robin into n folds: deterministic, and every fold gets
 * whole subjects. Returns subject -> 1-based fold.
 */
export function subjectFolds(subjects: Iterable<number>, n: number): Map<number, number> {
  const sorted = [...new Set(subjects)].sort((a, b) => a - b);
  return new Map(sorted.map((s, i) => [s, (i % n) + 1]));
}

export async function readCkplus(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const fold = spec.split !== undefined ? parseFold(spec.split) : undefined;
  if (spec.split !== undefined && !fold) {
    throw new DatasetError(`ckplus split must look like fold3of10 (or fold3of10/train, fold3of10/test); got '${spec.split}'`);
  }
  // Folds are computed over the whole folder, so the folder scan must not filter by split.
  const scan = await scanClassFolders({ ...spec, split: undefined }, report);
  const classes = classList(classesOption(spec, 8));
  const parsed: (Sample & { file: string; subject: number })[] = [];
  for (const s of scan.samples) {
    const base = path.basename(s.file);
    const m = NAME.exec(base);
    if (!m) {
      report({ kind: 'bad-line', message: `file name '${base}' is not S<subject>_<seq>_<frame>.png`, file: s.file, field: 'name' });
      continue;
    }
    const label = indexIn(classes, s.className);
    if (label === undefined) continue;
    // The id is the frame name, so the same frame filed under two classes is caught as a duplicate.
    parsed.push({ id: base.replace(/\.[^.]+$/, ''), path: s.path, label, split: 'all', file: s.file, subject: Number(m[1]) });
  }
  let folds: Map<number, number> | undefined;
  if (fold) folds = subjectFolds(parsed.map((p) => p.subject), fold.n);
  const withSplit = parsed.map(({ subject, ...s }) => ({ ...s, split: folds ? (folds.get(subject) === fold!.k ? 'test' : 'train') : 'all' }));
  let samples = dedupe(withSplit, report, classes, 'filed');
  if (fold?.part) samples = samples.filter((s) => s.split === fold.part);
  const imageSize = imageSizeOption(spec, 48);
  const layout = { name: 'ckplus', evidence: `${parsed.length} S<subject>_<seq>_<frame> images in class folders`, sure: true };
  return { format: 'ckplus', root: scan.root, classes, split: spec.split, samples, layout, ...(imageSize ? { imageSize } : {}) };
}
