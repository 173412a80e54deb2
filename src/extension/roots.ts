// The one authority over which files a webview may be given. Every URI the host hands out (grid,
// inspector, comparison, duplicates, ...) is made by `serve()`, and each webview's
// localResourceRoots is built from the same `roots()`.
// - Roots are the dataset folders registered in the workspace store (the engine registers them when
//   the user trains or evaluates with --store) and the folders the host itself made (the thumbnail
//   cache). Never a path from a file a workspace can carry (a run folder's studio.json or run.json):
//   a cloned repository must not widen what a webview may read.
// - A root that is a whole file system or a home folder is refused: no dataset is that.
// - A file is served only when its real path (symlinks resolved) lies inside a root, it is a regular
//   file, and its first bytes are those of an image; the URI names that resolved path, so re-pointing a
//   symlink after the check does not change what the URI names.
// No vscode import: the handler and the unit tests use it as is.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Image formats a webview is given, by their first bytes. */
const IMAGE_MAGIC: { name: string; test: (b: Buffer) => boolean }[] = [
  { name: 'png', test: (b) => b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a },
  { name: 'jpeg', test: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { name: 'webp', test: (b) => b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP' },
  { name: 'gif', test: (b) => b.length >= 6 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6)) },
  { name: 'bmp', test: (b) => b.length >= 2 && b.toString('latin1', 0, 2) === 'BM' },
];

/** The image format of a file's first bytes, or undefined. */
export function imageKind(head: Buffer): string | undefined {
  return IMAGE_MAGIC.find((m) => m.test(head))?.name;
}

function readHead(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(12);
    return b.subarray(0, fs.readSync(fd, b, 0, 12, 0));
  } finally {
    fs.closeSync(fd);
  }
}

function contains(root: string, file: string): boolean {
  const rel = path.relative(root, file);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

export type Served = { ok: true; file: string } | { ok: false; why: string };

/** Why a folder cannot be a root, or undefined when it can (it exists, is a folder, is not too wide). */
export function rootProblem(dir: string): string | undefined {
  if (!path.isAbsolute(dir)) return `${dir} is not an absolute path`;
  let real: string;
  try {
    real = fs.realpathSync.native(dir);
    if (!fs.statSync(real).isDirectory()) return `${dir} is not a folder`;
  } catch {
    return `${dir} does not exist`;
  }
  if (path.dirname(real) === real) return `${dir} is a whole file system`;
  const home = os.homedir();
  if (home && (real === home || real === safeReal(home))) return `${dir} is a home folder`;
  return undefined;
}

function safeReal(p: string): string {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return p;
  }
}

export class ResourceRoots {
  private datasets: string[] = [];
  /** Roots refused the last time they were set, with why (for the output channel). */
  refusedRoots: string[] = [];

  /** own: folders the host made (the thumbnail cache); they need not exist yet. */
  constructor(private readonly own: readonly string[]) {}

  /** The dataset roots registered in the store (CurationService.datasetRoots); returns what changed. */
  setDatasetRoots(dirs: readonly string[]): boolean {
    const ok: string[] = [];
    const refused: string[] = [];
    for (const d of dirs) {
      const why = rootProblem(d);
      if (why) refused.push(`not a dataset root: ${why}`);
      else ok.push(fs.realpathSync.native(d));
    }
    const next = [...new Set(ok)].sort();
    this.refusedRoots = refused;
    const changed = next.join('\0') !== this.datasets.join('\0');
    this.datasets = next;
    return changed;
  }

  /**
   * Whether `dir` is one of the dataset roots the store registered (real paths compared): a webview may
   * name a dataset only by such a root (the duplicates view's messages).
   */
  isDatasetRoot(dir: string): boolean {
    if (typeof dir !== 'string' || dir.includes('\0') || !path.isAbsolute(dir)) return false;
    return this.datasets.includes(safeReal(dir));
  }

  /** Every root, real paths: what localResourceRoots is built from, and what serve() checks. */
  roots(): string[] {
    return [...this.datasets, ...this.own.map(safeReal)];
  }

  /**
   * The resolved path of `file` when a webview may be given it; why not, otherwise. The caller makes
   * the URI from `file` of the answer, never from its own argument.
   */
  serve(file: string): Served {
    if (typeof file !== 'string' || file.includes('\0')) return { ok: false, why: 'a path holding a NUL byte' };
    let real: string;
    try {
      real = fs.realpathSync.native(path.resolve(file));
    } catch {
      return { ok: false, why: `${file} does not exist` };
    }
    if (!this.roots().some((r) => contains(r, real))) {
      return { ok: false, why: `${file}${real !== path.resolve(file) ? ` (-> ${real})` : ''} lies outside the dataset roots and the thumbnail cache` };
    }
    try {
      if (!fs.statSync(real).isFile()) return { ok: false, why: `${file} is not a file` };
      if (!imageKind(readHead(real))) return { ok: false, why: `${file} is not an image` };
    } catch (err) {
      return { ok: false, why: `${file} cannot be read (${(err as Error).message})` };
    }
    return { ok: true, file: real };
  }
}
