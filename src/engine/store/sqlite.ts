// The store's SQLite connection: @photostructure/sqlite (node:sqlite's DatabaseSync as a Node-API
// addon with prebuilt binaries for every platform inside the npm package), so one package loads in
// Node 20, 22, 24 and Electron alike. better-sqlite3, the earlier driver, is bound to one V8 ABI.
// This file gives the store the small better-sqlite3-shaped surface it was written against
// (prepare/raw/pluck, pragma, transaction().immediate()), so the SQL modules did not change.
import { DatabaseSync, type DatabaseSyncInstance, type StatementSyncInstance } from '@photostructure/sqlite';

export type SqlValue = null | number | bigint | string | Uint8Array;
/** Positional values, or one object of named values (checked by SQLite when bound, as better-sqlite3 did). */
type Params = unknown[];

/** changes is a number: statements never enable readBigInts here. */
export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * sqlite3_errstr()'s text of the codes the store reacts to. all() and iterate() of
 * @photostructure/sqlite 1.2 throw with this text but without the code that get() and run() carry.
 */
const CODE_OF_MESSAGE = new Map([
  ['database disk image is malformed', 'SQLITE_CORRUPT'],
  ['file is not a database', 'SQLITE_NOTADB'],
  ['database is locked', 'SQLITE_BUSY'],
  ['database table is locked', 'SQLITE_LOCKED'],
  ['disk I/O error', 'SQLITE_IOERR'],
  ['database or disk is full', 'SQLITE_FULL'],
  ['attempt to write a readonly database', 'SQLITE_READONLY'],
  ['unable to open database file', 'SQLITE_CANTOPEN'],
]);

/**
 * Errors carry SQLite's code name in `code` (SQLITE_BUSY, SQLITE_CORRUPT, ...), as better-sqlite3's
 * did: the store's damaged-file and busy handling test it.
 */
function withCode<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw coded(err);
  }
}

function coded(err: unknown): unknown {
  const e = err as { code?: unknown; sqliteCodeName?: unknown; message?: unknown };
  if (typeof e?.sqliteCodeName === 'string') e.code = e.sqliteCodeName;
  else if (e?.code === 'ERR_SQLITE_ERROR' && typeof e.message === 'string') e.code = CODE_OF_MESSAGE.get(e.message) ?? e.code;
  return err;
}

/**
 * Refuses a text value holding a NUL byte: the binding would store (or look up) it cut short at the
 * NUL, silently, where better-sqlite3 kept the whole string. No stored name needs one.
 */
function checkParams(params: unknown[]): void {
  for (const p of params) {
    if (typeof p === 'string') {
      if (p.includes('\0')) throw nulError(p);
    } else if (p && typeof p === 'object' && !ArrayBuffer.isView(p)) {
      for (const v of Object.values(p)) if (typeof v === 'string' && v.includes('\0')) throw nulError(v);
    }
  }
}

function nulError(v: string): Error {
  return Object.assign(new Error(`a text value holds a NUL byte, which SQLite would store cut short: ${JSON.stringify(v.slice(0, 80))}`), { code: 'SQLITE_MISMATCH' });
}

/** Rows as plain objects: node:sqlite's have a null prototype, which deepEqual and spreads treat differently. */
function plain<T>(row: T): T {
  return row && typeof row === 'object' && !Array.isArray(row) ? ({ ...row } as T) : row;
}

export class Statement {
  private rawMode = false;
  private pluckMode = false;

  constructor(private readonly stmt: StatementSyncInstance, readonly source: string, private readonly owner: Database) {}

  /** Rows as arrays of column values (better-sqlite3's raw()). */
  raw(on = true): this {
    this.rawMode = on;
    if (on) this.pluckMode = false;
    this.stmt.setReturnArrays(on);
    return this;
  }

  /** The first column's value instead of a row (better-sqlite3's pluck()). */
  pluck(on = true): this {
    this.pluckMode = on;
    if (on) this.rawMode = false;
    this.stmt.setReturnArrays(on);
    return this;
  }

  // run/get/all catch inline (no closure per call): a bulk import calls run() hundreds of thousands of times.
  run(...params: Params): RunResult {
    checkParams(params);
    try {
      return this.stmt.run(...(params as SqlValue[])) as RunResult;
    } catch (err) {
      throw this.owner.failed(err);
    }
  }

  get(...params: Params): unknown {
    checkParams(params);
    let row: unknown;
    try {
      row = this.stmt.get(...(params as SqlValue[]));
    } catch (err) {
      throw this.owner.failed(err);
    }
    if (row === undefined) return undefined;
    if (this.pluckMode) return (row as unknown[])[0];
    return this.rawMode ? row : plain(row);
  }

  all(...params: Params): unknown[] {
    checkParams(params);
    let rows: unknown[];
    try {
      rows = this.stmt.all(...(params as SqlValue[])) as unknown[];
    } catch (err) {
      throw this.owner.failed(err);
    }
    if (this.pluckMode) return rows.map((r) => (r as unknown[])[0]);
    return this.rawMode ? rows : rows.map(plain);
  }

  *iterate(...params: Params): IterableIterator<unknown> {
    checkParams(params);
    const it = this.owner.call(() => this.stmt.iterate(...(params as SqlValue[]))) as Iterator<unknown>;
    try {
      for (;;) {
        const n = this.owner.call(() => it.next());
        if (n.done) return;
        yield this.pluckMode ? (n.value as unknown[])[0] : this.rawMode ? n.value : plain(n.value);
      }
    } finally {
      // An abandoned loop (break) resets the statement, so its read transaction ends.
      it.return?.();
    }
  }
}

export interface Transaction<T> {
  (): T;
  /** BEGIN IMMEDIATE: takes the write lock up front (waiting through the busy timeout). */
  immediate(): T;
  deferred(): T;
  exclusive(): T;
}

export interface DatabaseOptions {
  readonly?: boolean;
  /** Busy timeout in milliseconds. */
  timeout?: number;
}

/**
 * Connections that met a damaged page: never closed, so never checkpointed (closing the last connection
 * copies the log into the main file, a damaged one included). Held here so that garbage collection does
 * not close them either; the process ends without closing them, which leaves both files as they were.
 */
const neverClosed: DatabaseSyncInstance[] = [];

export class Database {
  private readonly db: DatabaseSyncInstance;
  private savepoints = 0;
  /** A read found the file damaged (SQLITE_CORRUPT / NOTADB): close() leaves it alone. */
  damaged = false;
  private closed = false;

  readonly readonly: boolean;

  /** location: a path, or a file: URL with SQLite's URI parameters (immutable=1: read the file alone, no lock, no log). */
  constructor(location: string | URL, opts: DatabaseOptions = {}) {
    this.readonly = opts.readonly ?? false;
    this.db = withCode(() => new DatabaseSync(location, { readOnly: this.readonly, timeout: opts.timeout ?? 0 }));
  }

  /** The error with SQLite's code name, noting a damaged file. */
  failed(err: unknown): unknown {
    const e = coded(err) as { code?: unknown };
    if (typeof e?.code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(e.code)) this.damaged = true;
    return e;
  }

  call<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.failed(err);
    }
  }

  get open(): boolean {
    return this.db.isOpen;
  }

  get inTransaction(): boolean {
    return this.db.isTransaction;
  }

  prepare(sql: string): Statement {
    return new Statement(this.call(() => this.db.prepare(sql)), sql, this);
  }

  exec(sql: string): this {
    this.call(() => this.db.exec(sql));
    return this;
  }

  /** better-sqlite3's pragma(): the rows, or with `simple` the first row's first value. */
  pragma(source: string, opts: { simple?: boolean } = {}): unknown {
    const st = this.prepare(`PRAGMA ${source}`);
    return opts.simple ? st.pluck().get() : st.all();
  }

  /**
   * Wraps fn in a transaction (better-sqlite3's semantics): commit when fn returns, roll back and
   * rethrow when it throws; a call inside another transaction becomes a savepoint.
   */
  transaction<T>(fn: () => T): Transaction<T> {
    const run = (begin: string): T => {
      if (this.db.isTransaction) return this.savepoint(fn);
      this.call(() => this.db.exec(begin));
      let result: T;
      try {
        result = fn();
      } catch (err) {
        if (this.db.isTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
      this.call(() => this.db.exec('COMMIT'));
      return result;
    };
    const tx = (() => run('BEGIN')) as Transaction<T>;
    tx.immediate = () => run('BEGIN IMMEDIATE');
    tx.deferred = () => run('BEGIN DEFERRED');
    tx.exclusive = () => run('BEGIN EXCLUSIVE');
    return tx;
  }

  private savepoint<T>(fn: () => T): T {
    const name = `sp${++this.savepoints}`;
    this.db.exec(`SAVEPOINT ${name}`);
    try {
      const result = fn();
      this.db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      this.db.exec(`ROLLBACK TO ${name}`);
      this.db.exec(`RELEASE ${name}`);
      throw err;
    } finally {
      this.savepoints--;
    }
  }

  /**
   * Closes the connection. @photostructure/sqlite 1.2 cannot finalize statements from JS, and its
   * close() leaves the connection open until they are garbage-collected, so SQLite's own
   * checkpoint-on-last-close comes late or not at all. A TRUNCATE checkpoint first (not waiting for
   * other connections: it is skipped when one is reading) leaves the whole database in the main file,
   * as closing the last better-sqlite3 connection did. A connection that found the file damaged is not
   * closed at all (neverClosed): closing would copy the log into the damaged file.
   */
  close(): void {
    if (this.closed || !this.db.isOpen) return;
    this.closed = true;
    if (this.damaged && !this.readonly) {
      neverClosed.push(this.db);
      return;
    }
    if (!this.readonly && !this.db.isTransaction) {
      try {
        this.db.exec('PRAGMA busy_timeout = 0');
        this.db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
      } catch {
        // busy or read-only file system: the WAL stays, and the next open replays it
      }
    }
    this.db.close();
  }
}
