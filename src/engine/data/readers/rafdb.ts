// RAF-DB basic: Image/aligned/<name>_aligned.jpg + EmoLabel/list_patition_label.txt ("train_00001.jpg 5").
// The compound subset has the same file names but 4-digit train names and codes 1..11; which one a label
// file is gets decided over the whole file, so one odd line is reported as that line's problem.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CODE_TABLES, lookupCode } from '../codes.js';
import { classList, dedupe, DirIndex, imageSizeOption, indexIn, normalizeSplit, readLabelLines, relPath, rootOf, type Listed, followSymlinks } from '../common.js';
import { badEncodingMessage, type LabelLine } from '../files.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type LayoutVerdict } from '../types.js';

const LABEL_FILE = path.join('EmoLabel', 'list_patition_label.txt');
const COMPOUND_ADVICE = 'this is the RAF-DB compound subset, not the basic 7-class subset; point the spec at RAF-DB/basic';
const NAME = /^(train|test)_(\d+)\.jpg$/;

/** Accepts the basic/ folder itself or the RAF-DB folder above it. */
async function basicRoot(root: string): Promise<string> {
  for (const cand of [root, path.join(root, 'basic')]) {
    const st = await stat(path.join(cand, LABEL_FILE)).catch(() => undefined);
    if (st?.isFile()) return cand;
  }
  if (/compound/i.test(root)) throw new DatasetError(`no ${LABEL_FILE}: ${COMPOUND_ADVICE}`, root);
  throw new DatasetError(`no ${LABEL_FILE} in ${root} (expected the RAF-DB basic folder)`, root);
}

interface Parsed {
  line: number;
  text: string;
  name?: { split: 'train' | 'test'; digits: string; file: string };
  code?: string;
}

/**
 * Weighs the whole file: basic's train names have 5 digits, compound's 4; codes 8..11 exist only in
 * compound. Compound only when its names outnumber basic's (or, with no train lines, when most codes are
 * compound-only); anything less is basic with the odd lines reported one by one.
 */
export function rafdbVerdict(lines: Parsed[]): LayoutVerdict {
  let basicNames = 0;
  let compoundNames = 0;
  let tests = 0;
  let compoundCodes = 0;
  let basicCodes = 0;
  let malformed = 0;
  for (const p of lines) {
    if (!p.name) {
      malformed++;
      continue;
    }
    if (p.name.split === 'test') tests++;
    else if (p.name.digits.length === 5) basicNames++;
    else if (p.name.digits.length === 4) compoundNames++;
    if (/^(8|9|10|11)$/.test(p.code ?? '')) compoundCodes++;
    else if (/^[1-7]$/.test(p.code ?? '')) basicCodes++;
  }
  const total = lines.length;
  const seen =
    `${total} lines: ${basicNames} basic train names (train_NNNNN), ${compoundNames} compound train names (train_NNNN), ` +
    `${tests} test names, ${basicCodes} with codes 1..7, ${compoundCodes} with compound-only codes 8..11` + (malformed ? `, ${malformed} other lines` : '');
  const trainLines = basicNames + compoundNames;
  const compound = trainLines > 0 ? compoundNames > basicNames : compoundCodes > basicCodes;
  const sure = compound ? basicNames === 0 : compoundNames === 0 && compoundCodes === 0;
  return { name: compound ? 'rafdb-compound' : 'rafdb-basic', evidence: seen, sure };
}

export async function readRafdb(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const root = await basicRoot(rootOf(spec));
  const original = spec.options.images === 'original';
  const imageDir = path.join(root, 'Image', original ? 'original' : 'aligned');
  const classes = classList(7);
  const labelFile = path.join(root, LABEL_FILE);
  const want = spec.split !== undefined ? normalizeSplit(spec.split) : undefined;
  if (want !== undefined && want !== 'train' && want !== 'test') {
    throw new DatasetError(`rafdb has splits train and test; got '${spec.split}'`);
  }
  const index = new DirIndex(root, followSymlinks(spec));

  const parsed: (Parsed & { source: LabelLine })[] = [];
  for (const l of await readLabelLines(labelFile)) {
    const text = l.text.trim();
    if (!text) continue;
    const parts = text.split(/\s+/);
    const m = parts.length === 2 ? NAME.exec(parts[0]) : null;
    parsed.push({
      line: l.line,
      text,
      source: l,
      code: parts.length === 2 ? parts[1] : undefined,
      name: m ? { split: m[1] as 'train' | 'test', digits: m[2], file: parts[0] } : undefined,
    });
  }
  const layout = rafdbVerdict(parsed.filter((p) => !p.source.badEncoding));
  if (layout.name === 'rafdb-compound') throw new DatasetError(`${COMPOUND_ADVICE} (${layout.evidence})`, labelFile);
  if (!(await index.list(imageDir))) throw new DatasetError(`image folder missing`, imageDir);

  const listed: Listed[] = [];
  for (const p of parsed) {
    const at = { file: labelFile, line: p.line };
    if (p.source.badEncoding) {
      report({ kind: 'bad-encoding', message: badEncodingMessage(p.source), ...at, field: 'name' });
      continue;
    }
    if (!p.name || p.code === undefined) {
      report({ kind: 'bad-line', message: `expected "train_00001.jpg <1..7>" or "test_0001.jpg <1..7>", got '${p.text}'`, ...at });
      continue;
    }
    if (p.name.split === 'train' && p.name.digits.length !== 5) {
      const hint = p.name.digits.length === 4 ? ` ('${p.name.file}' is a compound-subset name)` : '';
      report({ kind: 'bad-line', message: `RAF-DB basic train names have 5 digits (train_00001.jpg)${hint}`, ...at, field: 'name' });
      continue;
    }
    const cls = lookupCode(CODE_TABLES.rafdb, p.code);
    const label = cls ? indexIn(classes, cls) : undefined;
    if (label === undefined) {
      const hint = /^(8|9|10|11)$/.test(p.code) ? ' (8..11 occur only in the compound subset)' : '';
      report({ kind: 'unknown-code', message: `label '${p.code}' is not a RAF-DB basic code 1..7${hint}`, ...at, field: 'label' });
      continue;
    }
    const split = p.name.split;
    if (want !== undefined && split !== want) continue;
    const stem = p.name.file.slice(0, -'.jpg'.length);
    const file = path.join(imageDir, original ? p.name.file : `${stem}_aligned.jpg`);
    const where = await index.locate(file);
    if (!where.ok) {
      if (where.missing) report({ kind: 'missing-file', message: `image ${relPath(root, file)} not found`, ...at, field: 'name' });
      else report({ kind: 'escapes-root', message: `image ${relPath(root, file)} refused: ${where.reason}`, ...at, field: 'name' });
      continue;
    }
    listed.push({ id: stem, path: relPath(root, file), label, split, ...at });
  }
  const samples = dedupe(listed, report, classes);
  const imageSize = original ? undefined : imageSizeOption(spec, 100);
  return { format: 'rafdb', root, classes, split: want, samples, layout, ...(imageSize ? { imageSize } : {}) };
}
