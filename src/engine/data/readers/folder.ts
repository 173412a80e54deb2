// Class-folder layouts: root/{class}/*.png or root/{split}/{class}/*.png, classes named by canonical
// names or usual variants (happy, sad, angry, ...), or numbered folders with `?codes=affectnet|fer2013|rafdb|canonical`.
import { access } from 'node:fs/promises';
import path from 'node:path';
import { canonicalClassName, type ClassName } from '../../classes.js';
import { CODE_TABLES, isCodeTableName, lookupCode, type CodeTable } from '../codes.js';
import { classesOption, classList, followSymlinks, imageSizeOption, indexIn, isImageFile, isKnownSplit, listDir, normalizeSplit, relPath, rootOf } from '../common.js';
import { escapeBytes, escapingTarget } from '../files.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type LayoutVerdict, type Sample } from '../types.js';

/** Marker file written by the synthetic generator; its presence makes a folder dataset synthetic. */
export const SYNTHETIC_MARKER = 'SYNTHETIC.md';

/** Sample plus the class name before it is indexed (readers built on this one post-process it). */
export interface FolderSample extends Omit<Sample, 'label'> {
  className: ClassName;
  /** Absolute image path. */
  file: string;
}

export interface FolderScan {
  root: string;
  /** Split the spec selected (normalised), if any. */
  split?: string;
  samples: FolderSample[];
  synthetic: boolean;
  layout: LayoutVerdict;
}

function codeTableOption(spec: DataSpec): CodeTable | undefined {
  const name = spec.options.codes;
  if (name === undefined) return undefined;
  if (!isCodeTableName(name)) {
    throw new DatasetError(`option codes=${name}: expected one of ${Object.keys(CODE_TABLES).join(', ')}`);
  }
  return CODE_TABLES[name];
}

const looksLikeClass = (name: string): boolean => canonicalClassName(name) !== undefined || /^\d+$/.test(name);

/** Scans class folders; unknown folder names are reported, dropped codes (AffectNet 8..10) skipped quietly. */
export async function scanClassFolders(spec: DataSpec, report: ProblemSink): Promise<FolderScan> {
  const root = rootOf(spec);
  const codes = codeTableOption(spec);
  const top = await listDir(root);
  if (!top) throw new DatasetError('dataset folder not found', root);
  const synthetic = await access(path.join(root, SYNTHETIC_MARKER)).then(
    () => true,
    () => false,
  );
  if (top.dirs.length === 0) throw new DatasetError('no class folders (expected root/{class}/*.png or root/{split}/{class}/*.png)', root);

  // Either the root holds class folders, or one level of split folders above them: weighed over every
  // folder, so one stray folder does not turn the verdict.
  const parts: { dir: string; split: string }[] = [];
  let selected: string | undefined;
  const classLike = top.dirs.filter(looksLikeClass).length;
  const splitLike = top.dirs.filter(isKnownSplit).length;
  const classRoot = classLike > splitLike;
  const layout: LayoutVerdict = {
    name: 'class-folders',
    evidence: classRoot
      ? `${classLike} of ${top.dirs.length} folders in the root are class names or codes`
      : `${splitLike} of ${top.dirs.length} folders in the root are split names (${top.dirs.join(', ')})`,
    sure: classRoot ? splitLike === 0 : classLike === 0,
  };
  if (classRoot) {
    const base = path.basename(root);
    selected = spec.split !== undefined ? normalizeSplit(spec.split) : undefined;
    parts.push({ dir: root, split: selected ?? (isKnownSplit(base) ? normalizeSplit(base) : 'all') });
  } else {
    let dirs = top.dirs;
    if (spec.split !== undefined) {
      selected = normalizeSplit(spec.split);
      dirs = dirs.filter((d) => normalizeSplit(d) === selected);
      if (dirs.length === 0) {
        throw new DatasetError(`no split folder '${spec.split}' (found: ${top.dirs.join(', ')})`, root);
      }
    }
    for (const d of dirs) parts.push({ dir: path.join(root, d), split: normalizeSplit(d) });
  }

  const samples: FolderSample[] = [];
  const follow = followSymlinks(spec);
  const refuseEscape = async (file: string): Promise<boolean> => {
    if (follow) return false;
    const target = await escapingTarget(root, file);
    if (target !== undefined) report({ kind: 'escapes-root', message: `symlink to ${target}, outside the dataset root; refused (spec option ?symlinks=follow trusts links you made)`, file });
    return target !== undefined;
  };
  const reportBadNames = (dir: string, names: Buffer[], images: boolean) => {
    for (const bad of names) {
      if (images && !isImageFile(bad.toString('latin1'))) continue;
      report({ kind: 'bad-encoding', message: `${images ? 'file' : 'folder'} name is not UTF-8 (rename it): '${escapeBytes(bad)}'`, file: path.join(dir, bad.toString('utf8')), field: 'name' });
    }
  };
  for (const part of parts) {
    const listing = part.dir === root ? top : await listDir(part.dir);
    reportBadNames(part.dir, listing?.badNames ?? [], false);
    for (const cdir of listing?.dirs ?? []) {
      const classFolder = path.join(part.dir, cdir);
      if (listing?.links.has(cdir) && (await refuseEscape(classFolder))) continue;
      let cls: ClassName | null | undefined;
      if (/^\d+$/.test(cdir)) {
        if (!codes) {
          report({ kind: 'unknown-code', message: `numbered class folder '${cdir}' needs ?codes=affectnet|fer2013|rafdb|canonical`, file: classFolder });
          continue;
        }
        cls = lookupCode(codes, cdir);
      } else {
        cls = canonicalClassName(cdir);
      }
      if (cls === null) continue; // a known code the dataset itself drops (AffectNet 8 None, ...)
      if (cls === undefined) {
        report({ kind: 'unknown-code', message: `folder '${cdir}' is not a known class name or code`, file: classFolder });
        continue;
      }
      const inner = await listDir(classFolder);
      reportBadNames(classFolder, inner?.badNames ?? [], true);
      for (const f of inner?.files ?? []) {
        if (!isImageFile(f)) continue;
        const file = path.join(classFolder, f);
        if (inner?.links.has(f) && (await refuseEscape(file))) continue;
        const rel = relPath(root, file);
        samples.push({ id: rel, path: rel, split: part.split, className: cls, file });
      }
    }
  }
  return { root, split: selected, samples, synthetic, layout };
}

/** Indexes scanned samples into a 7- or 8-class list (8 by default only when contempt occurs). */
export function indexScan(
  format: string,
  spec: DataSpec,
  scan: { root: string; split?: string; samples: FolderSample[]; layout?: LayoutVerdict },
  imageSide?: number,
): Dataset {
  const hasContempt = scan.samples.some((s) => s.className === 'contempt');
  const classes = classList(classesOption(spec, hasContempt ? 8 : 7));
  const samples: Sample[] = [];
  for (const s of scan.samples) {
    const label = indexIn(classes, s.className);
    if (label === undefined) continue;
    samples.push({ id: s.id, path: s.path, label, split: s.split });
  }
  const imageSize = imageSizeOption(spec, imageSide);
  return { format, root: scan.root, classes, split: scan.split, samples, ...(scan.layout ? { layout: scan.layout } : {}), ...(imageSize ? { imageSize } : {}) };
}

export async function readFolder(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const scan = await scanClassFolders(spec, report);
  const ds = indexScan('folder', spec, scan);
  if (scan.synthetic) ds.synthetic = true;
  return ds;
}

/** `synthetic:DIR` — a generated class-folder dataset; the marker file is required. */
export async function readSynthetic(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const scan = await scanClassFolders(spec, report);
  if (!scan.synthetic) {
    throw new DatasetError(`no ${SYNTHETIC_MARKER} marker: not a generated dataset (use folder: for real class folders)`, scan.root);
  }
  return { ...indexScan('synthetic', spec, scan), synthetic: true };
}
