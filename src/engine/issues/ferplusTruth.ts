// Real label noise to score rankers against: FER2013 with its ORIGINAL labels (the Kaggle release), and
// the FER+ re-annotation (10 votes per image, microsoft/FERPlus) of the same pixels as an independent
// ground truth. Reads ferplus/fer2013_original_labels.csv (made in shared/data, PROVENANCE.md section 1)
// and FER2013{Train,Valid,Test}/label.csv.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { canonicalClassName, classList, type ClassName } from '../classes.js';
import { FERPLUS_VOTE_COLUMNS } from '../data/codes.js';
import { splitCsvLine, textLines } from '../data/common.js';
import { ferplusMajority } from '../data/readers/ferplus.js';
import { DatasetError, type Dataset, type Sample } from '../data/types.js';

/** What FER+ says about an image, relative to FER2013's original label. */
export type FerplusVerdict =
  | 'agree' // FER+ majority = the FER2013 label
  | 'disagree' // FER+ majority is another emotion (contempt included: FER2013 has no such class)
  | 'unknown' // FER+ majority is "unknown"
  | 'not-a-face' // FER+ majority is "NF"
  | 'no-majority'; // no class has more than half of the votes (after dropping single votes)

export interface FerplusTruth {
  verdict: FerplusVerdict;
  /** FER+ majority class name (canonical, or 'unknown' / 'NF'), when there is one. */
  majority?: string;
  votes: number[];
}

const SPLITS = { train: ['Training', 'FER2013Train'], valid: ['PublicTest', 'FER2013Valid'], test: ['PrivateTest', 'FER2013Test'] } as const;

/** The verdict rule, separate from file reading so it can be tested on its own. */
export function verdictOf(given: ClassName, votes: readonly number[]): { verdict: FerplusVerdict; majority?: string } {
  // FER+'s own majority rule decides emotion vs drop; unknown / NF majorities are found the same way.
  const v = votes.map((x) => (x <= 1 ? 0 : x));
  const total = v.reduce((a, b) => a + b, 0);
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  if (!(v[best] > 0.5 * total)) return { verdict: 'no-majority' };
  const col = ferplusMajority(votes);
  if (col === undefined) return best === 8 ? { verdict: 'unknown', majority: 'unknown' } : { verdict: 'not-a-face', majority: 'NF' };
  const name = FERPLUS_VOTE_COLUMNS[col] as ClassName;
  return { verdict: name === given ? 'agree' : 'disagree', majority: name };
}

export interface Fer2013WithTruth {
  /** FER2013 images of the split with their original 7-class labels (canonical order). */
  dataset: Dataset;
  /** FER+ verdict per sample, same order. */
  truth: FerplusTruth[];
}

/**
 * FER2013 split (default train = Kaggle "Training") with original labels, and the FER+ verdict per image.
 * `root` is the ferplus folder (holding data/ and fer2013_original_labels.csv). Sample ids equal the
 * ferplus reader's (`FER2013Train/fer0000000.png`), so store rows and overlays line up.
 */
export async function loadFer2013WithFerplusTruth(root: string, split: keyof typeof SPLITS = 'train'): Promise<Fer2013WithTruth> {
  const [usage, folder] = SPLITS[split];
  const origFile = path.join(root, 'fer2013_original_labels.csv');
  const labelFile = path.join(root, 'data', folder, 'label.csv');
  const read = async (f: string) => {
    try {
      return textLines(await readFile(f, 'utf8'));
    } catch (e) {
      throw new DatasetError(`cannot read ${f} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, f);
    }
  };
  const votes = new Map<string, number[]>();
  (await read(labelFile)).forEach((line, i) => {
    if (!line.trim()) return;
    const cols = splitCsvLine(line);
    const v = cols.slice(2).map(Number);
    if (cols.length !== 12 || v.some((x) => !Number.isInteger(x) || x < 0)) throw new DatasetError(`${labelFile}:${i + 1}: expected name, box and 10 vote counts`, labelFile);
    votes.set(cols[0].trim(), v);
  });
  const lines = await read(origFile);
  const header = splitCsvLine(lines[0]).map((h) => h.trim());
  const col = (name: string) => {
    const c = header.indexOf(name);
    if (c < 0) throw new DatasetError(`${origFile}:1: no column '${name}'`, origFile);
    return c;
  };
  const cImage = col('ferplus_image'), cUsage = col('fer2013_usage'), cLabel = col('fer2013_label');
  const classes = classList(7);
  const samples: Sample[] = [];
  const truth: FerplusTruth[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    const cols = splitCsvLine(lines[i]);
    if (cols[cUsage]?.trim() !== usage) continue;
    const name = cols[cImage].trim();
    const given = canonicalClassName(cols[cLabel] ?? '');
    const label = given ? classes.indexOf(given) : -1;
    if (!given || label < 0) throw new DatasetError(`${origFile}:${i + 1}: field fer2013_label '${cols[cLabel]}' is not a FER2013 class`, origFile);
    const v = votes.get(name);
    if (!v) throw new DatasetError(`${origFile}:${i + 1}: image ${name} has no FER+ votes in ${labelFile}`, origFile);
    samples.push({ id: `${folder}/${name}`, path: `data/${folder}/${name}`, label, split });
    truth.push({ ...verdictOf(given, v), votes: v });
  }
  if (samples.length === 0) throw new DatasetError(`${origFile}: no rows with fer2013_usage '${usage}'`, origFile);
  return { dataset: { format: 'ferplus', root: path.resolve(root), classes, split, samples }, truth };
}
