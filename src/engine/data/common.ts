// Helpers shared by the readers: split names, the `classes` option, csv lines, directory listings.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { classList, classIndex, type ClassName } from '../classes.js';
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

/** Splits file text into lines (CRLF-safe); a trailing empty line is dropped. */
export function textLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Cached directory listings: checking 30k+ listed images against one readdir per folder is far
 * cheaper than one stat per file.
 */
export class DirIndex {
  private cache = new Map<string, Promise<Set<string> | undefined>>();

  list(dir: string): Promise<Set<string> | undefined> {
    let p = this.cache.get(dir);
    if (!p) {
      p = readdir(dir).then(
        (names) => new Set(names),
        () => undefined,
      );
      this.cache.set(dir, p);
    }
    return p;
  }

  async has(file: string): Promise<boolean> {
    const names = await this.list(path.dirname(file));
    return names?.has(path.basename(file)) ?? false;
  }
}

/** Subfolders and files of a folder, sorted by name for deterministic sample order; undefined if absent. */
export async function listDir(dir: string): Promise<{ dirs: string[]; files: string[] } | undefined> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const dirs: string[] = [];
  const files: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue; // .DS_Store, .git, ...
    if (e.isDirectory()) dirs.push(e.name);
    else if (e.isFile() || e.isSymbolicLink()) files.push(e.name);
  }
  dirs.sort();
  files.sort();
  return { dirs, files };
}

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

/** Reports duplicate ids (keeps the first occurrence). */
export function dedupe(
  samples: (Sample & { file?: string; line?: number })[],
  report: (id: string, file: string | undefined, line: number | undefined, firstAt: string) => void,
): Sample[] {
  const seen = new Map<string, string>();
  const out: Sample[] = [];
  for (const s of samples) {
    const where = s.file ? `${s.file}${s.line !== undefined ? `:${s.line}` : ''}` : s.path;
    const first = seen.get(s.id);
    if (first !== undefined) {
      report(s.id, s.file, s.line, first);
      continue;
    }
    seen.set(s.id, where);
    const { file: _f, line: _l, ...plain } = s;
    out.push(plain);
  }
  return out;
}

export function rootOf(spec: DataSpec): string {
  return path.resolve(spec.path);
}
