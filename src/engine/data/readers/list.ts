// List files of the released KE-FER code: one "relative/path.jpg <label>" per line, labels 0-based in the
// canonical order (or `?codes=...`), images relative to `?root=DIR` (default: the list file's folder).
import path from 'node:path';
import type { ClassName } from '../../classes.js';
import { CODE_TABLES, isCodeTableName, lookupCode } from '../codes.js';
import { classesOption, classList, dedupe, DirIndex, indexIn, isKnownSplit, normalizeSplit, readLabelLines, relPath, followSymlinks } from '../common.js';
import { badEncodingMessage, MAX_PATH, type LabelLine } from '../files.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type Sample } from '../types.js';

export async function readList(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const listFile = path.resolve(spec.path);
  // The root option is resolved like the spec path (against the working directory).
  const root = spec.options.root !== undefined ? path.resolve(spec.options.root) : path.dirname(listFile);
  const codesName = spec.options.codes ?? 'canonical';
  if (!isCodeTableName(codesName)) throw new DatasetError(`option codes=${codesName}: expected one of ${Object.keys(CODE_TABLES).join(', ')}`);
  const table = CODE_TABLES[codesName];
  let lines: LabelLine[];
  try {
    lines = await readLabelLines(listFile);
  } catch {
    throw new DatasetError('list file not found', listFile);
  }
  // The split comes from the spec, else from the list file name (train.txt, test_list.txt, ...).
  const stemSplit = path.basename(listFile).replace(/\.[^.]+$/, '').split(/[_.-]/).find(isKnownSplit);
  const split = normalizeSplit(spec.split ?? stemSplit ?? 'all');
  const index = new DirIndex(root, followSymlinks(spec));
  const parsed: (Omit<Sample, 'label'> & { className: ClassName; file: string; line: number })[] = [];
  for (const l of lines) {
    const at = { file: listFile, line: l.line };
    const t = l.text.trim();
    if (!t || t.startsWith('#')) continue;
    if (l.badEncoding) {
      report({ kind: 'bad-encoding', message: badEncodingMessage(l), ...at, field: 'path' });
      continue;
    }
    // The label is the last token, so paths may contain spaces.
    const sp = t.search(/\s\S+$/);
    if (sp < 0) {
      report({ kind: 'bad-line', message: `expected "relative_path label", got '${t}'`, ...at });
      continue;
    }
    if (sp > MAX_PATH) {
      report({ kind: 'bad-line', message: `the path is ${sp.toLocaleString('en-US')} characters long (no file name is over ${MAX_PATH}): not a label line`, ...at, field: 'path' });
      continue;
    }
    const rel = t.slice(0, sp).trim().replace(/\\/g, '/');
    const code = t.slice(sp + 1);
    const cls = lookupCode(table, code);
    if (cls === null) continue;
    if (cls === undefined) {
      report({ kind: 'unknown-code', message: `label '${code}' is not a ${codesName} code`, ...at, field: 'label' });
      continue;
    }
    const file = path.resolve(root, rel);
    const where = await index.locate(file);
    if (!where.ok) {
      if (where.missing) report({ kind: 'missing-file', message: `image ${rel} not found under ${root}`, ...at, field: 'path' });
      else report({ kind: 'escapes-root', message: `image ${rel} refused: ${where.reason}`, ...at, field: 'path' });
      continue;
    }
    parsed.push({ id: rel, path: relPath(root, file), split, className: cls, ...at });
  }
  const classes = classList(classesOption(spec, parsed.some((p) => p.className === 'contempt') ? 8 : 7));
  const indexed: (Sample & { file: string; line: number })[] = [];
  for (const { className, ...p } of parsed) {
    const label = indexIn(classes, className);
    if (label !== undefined) indexed.push({ ...p, label });
  }
  const samples = dedupe(indexed, report, classes);
  const layout = { name: 'list', evidence: `${lines.length} lines of "path label" (${codesName} codes), images under ${root}`, sure: true };
  return { format: 'list', root, classes, split: spec.split !== undefined ? split : undefined, samples, layout };
}
