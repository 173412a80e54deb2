// Which files the webviews may be served: only those inside the dataset roots, the run folders and
// the thumbnail cache. A sample's path comes from the store, and the store takes paths from record
// files (records.jsonl) and dataset label files, so a path may hold `..`, be absolute, or name a
// symlink that leads elsewhere: every file is resolved (symlinks included) before it is served or
// thumbnailed. No vscode import: the curation worker and the host both use it.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A file refused because it lies outside the folders the webviews may see. */
export class PathRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PathRefused';
  }
}

/** The real path (symlinks resolved); for a file that does not exist, its resolved parent joined with its name. */
function real(p: string): string {
  try {
    return fs.realpathSync.native(p);
  } catch {
    const parent = path.dirname(p);
    // A missing file cannot be served; resolving its folder still catches a symlinked folder leading out.
    return parent === p ? p : path.join(real(parent), path.basename(p));
  }
}

function contains(root: string, file: string): boolean {
  const rel = path.relative(root, file);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The absolute path of `rel` under `root`, with symlinks resolved, or PathRefused when it (or a
 * symlink on the way) leads outside `root`. `rel` may be absolute if it lies inside.
 */
export function insideRoot(root: string, rel: string): string {
  if (rel.includes('\0')) throw new PathRefused(`refused: path ${JSON.stringify(rel)} holds a NUL byte`);
  const abs = path.resolve(root, rel);
  if (!contains(path.resolve(root), abs)) throw new PathRefused(`refused: ${rel} lies outside the dataset root ${root}`);
  const r = real(abs);
  if (!contains(real(root), r)) throw new PathRefused(`refused: ${rel} leads outside the dataset root ${root} (through a symlink, to ${r})`);
  return r;
}

/** Whether `file` (symlinks resolved) lies inside one of `roots`. */
export function isInsideAny(file: string, roots: readonly string[]): boolean {
  if (file.includes('\0')) return false;
  const r = real(path.resolve(file));
  return roots.some((root) => contains(real(path.resolve(root)), r));
}
