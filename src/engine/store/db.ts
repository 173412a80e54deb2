// Opening the workspace store: one SQLite file per workspace (default <workspace>/.kefer/kefer.db).
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { migrate } from './migrations.js';

export type Db = Database.Database;

export interface Store {
  db: Db;
  /** Absolute path of the database file (":memory:" for in-memory stores). */
  path: string;
  close(): void;
}

export interface OpenOptions {
  /**
   * 'FULL' (default) fsyncs the WAL on every commit, so an acknowledged change survives power loss too.
   * 'NORMAL' survives process kill (the WAL write() has reached the OS page cache before COMMIT returns)
   * but may lose the last commits on power loss / OS crash. Relabels are human-paced, so FULL costs nothing
   * that matters; bulk imports are one transaction, i.e. one fsync.
   */
  synchronous?: 'FULL' | 'NORMAL';
  readonly?: boolean;
  /** Stop at this schema version (tests of migrations only). */
  targetVersion?: number;
}

/** A store problem whose message is the one line a user should see. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    // Reported like UserError by the CLI's formatError (one line, no stack).
    this.name = 'UserError';
  }
}

export const DEFAULT_STORE = join('.kefer', 'kefer.db');

export function defaultStorePath(workspace: string = process.cwd()): string {
  return resolve(workspace, DEFAULT_STORE);
}

export function openStore(path: string = defaultStorePath(), opts: OpenOptions = {}): Store {
  const abs = path === ':memory:' ? path : resolve(path);
  if (abs !== ':memory:' && !opts.readonly) mkdirSync(dirname(abs), { recursive: true });
  const db = new Database(abs, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  try {
    // The extension and the CLI may hold the file at once: wait for the writer instead of failing.
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    // Page cache of ~64 MiB keeps the AffectNet-sized record indexes hot for the panel queries.
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');
    if (!opts.readonly) migrate(db, opts.targetVersion);
  } catch (err) {
    db.close();
    throw err;
  }
  return { db, path: abs, close: () => db.close() };
}

let cachedAuthor: string | undefined;

/** Author of label changes: `git config user.name`, else the OS user. */
export function currentAuthor(): string {
  if (cachedAuthor !== undefined) return cachedAuthor;
  let name = '';
  try {
    name = execFileSync('git', ['config', 'user.name'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim();
  } catch {
    // git missing or no user.name configured: fall through to the OS user.
  }
  if (!name) {
    try {
      name = userInfo().username;
    } catch {
      name = process.env.USER ?? process.env.USERNAME ?? 'unknown';
    }
  }
  cachedAuthor = name;
  return name;
}

export function nowIso(): string {
  return new Date().toISOString();
}

/**
 * Runs a bulk write with a 512 MiB page cache: inserting 300k records into seven indexes thrashes the
 * default cache (the import ran 2x slower). Restored afterwards so an idle extension host stays small.
 */
export function withBigCache<T>(store: Store, fn: () => T): T {
  const prev = store.db.pragma('cache_size', { simple: true }) as number;
  store.db.pragma('cache_size = -524288');
  try {
    return fn();
  } finally {
    store.db.pragma(`cache_size = ${prev}`);
  }
}
