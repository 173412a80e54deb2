// Versioned schema. PRAGMA user_version holds the number of migrations applied; each migration runs
// in its own transaction, so a crash mid-upgrade leaves the previous version intact.
import type { Db } from './db.js';
import { StoreError } from './damage.js';
import { CL_SCHEMA_VERSION, fillConfidentLearning } from './confident.js';
import { backfillVotesFromRunRecords } from './votesBackfill.js';
import { fillReference, REFERENCE_SCHEMA_VERSION } from './reference.js';
import { fillSpotRanks, SPOT_SCHEMA_VERSION } from './spotRanks.js';
import { buildRunVector } from './vectors.js';
import { addDupMemberScores, createDupTables, DUP_SCORES_SCHEMA_VERSION, DUPS_SCHEMA_VERSION } from './dupSchema.js';

export interface Migration {
  version: number;
  description: string;
  up(db: Db): void;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'datasets, samples, runs, evaluation records, label changes',
    up(db) {
      db.exec(`
        CREATE TABLE datasets (
          id        INTEGER PRIMARY KEY,
          format    TEXT NOT NULL,
          root      TEXT NOT NULL,
          spec      TEXT,
          classes   TEXT NOT NULL,            -- JSON array of class names
          synthetic INTEGER NOT NULL DEFAULT 0,
          created   TEXT NOT NULL,
          UNIQUE (format, root)
        );
        CREATE TABLE samples (
          sk         INTEGER PRIMARY KEY,     -- sample key used by every other table
          dataset    INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
          sid        TEXT NOT NULL,           -- Sample.id
          path       TEXT NOT NULL,
          split      TEXT NOT NULL,
          orig_label INTEGER NOT NULL,        -- as the dataset's own label files say (never changed by relabels)
          label      INTEGER NOT NULL,        -- effective label: orig_label with the overlay applied
          UNIQUE (dataset, sid)
        );
        CREATE TABLE runs (
          rk          INTEGER PRIMARY KEY,
          id          TEXT NOT NULL UNIQUE,
          dataset     INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
          created     TEXT NOT NULL,
          backbone    TEXT,
          status      TEXT NOT NULL DEFAULT 'done',
          config      TEXT,                   -- JSON
          metrics     TEXT,                   -- JSON
          text_source TEXT,
          backend     TEXT,
          parent      INTEGER REFERENCES runs(rk) ON DELETE SET NULL
        );
        -- Clustered by (run, sample): a run's records are contiguous pages.
        CREATE TABLE records (
          run         INTEGER NOT NULL REFERENCES runs(rk) ON DELETE CASCADE,
          sample      INTEGER NOT NULL REFERENCES samples(sk) ON DELETE CASCADE,
          split       TEXT NOT NULL,
          label       INTEGER NOT NULL,       -- label the run was scored against
          pred        INTEGER NOT NULL,
          probs       BLOB NOT NULL,          -- float32 little-endian
          sim_text    REAL,
          sim_neutral REAL,
          gap         REAL,
          align       REAL,
          confidence  REAL NOT NULL,          -- probs[label]
          margin      REAL NOT NULL,          -- probs[label] - max other prob
          PRIMARY KEY (run, sample)
        ) WITHOUT ROWID;
        CREATE INDEX records_sample ON records(sample);
        CREATE TABLE label_changes (
          id        INTEGER PRIMARY KEY,
          dataset   INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
          sample    INTEGER NOT NULL REFERENCES samples(sk) ON DELETE CASCADE,
          old_label INTEGER NOT NULL,
          new_label INTEGER NOT NULL,
          time      TEXT NOT NULL,
          author    TEXT NOT NULL,
          note      TEXT,
          run       TEXT,                     -- id of the run that suggested the change
          undone    INTEGER NOT NULL DEFAULT 0 -- 0 applied, 1 undone (on the redo stack), 2 undone and dropped
        );
        CREATE INDEX label_changes_sample ON label_changes(sample, id);
        CREATE INDEX label_changes_stack ON label_changes(dataset, undone, id);
      `);
    },
  },
  {
    version: 2,
    description: 'marks, change kinds and audit events, issue score, denormalised effective label, panel indexes',
    up(db) {
      db.exec(`
        CREATE TABLE marks (
          sample   INTEGER PRIMARY KEY REFERENCES samples(sk) ON DELETE CASCADE,
          excluded INTEGER NOT NULL DEFAULT 0,  -- left out of training and exports
          unsure   INTEGER NOT NULL DEFAULT 0
        );
        -- 'label' | 'exclude' | 'unsure'; for marks old_label/new_label hold 0/1.
        ALTER TABLE label_changes ADD COLUMN kind TEXT NOT NULL DEFAULT 'label';
        -- Audit trail of every do/undo/redo (label_changes keeps only the latest state).
        CREATE TABLE change_events (
          id     INTEGER PRIMARY KEY,
          change INTEGER NOT NULL REFERENCES label_changes(id) ON DELETE CASCADE,
          action TEXT NOT NULL,                 -- 'do' | 'undo' | 'redo'
          time   TEXT NOT NULL,
          author TEXT NOT NULL
        );
        CREATE INDEX change_events_change ON change_events(change);
        INSERT INTO change_events (change, action, time, author) SELECT id, 'do', time, author FROM label_changes;

        -- Issue score: (1 - normalised margin) in [0, 1], higher = more likely mislabelled.
        ALTER TABLE records ADD COLUMN issue REAL NOT NULL DEFAULT 0;
        UPDATE records SET issue = (1 - margin) / 2;
        -- Copy of samples.label kept in sync by overlay.ts, so effective-label confusion needs no join.
        ALTER TABLE records ADD COLUMN eff INTEGER NOT NULL DEFAULT -1;
        UPDATE records SET eff = (SELECT label FROM samples WHERE sk = records.sample);

        -- Mistake pages: one partial index per sort key, holding the filter columns so that
        -- filtered walks never touch the table.
        CREATE INDEX rec_wrong_conf  ON records(run, confidence, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_wrong_gap   ON records(run, gap, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_wrong_issue ON records(run, issue, sample, label, pred, split) WHERE pred <> label;
        -- Cell drill-down pages, one index per sort key; eff rides along so the effective-label
        -- drill-down can filter without table lookups. (Run-label confusion matrices come from
        -- run_vectors instead.)
        CREATE INDEX rec_cell_conf  ON records(run, label, pred, confidence, eff);
        CREATE INDEX rec_cell_gap   ON records(run, label, pred, gap, eff);
        CREATE INDEX rec_cell_issue ON records(run, label, pred, issue, eff);
        -- Records whose sample was relabeled since the run: the few rows that make the
        -- effective-label matrix differ from the run-label one.
        CREATE INDEX rec_eff_diff ON records(run, eff, pred) WHERE eff <> label;
        -- Relabeled samples are few: a partial index finds them without scanning the dataset.
        CREATE INDEX samples_relabeled ON samples(dataset) WHERE label <> orig_label;
        CREATE TABLE run_vectors (
          run     INTEGER PRIMARY KEY REFERENCES runs(rk) ON DELETE CASCADE,
          samples BLOB NOT NULL,   -- int32 sample keys, ascending
          labels  BLOB NOT NULL,   -- uint8 labels the run was scored against
          preds   BLOB NOT NULL    -- uint8 predictions
        );
        -- Samples per (split, original label): class counts without scanning 300k samples.
        CREATE TABLE dataset_counts (
          dataset INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
          split   TEXT NOT NULL,
          label   INTEGER NOT NULL,
          n       INTEGER NOT NULL,
          PRIMARY KEY (dataset, split, label)
        ) WITHOUT ROWID;
        INSERT INTO dataset_counts SELECT dataset, split, orig_label, count(*) FROM samples GROUP BY dataset, split, orig_label;
      `);
      for (const { rk } of db.prepare('SELECT rk FROM runs').all() as { rk: number }[]) buildRunVector(db, rk);
    },
  },
  {
    version: 3,
    description: 'issue = the combined label-issue score (no longer a function of margin): margin gets its own indexes',
    up(db) {
      // Records imported before v3 keep their (1 - margin) / 2 issue value until their run is re-imported.
      db.exec(`
        CREATE INDEX rec_wrong_margin ON records(run, margin, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_cell_margin  ON records(run, label, pred, margin, eff);
      `);
    },
  },
  {
    version: 4,
    description: "samples.votes: the annotators' vote counts (FERPlus), shown beside the label",
    up(db) {
      // JSON array (Sample.votes: canonical classes, then unknown, NF); NULL where the dataset has no votes.
      db.exec('ALTER TABLE samples ADD COLUMN votes TEXT');
    },
  },
  {
    version: CL_SCHEMA_VERSION,
    description: 'records.cl / cl_class / cl_threshold: the confident-learning ranking (prune by noise rate), with its sort indexes',
    up(db) {
      // cl: confidentLearningScore (flagged first, each group by self-confidence); cl_class / cl_threshold:
      // the class a flagged sample likely belongs to and its per-class threshold t_j, NULL when not flagged.
      db.exec(`
        ALTER TABLE records ADD COLUMN cl REAL NOT NULL DEFAULT 0;
        ALTER TABLE records ADD COLUMN cl_class INTEGER;
        ALTER TABLE records ADD COLUMN cl_threshold REAL;
        CREATE INDEX rec_wrong_cl ON records(run, cl, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_cell_cl  ON records(run, label, pred, cl, eff);
      `);
      // Existing runs get their ranking from their stored probabilities (confident learning needs whole runs).
      for (const { rk } of db.prepare('SELECT rk FROM runs').all() as { rk: number }[]) fillConfidentLearning(db, rk);
    },
  },
  {
    version: SPOT_SCHEMA_VERSION,
    description: 'spot-check reviews: the confirm mark, spot-check decisions, records.spot (random review order) and records.cal (the issue ranking calibrated on them)',
    up(db) {
      db.exec(`
        -- 'confirm': the person checked the sample and its label is right (label_changes kind 'confirm', 0/1).
        ALTER TABLE marks ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
        -- 1: the decision was made in the spot-check order (a random sample: spotCheck.ts fits on these only).
        ALTER TABLE label_changes ADD COLUMN spot_check INTEGER NOT NULL DEFAULT 0;
        -- The record's rank in the dataset's seeded random order (spotRanks.ts).
        ALTER TABLE records ADD COLUMN spot INTEGER NOT NULL DEFAULT 0;
        -- P(label wrong) under the model calibrated on the spot-check reviews; NULL until the run is calibrated.
        ALTER TABLE records ADD COLUMN cal REAL;
        CREATE INDEX rec_spot ON records(run, spot, sample);
        CREATE INDEX rec_wrong_cal ON records(run, cal, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_cell_cal  ON records(run, label, pred, cal, eff);
        -- The last calibration of a run (JSON: its reviews' fingerprint, the model and the per-class rates).
        CREATE TABLE run_calibrations (
          run     INTEGER PRIMARY KEY REFERENCES runs(rk) ON DELETE CASCADE,
          summary TEXT NOT NULL
        );
      `);
      for (const { rk } of db.prepare('SELECT rk FROM runs').all() as { rk: number }[]) fillSpotRanks(db, rk);
    },
  },
  {
    version: DUPS_SCHEMA_VERSION,
    description: 'change groups (one undo reverts a whole action) and duplicate scans (clusters, leaks, conflicts) for the duplicates view',
    up(db) {
      // Every existing change stays a change of its own (grp NULL), so old undo stacks behave as before.
      createDupTables(db);
    },
  },
  {
    version: REFERENCE_SCHEMA_VERSION,
    description: 'the gap against its class (records.gap_susp, run_class_stats) and the FER+ votes per record (votes_pred, vote_entropy, disagree), with their sort indexes; votes the records import left out (validation samples) backfilled from the runs\' records.jsonl',
    up(db) {
      db.exec(`
        -- -(robust z of the gap within its class: run label, split); NULL for neutral labels (reference.ts)
        ALTER TABLE records ADD COLUMN gap_susp REAL;
        -- share of the votes for the predicted class, their entropy (bits), 1 when the annotators disagree about the label
        ALTER TABLE records ADD COLUMN votes_pred REAL;
        ALTER TABLE records ADD COLUMN vote_entropy REAL;
        ALTER TABLE records ADD COLUMN disagree INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX rec_wrong_gap_susp ON records(run, gap_susp, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_cell_gap_susp  ON records(run, label, pred, gap_susp, eff);
        CREATE INDEX rec_wrong_votes_pred ON records(run, votes_pred, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_cell_votes_pred  ON records(run, label, pred, votes_pred, eff);
        CREATE INDEX rec_wrong_vote_entropy ON records(run, vote_entropy, sample, label, pred, split) WHERE pred <> label;
        CREATE INDEX rec_cell_vote_entropy  ON records(run, label, pred, vote_entropy, eff);
        -- the "annotators disagree" filter: few rows (only samples with votes), found without a scan
        CREATE INDEX rec_disagree ON records(run, sample) WHERE disagree = 1;
        CREATE TABLE run_class_stats (
          run    INTEGER NOT NULL REFERENCES runs(rk) ON DELETE CASCADE,
          split  TEXT NOT NULL,
          label  INTEGER NOT NULL,            -- the run label
          signal TEXT NOT NULL,               -- 'gap' | 'align'
          stats  TEXT NOT NULL,               -- JSON ClassStats (issues/classReference.ts)
          PRIMARY KEY (run, split, label, signal)
        ) WITHOUT ROWID;
      `);
      for (const { rk, dataset, metrics, classes } of db.prepare('SELECT r.rk, r.dataset, r.metrics, d.classes FROM runs r JOIN datasets d ON d.id = r.dataset').all() as { rk: number; dataset: number; metrics: string | null; classes: string }[]) {
        backfillVotesFromRunRecords(db, dataset, metrics);
        fillReference(db, rk, Math.max(0, (JSON.parse(classes) as string[]).indexOf('neutral')));
      }
    },
  },
  {
    version: DUP_SCORES_SCHEMA_VERSION,
    description: 'each duplicate cluster member\'s similarity (dup_members.score), shown beside it in the duplicates view; NULL in earlier scans',
    up(db) {
      addDupMemberScores(db);
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Applies pending migrations up to `target` (default: latest). Refuses databases from a newer build. */
export function migrate(db: Db, target: number = SCHEMA_VERSION): number {
  const current = schemaVersion(db);
  if (current > SCHEMA_VERSION) {
    throw new StoreError(`store schema version ${current} is newer than this build supports (${SCHEMA_VERSION}); update KE-FER Studio (the file was not changed)`);
  }
  for (const m of MIGRATIONS) {
    if (m.version <= current || m.version > target) continue;
    db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated since we looked.
      if (schemaVersion(db) >= m.version) return;
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return schemaVersion(db);
}
