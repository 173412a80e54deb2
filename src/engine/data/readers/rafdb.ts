// RAF-DB basic: Image/aligned/<name>_aligned.jpg + EmoLabel/list_patition_label.txt ("train_00001.jpg 5").
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CODE_TABLES, lookupCode } from '../codes.js';
import { classList, dedupe, DirIndex, indexIn, normalizeSplit, relPath, rootOf, textLines } from '../common.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type Sample } from '../types.js';

const LABEL_FILE = path.join('EmoLabel', 'list_patition_label.txt');
const COMPOUND_HINT =
  'this is the RAF-DB compound subset (train_0001.jpg names, labels 1..11), not the basic 7-class subset; point the spec at RAF-DB/basic';

/** Accepts the basic/ folder itself or the RAF-DB folder above it. */
async function basicRoot(root: string): Promise<string> {
  for (const cand of [root, path.join(root, 'basic')]) {
    const st = await stat(path.join(cand, LABEL_FILE)).catch(() => undefined);
    if (st?.isFile()) return cand;
  }
  if (/compound/i.test(root)) throw new DatasetError(COMPOUND_HINT, root);
  throw new DatasetError(`no ${LABEL_FILE} in ${root} (expected the RAF-DB basic folder)`, root);
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
  const index = new DirIndex();
  if (!(await index.list(imageDir))) throw new DatasetError(`image folder missing`, imageDir);
  const lines = textLines(await readFile(labelFile, 'utf8'));
  const all: (Sample & { file: string; line: number })[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const text = lines[i].trim();
    if (!text) continue;
    const parts = text.split(/\s+/);
    const m = parts.length === 2 ? /^(train|test)_(\d+)\.jpg$/.exec(parts[0]) : null;
    if (!m) {
      report({ kind: 'bad-line', message: `expected "train_00001.jpg <1..7>" or "test_0001.jpg <1..7>", got '${text}'`, file: labelFile, line });
      continue;
    }
    // Basic train names have 5 digits; 4-digit train names (or codes 8..11) only occur in the compound subset.
    const code = Number(parts[1]);
    if ((m[1] === 'train' && m[2].length === 4) || (Number.isInteger(code) && code >= 8 && code <= 11)) {
      throw new DatasetError(COMPOUND_HINT, labelFile, line);
    }
    const cls = lookupCode(CODE_TABLES.rafdb, parts[1]);
    const label = cls ? indexIn(classes, cls) : undefined;
    if (label === undefined) {
      report({ kind: 'unknown-code', message: `label '${parts[1]}' is not a RAF-DB basic code 1..7`, file: labelFile, line });
      continue;
    }
    const split = m[1];
    if (want !== undefined && split !== want) continue;
    const stem = parts[0].slice(0, -'.jpg'.length);
    const file = path.join(imageDir, original ? parts[0] : `${stem}_aligned.jpg`);
    if (!(await index.has(file))) {
      report({ kind: 'missing-file', message: `image ${relPath(root, file)} not found`, file: labelFile, line });
      continue;
    }
    all.push({ id: stem, path: relPath(root, file), label, split, file: labelFile, line });
  }
  const samples = dedupe(all, (id, file, line, first) =>
    report({ kind: 'duplicate-id', message: `${id} listed twice (first at ${first})`, file, line }),
  );
  return { format: 'rafdb', root, classes, split: want, samples };
}
