// FERPlus: FER2013 PNGs with Microsoft's 10-annotator votes, labelled by the FER+ majority rule.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CANONICAL_CLASSES, classIndex, type ClassName } from '../../classes.js';
import { argmax, FERPLUS_VOTE_RULES, voteDistribution, type FerplusVoteRule } from '../ferplusVotes.js';
import { FERPLUS_VOTE_COLUMNS } from '../codes.js';
import { classesOption, classList, dedupe, DirIndex, imageSizeOption, indexIn, normalizeSplit, readLabelLines, relPath, rootOf, splitCsvLine, type Listed, followSymlinks } from '../common.js';
import { badEncodingMessage, type LabelLine } from '../files.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec } from '../types.js';

const FOLDERS: Record<string, string> = { train: 'FER2013Train', valid: 'FER2013Valid', test: 'FER2013Test' };

/**
 * FER+ majority vote (microsoft/FERPlus src/ferplus.py, mode "majority"): votes <= 1 are noise and set to 0;
 * keep the image only if the top count is more than half of the remaining total and the top class is a
 * real emotion (not unknown / NF). Returns the vote column index or undefined for a dropped image.
 */
export function ferplusMajority(votes: readonly number[]): number | undefined {
  const v = votes.map((x) => (x <= 1 ? 0 : x));
  const total = v.reduce((a, b) => a + b, 0);
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i; // first max, like np.argmax
  if (!(v[best] > 0.5 * total)) return undefined;
  if (best >= 8) return undefined; // unknown, NF
  return best;
}

/**
 * `?keep=majority|crossentropy|multitarget`: which FER+ scheme's rule decides the images kept (default
 * majority, the usual FERPlus set: 25,045 train images). The soft schemes of the FER+ paper keep images
 * without a majority too (crossentropy: 27,947 train, multitarget: 27,667).
 */
function keepOption(spec: DataSpec): FerplusVoteRule {
  const v = spec.options.keep ?? 'majority';
  if (!(FERPLUS_VOTE_RULES as readonly string[]).includes(v)) throw new DatasetError(`option keep=${v}: expected one of ${FERPLUS_VOTE_RULES.join(', ')}`);
  return v as FerplusVoteRule;
}

/** label.csv's vote columns reordered as Sample.votes: the canonical classes, then unknown, NF. */
function canonicalVotes(votes: readonly number[]): number[] {
  const out = new Array<number>(FERPLUS_VOTE_COLUMNS.length).fill(0);
  FERPLUS_VOTE_COLUMNS.forEach((name, col) => {
    out[col < 8 ? classIndex(name as ClassName) : col] = votes[col];
  });
  return out;
}

/** Accepts the ferplus folder (with data/) or its data/ folder. */
async function dataDir(root: string): Promise<string> {
  for (const cand of [path.join(root, 'data'), root]) {
    for (const f of Object.values(FOLDERS)) {
      const st = await stat(path.join(cand, f)).catch(() => undefined);
      if (st?.isDirectory()) return cand;
    }
  }
  throw new DatasetError(`no FER2013Train/FER2013Valid/FER2013Test folder in ${root} or ${path.join(root, 'data')}`, root);
}

/** FER+ rows hold the votes of 10 annotators; a count or total above that is not a FER+ vote row. */
const ANNOTATORS = 10;

/** A label.csv header line (some exports add one): its vote columns are names, not counts. */
function isHeader(cols: string[]): boolean {
  const lower = cols.map((c) => c.trim().toLowerCase());
  return lower.includes('neutral') && lower.includes('happiness') && !cols.slice(2).some((c) => /^\s*\d+\s*$/.test(c));
}

export async function readFerplus(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const root = rootOf(spec);
  const classes = classList(classesOption(spec, 8));
  const keep = keepOption(spec);
  const dir = await dataDir(root);
  let splits = Object.keys(FOLDERS);
  if (spec.split !== undefined) {
    const s = normalizeSplit(spec.split);
    if (!FOLDERS[s]) throw new DatasetError(`ferplus has splits train, valid, test; got '${spec.split}'`);
    splits = [s];
  }
  const index = new DirIndex(root, followSymlinks(spec));
  const all: Listed[] = [];
  const found: string[] = [];
  for (const split of splits) {
    const folder = path.join(dir, FOLDERS[split]);
    const labelFile = path.join(folder, 'label.csv');
    let lines: LabelLine[];
    try {
      lines = await readLabelLines(labelFile);
    } catch {
      report({ kind: 'missing-file', message: `label file missing for split ${split}`, file: labelFile });
      continue;
    }
    found.push(FOLDERS[split]);
    let first = true;
    for (const l of lines) {
      const at = { file: labelFile, line: l.line };
      if (!l.text.trim()) continue;
      if (l.badEncoding) {
        report({ kind: 'bad-encoding', message: badEncodingMessage(l), ...at, field: 'name' });
        first = false;
        continue;
      }
      const cols = splitCsvLine(l.text);
      if (first && isHeader(cols)) {
        first = false;
        continue;
      }
      first = false;
      if (cols.length !== 2 + FERPLUS_VOTE_COLUMNS.length) {
        report({ kind: 'bad-line', message: `expected name, box and ${FERPLUS_VOTE_COLUMNS.length} vote counts (${FERPLUS_VOTE_COLUMNS.join(', ')}), got ${Math.max(0, cols.length - 2)} after name and box`, ...at, field: 'votes' });
        continue;
      }
      const name = cols[0].trim();
      if (!name) {
        report({ kind: 'bad-line', message: 'empty image name', ...at, field: 'name' });
        continue;
      }
      const votes = cols.slice(2).map((c) => (/^\s*\d+\s*$/.test(c) ? Number(c) : NaN));
      const bad = votes.findIndex((x) => Number.isNaN(x));
      if (bad >= 0) {
        report({ kind: 'bad-line', message: `vote count '${cols[2 + bad].trim()}' for ${FERPLUS_VOTE_COLUMNS[bad]} is not a non-negative integer`, ...at, field: 'votes' });
        continue;
      }
      const over = votes.findIndex((x) => x > ANNOTATORS);
      const total = votes.reduce((a, b) => a + b, 0);
      if (over >= 0 || total > ANNOTATORS) {
        const what = over >= 0 ? `vote count ${votes[over]} for ${FERPLUS_VOTE_COLUMNS[over]}` : `votes totalling ${total}`;
        report({ kind: 'unknown-code', message: `${what} is out of range: FER+ has ${ANNOTATORS} annotators per image`, ...at, field: 'votes' });
        continue;
      }
      const canonical = canonicalVotes(votes);
      let label: number | undefined;
      if (keep === 'majority') {
        const col = ferplusMajority(votes);
        if (col === undefined) continue; // no majority: dropped by the FER+ rule, not a problem
        label = indexIn(classes, FERPLUS_VOTE_COLUMNS[col] as ClassName);
      } else {
        // the paper's soft schemes keep more images; the label is their distribution's top class
        const d = voteDistribution(canonical, keep, 8);
        if (!d) continue;
        label = indexIn(classes, CANONICAL_CLASSES[argmax(d)]);
      }
      if (label === undefined) continue; // contempt in a 7-class run
      const file = path.resolve(folder, name);
      const where = await index.locate(file);
      if (!where.ok) {
        if (where.missing) report({ kind: 'missing-file', message: `image ${name} listed but not found in ${folder}`, ...at, field: 'name' });
        else report({ kind: 'escapes-root', message: `image ${name} refused: ${where.reason}`, ...at, field: 'name' });
        continue;
      }
      all.push({ id: `${FOLDERS[split]}/${name}`, path: relPath(root, file), label, split, votes: canonical, ...at });
    }
  }
  const samples = dedupe(all, report, classes);
  const layout = { name: 'ferplus', evidence: `${relPath(root, dir) || '.'}/{${found.join(',')}}/label.csv`, sure: true };
  const imageSize = imageSizeOption(spec, 48);
  return { format: 'ferplus', root, classes, split: splits.length === 1 ? splits[0] : undefined, samples, layout, ...(imageSize ? { imageSize } : {}) };
}
