// Opening the workspace store: one SQLite file per workspace (default <workspace>/.kefer/kefer.db).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DAMAGED, damaged, openedPaths, StoreError } from './damage.js';
import { migrate } from './migrations.js';
import { Database } from './sqlite.js';
import { missingPages, readWal, type WalState } from './walCheck.js';

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
  /** 'quick': SQLite's quick_check of every page before any write (seconds at AffectNet scale). */
  verify?: 'quick';
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

/** The verdict on a store file and its log before SQLite opens them: why they are not whole, or whether the log holds commits. */
function inspect(path: string): { why: string; sqlite: boolean } | { why?: undefined; logCommits: boolean } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { logCommits: false }; // missing: a new store (SQLite reports unreadable files itself)
  }
  let head: Buffer;
  let size: number;
  try {
    size = fstatSync(fd).size;
    head = Buffer.alloc(100);
    head = head.subarray(0, readSync(fd, head, 0, 100, 0));
  } finally {
    closeSync(fd);
  }
  const walPath = `${path}-wal`;
  if (size === 0) {
    // SQLite's own empty database: nothing in it to lose, unless a log beside it holds commits
    if (!existsSync(walPath) || statSync(walPath).size === 0) return { logCommits: false };
    return { why: 'the store file is empty but its log (-wal) is not: the database is in neither alone', sqlite: true };
  }
  if (head.length < 100 || head.toString('latin1', 0, 16) !== SQLITE_MAGIC) return { why: 'not a KE-FER store: the file is not an SQLite database', sqlite: false };
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return { why: `the store file is damaged: header page size ${raw}`, sqlite: true };
  // The page count at offset 28 is valid when offset 92 equals the change counter at offset 24.
  const headerPages = head.readUInt32BE(92) === head.readUInt32BE(24) ? head.readUInt32BE(28) : null;
  let wal: WalState | undefined;
  if (existsSync(walPath)) {
    const v = readWal(walPath, pageSize);
    if (!v.ok) return { why: `the store file's ${v.why}`, sqlite: true };
    wal = v.wal;
  }
  const missing = missingPages(size, pageSize, headerPages, wal);
  return missing ? { why: missing, sqlite: true } : { logCommits: (wal?.committedFrames ?? 0) > 0 };
}

/**
 * Checks the store file and its log (-wal) before SQLite opens them: the header, the log's header,
 * salts and checksums, and that every page the log's last commit needs is in the file or the log. A
 * read-write connection would replay the log into a damaged file and, closing, checkpoint it there (the
 * file grew and the log was gone). A damaged store is copied aside (file, -wal, -shm) and refused; what
 * is not an SQLite file at all is refused without a copy.
 */
function checkHeader(path: string): { logCommits: boolean } {
  // Another process may be checkpointing meanwhile (the file grows, the log is reset): a verdict of
  // damage stands only if neither file changed while it was reached.
  for (let attempt = 0; ; attempt++) {
    const before = fileStamps(path);
    const v = inspect(path);
    if (v.why === undefined) return v;
    if (fileStamps(path) !== before && attempt < 3) continue;
    if (!v.sqlite) throw damaged(path, v.why);
    throw damaged(path, v.why, copyAside(path));
  }
}

/**
 * Reads the store on a read-only connection before any write: the schema (a damaged first page), whose
 * tables they are (another program's database), and with `quick` SQLite's quick_check of every page
 * (about a second at 300k records x 3 runs, so only the long-lived curation worker asks for it). When the
 * log holds no commit the file alone is read (immutable: no lock, no -wal/-shm made beside it).
 * A damaged store is copied aside and refused; nothing was written.
 */
function checkReadOnly(path: string, logCommits: boolean, verify: 'quick' | undefined): void {
  if (!existsSync(path) || statSync(path).size === 0) return;
  const url = pathToFileURL(path);
  if (!logCommits) url.searchParams.set('immutable', '1');
  let ro: Database | undefined;
  try {
    ro = new Database(url, { readonly: true });
    ro.prepare('SELECT count(*) FROM sqlite_master').get();
    checkOurs(ro, path);
    if (verify === 'quick') {
      const rows = (ro.pragma('quick_check(20)') as { quick_check: string }[]).map((r) => r.quick_check);
      if (rows.join() !== 'ok') throw damaged(path, `the store file is damaged (quick_check: ${rows.slice(0, 3).join('; ')})`, copyAside(path));
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && DAMAGED.test(code)) throw damaged(path, `the store file is damaged (${(err as Error).message})`, copyAside(path));
    throw err;
  } finally {
    ro?.close();
  }
}

function fileStamps(path: string): string {
  return ['', '-wal', '-shm'].map((x) => {
    try {
      const st = statSync(path + x);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return '-';
    }
  }).join(' ');
}

/**
 * Copies a damaged store and its -wal / -shm into a folder beside it, named by the files' sizes and
 * times (the same damage opened again reuses it); the originals are not touched.
 */
function copyAside(path: string): string {
  const stamp = createHash('sha1').update(fileStamps(path)).digest('hex').slice(0, 10);
  const dir = `${path}.damaged-${stamp}`;
  if (existsSync(join(dir, basename(path)))) return dir;
  const tmp = `${dir}.part-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  for (const x of ['', '-wal', '-shm']) if (existsSync(path + x)) copyFileSync(path + x, join(tmp, basename(path) + x));
  renameSync(tmp, dir);
  return dir;
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
  if (abs !== ':memory:') checkReadOnly(abs, checkHeader(abs).logCommits, opts.verify);
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
