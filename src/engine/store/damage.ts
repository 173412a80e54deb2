// Damaged store files: the message that names the file, and the registry of opened stores that lets a
// "malformed" error raised long after opening name its file. No SQLite import, so the CLI's error
// formatting can use it without loading the native module.

/** A store problem whose message is the one line a user should see. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    // Reported like UserError by the CLI's formatError (one line, no stack).
    this.name = 'UserError';
  }
}

/** SQLite result codes that mean the file itself is damaged or is not a database. */
export const DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

/**
 * Stores this process has opened (kept after close: the CLI closes its store before its error
 * handler prints). A process opens one workspace store, rarely two.
 */
export const openedPaths = new Set<string>();

/**
 * The refusal of a damaged store. `copies`: the folder holding copies of the file and its log (-wal,
 * -shm), when it is a damaged SQLite store: the message says how to recover what they hold.
 */
export function damaged(path: string, what: string, copies?: string): StoreError {
  if (!copies) {
    return new StoreError(
      `${path}: ${what}. The file was left exactly as it is (nothing is recreated over it): ` +
        'restore it from a backup, or move it aside to start a new store there.',
    );
  }
  const name = copies.split(/[\\/]/).pop()?.replace(/\.damaged-[0-9a-f]+$/, '') ?? 'kefer.db';
  return new StoreError(
    `${path}: ${what}. The file and its log were left exactly as they are (opened for reading only, nothing ` +
      `written, nothing recreated over them); copies of both are in ${copies}. To recover what they hold: ` +
      `sqlite3 ${copies}/${name} ".recover" | sqlite3 recovered.db (Debian/Ubuntu: apt-get install sqlite3), then ` +
      'move the damaged store aside and put the recovered one in its place; or restore a backup.',
  );
}

/**
 * For an SQLite "damaged file" error raised after opening (a page only a later query reads): the
 * message naming the open store file(s); undefined for any other error.
 */
export function describeStoreError(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !DAMAGED.test(code) || openedPaths.size === 0) return undefined;
  return damaged([...openedPaths].join(', '), `the store file is damaged (${(err as Error).message})`).message;
}
