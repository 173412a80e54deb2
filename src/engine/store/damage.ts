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

export function damaged(path: string, what: string): StoreError {
  return new StoreError(
    `${path}: ${what}. The file was left exactly as it is (nothing is recreated over it): ` +
      'restore it from a backup, or move it aside to start a new store there.',
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
