// The duplicate scans' tables (schema v7) and their members' similarity (v9): the migrations' bodies, apart
// from dupScans.ts's queries so that migrations.ts does not import what imports the store's opener.
import type { Db } from './db.js';

/** The schema version that added change groups and duplicate scans (migrations.ts). */
export const DUPS_SCHEMA_VERSION = 7;
/** The schema version that keeps each member's similarity (the duplicates view shows it beside the member). */
export const DUP_SCORES_SCHEMA_VERSION = 9;

/** The v7 migration's body. */
export function createDupTables(db: Db): void {
  db.exec(`
    -- The action a change belongs to: the id of the action's first change (NULL: a change of its own).
    -- One undo reverts every change of an action (overlay.ts applyGroup).
    ALTER TABLE label_changes ADD COLUMN grp INTEGER;
    CREATE INDEX label_changes_grp ON label_changes(grp) WHERE grp IS NOT NULL;
    CREATE TABLE dup_scans (
      id      INTEGER PRIMARY KEY,
      dataset INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
      created TEXT NOT NULL,
      summary TEXT NOT NULL               -- JSON: tiers with their thresholds, counts, timings
    );
    CREATE TABLE dup_clusters (
      scan     INTEGER NOT NULL REFERENCES dup_scans(id) ON DELETE CASCADE,
      tier     TEXT NOT NULL,             -- 'exact' | 'near' | 'semantic'
      cid      INTEGER NOT NULL,          -- cluster id within the scan's tier (1 = largest)
      size     INTEGER NOT NULL,
      leaks    INTEGER NOT NULL,          -- bits: train-test 1, train-val 2, val-test 4
      conflict INTEGER NOT NULL,          -- 1: members carried different labels or vote majorities at scan time
      score    REAL NOT NULL,             -- least similarity that joined the cluster
      PRIMARY KEY (scan, tier, cid)
    ) WITHOUT ROWID;
    -- The view's pages: largest clusters first, each filter walking its own index.
    CREATE INDEX dup_clusters_page ON dup_clusters(scan, tier, size DESC, cid);
    CREATE INDEX dup_clusters_leaks ON dup_clusters(scan, tier, size DESC, cid, leaks) WHERE leaks <> 0;
    CREATE INDEX dup_clusters_conflict ON dup_clusters(scan, tier, size DESC, cid) WHERE conflict = 1;
    CREATE TABLE dup_members (
      scan   INTEGER NOT NULL REFERENCES dup_scans(id) ON DELETE CASCADE,
      tier   TEXT NOT NULL,
      cid    INTEGER NOT NULL,
      sample INTEGER NOT NULL REFERENCES samples(sk) ON DELETE CASCADE,
      PRIMARY KEY (scan, tier, cid, sample)
    ) WITHOUT ROWID;
    CREATE INDEX dup_members_sample ON dup_members(sample);
  `);
}

/** The v9 migration's body: each member's similarity (NULL in scans made before it). */
export function addDupMemberScores(db: Db): void {
  db.exec('ALTER TABLE dup_members ADD COLUMN score REAL; -- the member\'s highest similarity to another member of its cluster');
}

