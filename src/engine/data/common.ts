// Helpers shared by the readers: split names, the `classes` option, csv lines, directory listings.
import path from 'node:path';
import { classList, classIndex, type ClassName } from '../classes.js';
import type { ProblemSink } from './problems.js';
import { DatasetError, type DataSpec, type Sample } from './types.js';

export const IMAGE_EXTS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff', '.gif']);

export function isImageFile(name: string): boolean {
  return IMAGE_EXTS.has(path.extname(name).toLowerCase());
}

const SPLIT_ALIASES: Record<string, string> = {
  train: 'train', training: 'train', train_set: 'train', trainset: 'train',
  valid: 'valid', val: 'valid', validation: 'valid', val_set: 'valid', publictest: 'valid',
  test: 'test', testing: 'test', test_set: 'test', privatetest: 'test',
};

/** Canonical split name ("train" | "valid" | "test") for the usual spellings, else the name lowercased. */
export function normalizeSplit(name: string): string {
  const key = name.trim().toLowerCase();
  return SPLIT_ALIASES[key] ?? key;
}

export function isKnownSplit(name: string): boolean {
  return SPLIT_ALIASES[name.trim().toLowerCase()] !== undefined;
}

/** The `?classes=7|8` option; `fallback` when absent. */
export function classesOption(spec: DataSpec, fallback: 7 | 8): 7 | 8 {
  const v = spec.options.classes;
  if (v === undefined) return fallback;
  if (v === '7' || v === '8') return Number(v) as 7 | 8;
  throw new DatasetError(`option classes=${v}: expected 7 or 8`);
}

/** Class index in a 7- or 8-class list, or undefined when the class is not in it (contempt in a 7-class set). */
export function indexIn(classes: ClassName[], name: ClassName): number | undefined {
  const i = classIndex(name);
  return i < classes.length ? i : undefined;
}

export { classList };

/** Lines of a small UTF-8 text file (BOM and CRLF removed, no trailing empty line). */
export function textLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Splits one csv line, honouring double quotes ("(0, 0, 48, 48)" holds commas). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export { DirIndex, listDir, readLabelLines, type LabelLine } from './files.js';

/** Forward-slash path of `file` relative to `root` (Sample.path convention). */
export function relPath(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

/** Keeps samples of the spec's split (compared after normalisation). */
export function filterSplit(samples: Sample[], split: string | undefined): Sample[] {
  if (split === undefined) return samples;
  const want = normalizeSplit(split);
  return samples.filter((s) => normalizeSplit(s.split) === want);
}

/** A sample before de-duplication, with where it was listed. */
export type Listed = Sample & { file?: string; line?: number };

/**
 * Drops repeated ids. The same id with the same label is a duplicate (the first is kept); with two
 * labels it is a conflict, and both are dropped, since nothing says which label is right.
 */
export function dedupe(
  samples: Listed[],
  report: ProblemSink,
  classes: readonly string[],
  what = 'listed',
): Sample[] {
  const first = new Map<string, Listed>();
  // id -> label -> first listing with that label: a repeat of a label already seen is a duplicate,
  // a new label for a seen id is a conflict.
  const byLabel = new Map<string, Map<number, Listed>>();
  const conflicted = new Set<string>();
  const where = (s: Listed) => (s.file ? `${s.file}${s.line !== undefined ? `:${s.line}` : ''}` : s.path);
  for (const s of samples) {
    const labels = byLabel.get(s.id);
    if (!labels) {
      first.set(s.id, s);
      byLabel.set(s.id, new Map([[s.label, s]]));
      continue;
    }
    const same = labels.get(s.label);
    if (same) {
      report({ kind: 'duplicate-id', message: `${s.id} ${what} twice with the same label (first at ${where(same)}; kept once)`, file: s.file, line: s.line, field: 'id' });
    } else {
      const f = labels.values().next().value as Listed;
      labels.set(s.label, s);
      conflicted.add(s.id);
      report({
        kind: 'conflicting-label',
        message: `${s.id} ${what} as ${classes[s.label]} here and as ${classes[f.label]} at ${where(f)}; both dropped`,
        file: s.file,
        line: s.line,
        field: 'label',
      });
    }
  }
  const out: Sample[] = [];
  for (const s of first.values()) {
    if (conflicted.has(s.id)) continue;
    const { file: _f, line: _l, ...plain } = s;
    out.push(plain);
  }
  return out;
}

/**
 * The `?symlinks=follow|refuse` option. By default a symlink leading outside the dataset root is refused
 * (a downloaded dataset must not make the tools read ~/.ssh); `follow` trusts links the user made, such
 * as a `kefer store export --format folder` export.
 */
export function followSymlinks(spec: DataSpec): boolean {
  const v = spec.options.symlinks;
  if (v === undefined || v === 'refuse') return false;
  if (v === 'follow') return true;
  throw new DatasetError(`option symlinks=${v}: expected follow or refuse`);
}

/** The `?size=WxH|any` option: the image size every image must have (default: the layout's). */
export function imageSizeOption(spec: DataSpec, fallback: number | undefined): { width: number; height: number } | undefined {
  const v = spec.options.size;
  if (v === undefined) return fallback === undefined ? undefined : { width: fallback, height: fallback };
  if (v === 'any') return undefined;
  const m = /^(\d+)(?:x(\d+))?$/.exec(v);
  if (!m) throw new DatasetError(`option size=${v}: expected WxH, N or any`);
  return { width: Number(m[1]), height: Number(m[2] ?? m[1]) };
}

export function rootOf(spec: DataSpec): string {
  return path.resolve(spec.path);
}
