// bench:store's baseline: the store's own SQL (migrations, imports, queries, overlay) on a better-sqlite3
// connection, the driver the store used until it moved to @photostructure/sqlite (src/engine/store/sqlite.ts
// keeps its API shape, so the same code runs on both). Same pragmas as openStore. A devDependency: the
// package no longer ships it.
import BetterSqlite3 from 'better-sqlite3';
import { migrate, BUSY_TIMEOUT_MS, type Store } from '../src/engine/store/index.js';
import type { Db } from '../src/engine/store/db.js';

export function openBetterSqliteStore(path: string): Store {
  const db = new BetterSqlite3(path);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('cache_size = -65536');
  db.pragma('temp_store = MEMORY');
  const store = db as unknown as Db;
  migrate(store);
  return { db: store, path, close: () => db.close() };
}
