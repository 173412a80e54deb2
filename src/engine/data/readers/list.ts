// List files of the released KE-FER code: one "relative/path.jpg <label>" per line, labels 0-based in the
// canonical order (or `?codes=...`), images relative to `?root=DIR` (default: the list file's folder).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClassName } from '../../classes.js';
import { CODE_TABLES, isCodeTableName, lookupCode } from '../codes.js';
import { classesOption, classList, dedupe, DirIndex, indexIn, isKnownSplit, normalizeSplit, textLines } from '../common.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type Sample } from '../types.js';

export async function readList(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const listFile = path.resolve(spec.path);
  // The root option is resolved like the spec path (against the working directory).
  const root = spec.options.root !== undefined ? path.resolve(spec.options.root) : path.dirname(listFile);
  const codesName = spec.options.codes ?? 'canonical';
  if (!isCodeTableName(codesName)) throw new DatasetError(`option codes=${codesName}: expected one of ${Object.keys(CODE_TABLES).join(', ')}`);
  const table = CODE_TABLES[codesName];
  let text: string;
  try {
    text = await readFile(listFile, 'utf8');
  } catch {
    throw new DatasetError('list file not found', listFile);
  }
  // The split comes from the spec, else from the list file name (train.txt, test_list.txt, ...).
  const stemSplit = path.basename(listFile).replace(/\.[^.]+$/, '').split(/[_.-]/).find(isKnownSplit);
  const split = normalizeSplit(spec.split ?? stemSplit ?? 'all');
  const index = new DirIndex();
  const parsed: (Omit<Sample, 'label'> & { className: ClassName; file: string; line: number })[] = [];
  const lines = textLines(text);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const t = lines[i].trim();
    if (!t || t.startsWith('#')) continue;
    // The label is the last token, so paths may contain spaces.
    const sp = t.lastIndexOf(' ');
    if (sp < 0) {
      report({ kind: 'bad-line', message: `expected "relative_path label", got '${t}'`, file: listFile, line });
      continue;
    }
    const rel = t.slice(0, sp).trim().replace(/\\/g, '/');
    const code = t.slice(sp + 1);
    const cls = lookupCode(table, code);
    if (cls === null) continue;
    if (cls === undefined) {
      report({ kind: 'unknown-code', message: `label '${code}' is not a ${codesName} code`, file: listFile, line });
      continue;
    }
    const file = path.resolve(root, rel);
    if (!(await index.has(file))) {
      report({ kind: 'missing-file', message: `image ${rel} not found under ${root}`, file: listFile, line });
      continue;
    }
    parsed.push({ id: rel, path: rel, split, className: cls, file: listFile, line });
  }
  const classes = classList(classesOption(spec, parsed.some((p) => p.className === 'contempt') ? 8 : 7));
  const indexed: (Sample & { file: string; line: number })[] = [];
  for (const { className, ...p } of parsed) {
    const label = indexIn(classes, className);
    if (label !== undefined) indexed.push({ ...p, label });
  }
  const samples = dedupe(indexed, (id, file, line, first) =>
    report({ kind: 'duplicate-id', message: `${id} listed twice (first at ${first})`, file, line }),
  );
  return { format: 'list', root, classes, split: spec.split !== undefined ? split : undefined, samples };
}
