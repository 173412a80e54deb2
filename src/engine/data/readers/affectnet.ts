// AffectNet. Current release: {train_set,val_set}/images/<id>.jpg + annotations/<id>_exp.npy (a NumPy scalar).
// Older release: Manually_Annotated_Images/<subdir>/<file> + training.csv / validation.csv.
// val_set / validation.csv is what papers report as the test set, so its samples get split "test".
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ClassName } from '../../classes.js';
import { CODE_TABLES, lookupCode } from '../codes.js';
import { classesOption, classList, dedupe, DirIndex, imageSizeOption, indexIn, normalizeSplit, readLabelLines, relPath, rootOf, splitCsvLine, type Listed, followSymlinks } from '../common.js';
import { badEncodingMessage, escapeBytes } from '../files.js';
import { npyScalarCode, parseNpy } from '../../util/npy.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type LayoutVerdict, type Sample } from '../types.js';

type Raw = Omit<Sample, 'label'> & { className: ClassName; file: string; line?: number };

const isDir = async (p: string) => (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
const isFile = async (p: string) => (await stat(p).catch(() => undefined))?.isFile() ?? false;

/** Which parts to read for the spec's split: train, or the validation set used as test. */
function wantedParts(spec: DataSpec): { train: boolean; test: boolean } {
  if (spec.split === undefined) return { train: true, test: true };
  const s = normalizeSplit(spec.split);
  if (s === 'train') return { train: true, test: false };
  if (s === 'test' || s === 'valid') return { train: false, test: true };
  throw new DatasetError(`affectnet has splits train and test (= val_set); got '${spec.split}'`);
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const EXP = '_exp.npy';

async function readCurrent(root: string, spec: DataSpec, report: ProblemSink): Promise<Raw[]> {
  const want = wantedParts(spec);
  const parts = [
    { dir: 'train_set', split: 'train', on: want.train },
    { dir: 'val_set', split: 'test', on: want.test },
  ];
  const index = new DirIndex(root, followSymlinks(spec));
  const out: Raw[] = [];
  for (const part of parts) {
    if (!part.on) continue;
    const annDir = path.join(root, part.dir, 'annotations');
    const imgDir = path.join(root, part.dir, 'images');
    const listing = await index.list(annDir);
    if (!listing) {
      report({ kind: 'missing-file', message: `annotations folder missing`, file: annDir });
      continue;
    }
    for (const bad of listing.badNames) {
      if (!bad.toString('latin1').endsWith(EXP)) continue; // one report per sample: its expression file
      report({ kind: 'bad-encoding', message: `file name is not UTF-8 (rename it): '${escapeBytes(bad)}'`, file: path.join(annDir, bad.toString('utf8')), field: 'name' });
    }
    const ids = listing.files.filter((n) => n.endsWith(EXP)).map((n) => n.slice(0, -EXP.length));
    const images = (await index.list(imgDir))?.names ?? new Set<string>();
    const found = await mapLimit(ids, 32, async (id) => {
      const npy = path.join(annDir, `${id}${EXP}`);
      const npyAt = await index.locate(npy);
      if (!npyAt.ok && !npyAt.missing) {
        report({ kind: 'escapes-root', message: `annotation refused: ${npyAt.reason}`, file: npy });
        return undefined;
      }
      let code: string;
      try {
        code = npyScalarCode(parseNpy(await readFile(npy)));
      } catch (e) {
        report({ kind: 'bad-line', message: `cannot read expression: ${(e as Error).message}`, file: npy });
        return undefined;
      }
      const cls = lookupCode(CODE_TABLES.affectnet, code);
      if (cls === null) return undefined; // 8..10: None / Uncertain / No-Face, dropped by design
      if (cls === undefined) {
        report({ kind: 'unknown-code', message: `expression code '${code}' is not an AffectNet code 0..10`, file: npy, field: 'expression' });
        return undefined;
      }
      const img = ['.jpg', '.png', '.jpeg'].map((e) => `${id}${e}`).find((n) => images.has(n));
      if (!img) {
        report({ kind: 'missing-file', message: `image for ${id} not found in ${imgDir}`, file: npy, field: 'image' });
        return undefined;
      }
      const file = path.join(imgDir, img);
      const where = await index.locate(file);
      if (!where.ok) {
        report({ kind: where.missing ? 'missing-file' : 'escapes-root', message: where.missing ? `image ${img} not found` : `image ${img} refused: ${where.reason}`, file: npy, field: 'image' });
        return undefined;
      }
      return { id: `${part.dir}/${id}`, path: relPath(root, file), split: part.split, className: cls, file: npy } satisfies Raw;
    });
    for (const f of found) if (f) out.push(f);
  }
  return out;
}

async function findImagesDir(root: string): Promise<string> {
  for (const c of ['Manually_Annotated_Images', path.join('Manually_Annotated', 'Manually_Annotated_Images')]) {
    if (await isDir(path.join(root, c))) return path.join(root, c);
  }
  throw new DatasetError('no Manually_Annotated_Images folder next to training.csv / validation.csv', root);
}

async function readOld(root: string, spec: DataSpec, report: ProblemSink): Promise<Raw[]> {
  const want = wantedParts(spec);
  const imgRoot = await findImagesDir(root);
  const index = new DirIndex(root, followSymlinks(spec));
  const out: Raw[] = [];
  for (const part of [
    { csv: 'training.csv', split: 'train', on: want.train },
    { csv: 'validation.csv', split: 'test', on: want.test },
  ]) {
    if (!part.on) continue;
    const csv = path.join(root, part.csv);
    if (!(await isFile(csv))) {
      report({ kind: 'missing-file', message: `${part.csv} missing`, file: csv });
      continue;
    }
    const lines = await readLabelLines(csv);
    const head = splitCsvLine(lines[0]?.text ?? '').map((h) => h.trim().toLowerCase());
    const cPath = head.indexOf('subdirectory_filepath');
    const cExp = head.indexOf('expression');
    // validation.csv of some copies has no header: fall back to the documented column positions.
    const headered = cPath >= 0 && cExp >= 0;
    const [pi, ei] = headered ? [cPath, cExp] : [0, 6];
    for (const l of lines.slice(headered ? 1 : 0)) {
      const at = { file: csv, line: l.line };
      if (!l.text.trim()) continue;
      if (l.badEncoding) {
        report({ kind: 'bad-encoding', message: badEncodingMessage(l), ...at, field: 'subDirectory_filePath' });
        continue;
      }
      const cols = splitCsvLine(l.text);
      const rel = cols[pi]?.trim();
      const code = cols[ei]?.trim() ?? '';
      if (!rel || cols.length <= ei) {
        report({ kind: 'bad-line', message: `expected subDirectory_filePath,...,expression,... (${cols.length} columns)`, ...at });
        continue;
      }
      const cls = lookupCode(CODE_TABLES.affectnet, code);
      if (cls === null) continue;
      if (cls === undefined) {
        report({ kind: 'unknown-code', message: `expression '${code}' is not an AffectNet code 0..10`, ...at, field: 'expression' });
        continue;
      }
      const file = path.resolve(imgRoot, rel);
      const where = await index.locate(file);
      if (!where.ok) {
        if (where.missing) report({ kind: 'missing-file', message: `image ${rel} not found in ${imgRoot}`, ...at, field: 'subDirectory_filePath' });
        else report({ kind: 'escapes-root', message: `image ${rel} refused: ${where.reason}`, ...at, field: 'subDirectory_filePath' });
        continue;
      }
      out.push({ id: rel, path: relPath(root, file), split: part.split, className: cls, ...at });
    }
  }
  return out;
}

export async function readAffectnet(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const root = rootOf(spec);
  if (!(await isDir(root))) throw new DatasetError('dataset folder not found', root);
  const classes = classList(classesOption(spec, 8));
  const current = (await isDir(path.join(root, 'train_set'))) || (await isDir(path.join(root, 'val_set')));
  const older = (await isFile(path.join(root, 'training.csv'))) || (await isFile(path.join(root, 'validation.csv')));
  let raw: Raw[];
  let layout: LayoutVerdict;
  if (current) {
    raw = await readCurrent(root, spec, report);
    layout = { name: 'affectnet-npy', evidence: `train_set/ or val_set/ with annotations/*${EXP}` + (older ? '; training.csv / validation.csv also present (ignored)' : ''), sure: !older };
  } else if (older) {
    raw = await readOld(root, spec, report);
    layout = { name: 'affectnet-csv', evidence: 'training.csv / validation.csv with Manually_Annotated_Images/', sure: true };
  } else {
    throw new DatasetError(
      'not an AffectNet folder: expected train_set/ and val_set/ (current release) or training.csv / validation.csv (older release); ' +
        'for re-packed {train,val}/{0..7}/ folders use folder:DIR?codes=affectnet',
      root,
    );
  }
  const indexed: Listed[] = [];
  for (const { className, ...r } of raw) {
    const label = indexIn(classes, className);
    if (label !== undefined) indexed.push({ ...r, label });
  }
  const samples = dedupe(indexed, report, classes);
  const split = spec.split === undefined ? undefined : normalizeSplit(spec.split) === 'train' ? 'train' : 'test';
  const imageSize = imageSizeOption(spec, undefined);
  return { format: 'affectnet', root, classes, split, samples, layout, ...(imageSize ? { imageSize } : {}) };
}
