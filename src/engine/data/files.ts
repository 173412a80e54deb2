// File-system side of the readers: label files read line by line with their encoding checked, folder
// listings that keep non-UTF-8 names and symlinks visible, and the dataset-root containment rule.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** One line of a label file; `badEncoding` when its bytes are not UTF-8 (then `text` is a lossy decode). */
export interface LabelLine {
  /** 1-based line number in the file. */
  line: number;
  /** The line without its line ending (CR of CRLF removed). */
  text: string;
  badEncoding?: boolean;
  /** The line's bytes, kept only when they are not UTF-8 (for the report). */
  raw?: Buffer;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');

/** Decodes bytes as UTF-8; undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A name's bytes as the user can find them again: printable ASCII kept, everything else as \xNN. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * Splits label-file bytes into lines: a UTF-8 BOM is dropped, CRLF and LF both end a line, a final empty
 * line is dropped. Each line is decoded on its own, so one line in another encoding is reported on its own
 * line and does not garble the rest.
 */
export function splitLabelLines(bytes: Uint8Array): LabelLine[] {
  let start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const out: LabelLine[] = [];
  let line = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    line++;
    let stop = end;
    if (stop > start && bytes[stop - 1] === 0x0d) stop--;
    const raw = bytes.subarray(start, stop);
    const text = decodeUtf8(raw);
    out.push(text === undefined ? { line, text: lossyUtf8.decode(raw), badEncoding: true, raw: Buffer.from(raw) } : { line, text });
    start = end + 1;
  }
  // A final line ending leaves one empty entry behind (an empty file leaves only that one).
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0a) out.pop();
  else if (out.length === 1 && out[0].text === '') out.pop();
  return out;
}

export async function readLabelLines(file: string): Promise<LabelLine[]> {
  return splitLabelLines(await readFile(file));
}

/** The report line for a label line that is not UTF-8. */
export function badEncodingMessage(l: LabelLine): string {
  return `line is not UTF-8 (save the file as UTF-8): '${escapeBytes(l.raw ?? Buffer.from(l.text))}'`;
}

/** Longest path a label line may name (Linux PATH_MAX): longer is a malformed line, not a file. */
export const MAX_PATH = 4096;

/** Whether `file` is `root` or lies under it (both absolute, compared after path.resolve). */
export function isInside(root: string, file: string): boolean {
  const r = path.relative(path.resolve(root), path.resolve(file));
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r));
}

/** A folder's entries: valid names (symlinks resolved to file or folder) and the names that are not UTF-8. */
export interface Listing {
  dirs: string[];
  files: string[];
  /** Entries that are symlinks (their targets must stay inside the dataset root). */
  links: Set<string>;
  /** Entries whose names are not valid UTF-8: Node cannot open them by a string name. */
  badNames: Buffer[];
}

/** Subfolders and files of a folder, sorted by name (deterministic sample order); undefined if absent. */
export async function listDir(dir: string): Promise<Listing | undefined> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch {
    return undefined;
  }
  const out: Listing = { dirs: [], files: [], links: new Set(), badNames: [] };
  for (const e of entries) {
    const name = decodeUtf8(e.name);
    if (name === undefined) {
      out.badNames.push(e.name);
      continue;
    }
    if (name.startsWith('.')) continue; // .DS_Store, .git, ...
    if (e.isDirectory()) out.dirs.push(name);
    else if (e.isFile()) out.files.push(name);
    else if (e.isSymbolicLink()) {
      out.links.add(name);
      const st = await stat(path.join(dir, name)).catch(() => undefined);
      // A dangling link is listed as a file so the image check names it instead of skipping it silently.
      if (st?.isDirectory()) out.dirs.push(name);
      else out.files.push(name);
    }
  }
  out.dirs.sort();
  out.files.sort();
  out.badNames.sort(Buffer.compare);
  return out;
}

/** Where a listed file is: present inside the root, missing, or resolving outside the dataset root. */
export type Located = { ok: true } | { ok: false; missing: true } | { ok: false; missing: false; reason: string };

/**
 * Cached folder listings under one dataset root: checking 30k+ listed images against one readdir per
 * folder is far cheaper than one stat per file, and only symlinks (and each folder once) pay a realpath.
 */
export class DirIndex {
  private cache = new Map<string, Promise<(Listing & { names: Set<string>; real?: string }) | undefined>>();
  private realRoot?: Promise<string>;

  /** `followLinks`: symlinks may lead anywhere (the spec's ?symlinks=follow); listed paths still may not. */
  constructor(
    readonly root: string,
    readonly followLinks = false,
  ) {}

  list(dir: string) {
    let p = this.cache.get(dir);
    if (!p) {
      p = listDir(dir).then(async (l) => {
        if (!l) return undefined;
        const real = await realpath(dir).catch(() => undefined);
        return { ...l, names: new Set([...l.files, ...l.dirs]), real };
      });
      this.cache.set(dir, p);
    }
    return p;
  }

  private rootReal(): Promise<string> {
    this.realRoot ??= realpath(this.root).catch(() => path.resolve(this.root));
    return this.realRoot;
  }

  /** Checks a listed file: a path outside the root, or a symlink (or folder) leading out of it, is refused (see `followLinks`). */
  async locate(file: string): Promise<Located> {
    // no file system has such a name (a label file with a megabyte line): not looked up
    if (file.length > MAX_PATH) return { ok: false, missing: true };
    if (!isInside(this.root, file)) return { ok: false, missing: false, reason: `path leads outside the dataset root ${this.root}` };
    const listing = await this.list(path.dirname(file));
    const base = path.basename(file);
    if (!listing?.names.has(base)) return { ok: false, missing: true };
    if (this.followLinks) return { ok: true };
    const realRoot = await this.rootReal();
    if (listing.real && !isInside(realRoot, listing.real)) {
      return { ok: false, missing: false, reason: `its folder resolves to ${listing.real}, outside the dataset root ${realRoot}` };
    }
    if (listing.links.has(base)) {
      const target = await realpath(file).catch(() => undefined);
      if (target === undefined) return { ok: false, missing: true };
      if (!isInside(realRoot, target)) return { ok: false, missing: false, reason: `symlink to ${target}, outside the dataset root ${realRoot} (spec option ?symlinks=follow trusts links you made)` };
    }
    return { ok: true };
  }
}

/** Real path of `file` when it is a symlink leading outside `root`; undefined otherwise. */
export async function escapingTarget(root: string, file: string): Promise<string | undefined> {
  const [realRoot, target] = await Promise.all([realpath(root).catch(() => root), realpath(file).catch(() => undefined)]);
  return target !== undefined && !isInside(realRoot, target) ? target : undefined;
}
