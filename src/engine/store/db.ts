// Opening the workspace store: one SQLite file per workspace (default <workspace>/.kefer/kefer.db).
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DAMAGED, damaged, openedPaths, StoreError } from './damage.js';
import { migrate } from './migrations.js';
import { Database } from './sqlite.js';

export type Db = Database;

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

export { StoreError };

export const DEFAULT_STORE = join('.kefer', 'kefer.db');

export function defaultStorePath(workspace: string = process.cwd()): string {
  return resolve(workspace, DEFAULT_STORE);
}

/**
 * How long a write waits for the other process's write lock before failing. The extension and the
 * CLI write the same file: a relabel is milliseconds, but `kefer train --store` imports a run's
 * records in one transaction that takes seconds at AffectNet scale, and a relabel made meanwhile
 * must wait for it rather than fail with "database is locked". BEGIN IMMEDIATE (every write here)
 * takes the lock up front, so the wait goes through this busy handler instead of failing a
 * read-to-write upgrade with SQLITE_BUSY_SNAPSHOT, which no timeout retries.
 */
export const BUSY_TIMEOUT_MS = 60_000;

const SQLITE_MAGIC = 'SQLite format 3\0';
/**
 * Checks the 100-byte SQLite header before SQLite opens the file: something that is not a
 * database, or one cut short, is refused without SQLite touching it (no -wal/-shm made beside it).
 */
function checkHeader(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return; // missing: a new store (SQLite reports unreadable files itself)
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return; // SQLite's own empty database: nothing in it to lose
    const head = Buffer.alloc(100);
    const n = readSync(fd, head, 0, 100, 0);
    if (n < 100 || head.toString('latin1', 0, 16) !== SQLITE_MAGIC) throw damaged(path, 'not a KE-FER store: the file is not an SQLite database');
    const raw = head.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw damaged(path, `the store file is damaged: header page size ${raw}`);
    // The page count at offset 28 is valid when offset 92 equals the change counter at offset 24.
    // Only without a -wal file beside it: while another process has the store open, a WAL checkpoint
    // may have written page 1 before the pages that extend the file.
    const pages = head.readUInt32BE(28);
    if (!existsSync(`${path}-wal`) && head.readUInt32BE(92) === head.readUInt32BE(24) && pages * pageSize > size) {
      throw damaged(path, `the store file is damaged: cut short (${size} bytes, its header says ${pages * pageSize})`);
    }
  } finally {
    closeSync(fd);
  }
}

function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Refuses an SQLite file that holds some other program's tables (user_version 0 but not empty). */
function checkOurs(db: Db, path: string): void {
  if ((db.pragma('user_version', { simple: true }) as number) !== 0) return;
  const foreign = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name);
  if (foreign.length && !foreign.includes('datasets')) {
    throw new StoreError(`${path}: not a KE-FER store: an SQLite database of something else (tables ${foreign.slice(0, 5).join(', ')}); it was left as it is. Pass --store with another path.`);
  }
}

/**
 * Opens (creating and migrating as needed) a store. A file that is not a database, is damaged or is
 * another program's database is refused with a StoreError naming it, and is never written to.
 */
export function openStore(path: string = defaultStorePath(), opts: OpenOptions = {}): Store {
  const abs = path === ':memory:' ? path : resolve(path);
  if (abs !== ':memory:' && isFolder(abs)) throw new StoreError(`${abs}: is a folder, not a store file (pass --store with the path of a .db file)`);
  if (abs !== ':memory:') checkHeader(abs);
  if (abs !== ':memory:' && !opts.readonly) mkdirSync(dirname(abs), { recursive: true });
  let db: Database;
  try {
    db = new Database(abs, { readonly: opts.readonly ?? false, timeout: BUSY_TIMEOUT_MS });
  } catch (err) {
    if (opts.readonly && !existsSync(abs)) throw new StoreError(`${abs}: no store there`);
    throw err;
  }
  try {
    // Read the schema before anything writes (journal_mode, migrations): a damaged file fails here.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (abs !== ':memory:') checkOurs(db, abs);
    // WAL: readers (the panels' queries) never block the writer, and a commit is one append to the log.
    if (!opts.readonly) db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    db.pragma('foreign_keys = ON');
    // Page cache of ~64 MiB keeps the AffectNet-sized record indexes hot for the panel queries.
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');
    if (!opts.readonly) migrate(db, opts.targetVersion);
  } catch (err) {
    db.close();
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && DAMAGED.test(code)) throw damaged(abs, `the store file is damaged (${(err as Error).message})`);
    // a refusal from the checks or the migrations names the file
    if (err instanceof StoreError && !err.message.startsWith(abs)) throw new StoreError(`${abs}: ${err.message}`);
    throw err;
  }
  if (abs !== ':memory:') openedPaths.add(abs);
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
