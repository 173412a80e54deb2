// Datasets and their samples. A dataset is identified by (format, absolute root); loading it again
// (another split, a newer label release) merges into the same rows.
import { resolve } from 'node:path';
import type { ClassName } from '../classes.js';
import type { Dataset, Sample } from '../data/types.js';
import { nowIso, StoreError, withBigCache, type Store } from './db.js';
import { schemaVersion } from './migrations.js';
import { REFERENCE_SCHEMA_VERSION, refreshVoteColumns } from './reference.js';

export interface DatasetRow {
  id: number;
  format: string;
  root: string;
  spec: string | null;
  classes: ClassName[];
  synthetic: boolean;
  created: string;
  /** Number of samples stored. */
  samples: number;
}

/** Identifies one sample: the dataset row id and the dataset's own Sample.id. */
export interface SampleKey {
  dataset: number;
  id: string;
}

interface RawDatasetRow {
  id: number;
  format: string;
  root: string;
  spec: string | null;
  classes: string;
  synthetic: number;
  created: string;
  samples: number;
}

function toRow(r: RawDatasetRow): DatasetRow {
  return { ...r, classes: JSON.parse(r.classes) as ClassName[], synthetic: r.synthetic !== 0 };
}

/** Samples per insert statement (json_each of one JSON array). */
const SAMPLE_CHUNK = 4096;

const SELECT_DATASET = `SELECT d.id, d.format, d.root, d.spec, d.classes, d.synthetic, d.created,
  (SELECT coalesce(sum(n), 0) FROM dataset_counts c WHERE c.dataset = d.id) AS samples FROM datasets d`;

/**
 * Inserts or updates a dataset and all its samples in one transaction. Existing samples keep their
 * overlay: a relabeled sample keeps its effective label even if the original label changed.
 */
export function upsertDataset(store: Store, dataset: Dataset, opts: { spec?: string } = {}): DatasetRow {
  const { db } = store;
  const root = resolve(dataset.root);
  const insertDataset = db.prepare(
    `INSERT INTO datasets (format, root, spec, classes, synthetic, created) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (format, root) DO UPDATE SET spec = coalesce(excluded.spec, datasets.spec),
       classes = excluded.classes, synthetic = excluded.synthetic
     RETURNING id`,
  );
  // SET expressions read the pre-update row, so `label` is compared with the old orig_label.
  // A store held at an older schema (openStore's targetVersion, how migrations are tested) has no votes column.
  const votes = schemaVersion(db) >= 4;
  // The samples go in as JSON chunks unpacked by SQLite (json_each), one statement per SAMPLE_CHUNK:
  // a call per sample costs the Node-API binding about 1.3x better-sqlite3's per-call time, and the
  // calls were most of a bulk import's (bench:store).
  const insertSamples = db.prepare(
    `INSERT INTO samples (dataset, sid, path, split, orig_label, label${votes ? ', votes' : ''})
     SELECT ?, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 3${votes ? ', j.value ->> 4' : ''} FROM json_each(?) j WHERE true
     ON CONFLICT (dataset, sid) DO UPDATE SET path = excluded.path, split = excluded.split,
       label = CASE WHEN samples.label = samples.orig_label THEN excluded.orig_label ELSE samples.label END,
       orig_label = excluded.orig_label${votes ? ', votes = excluded.votes' : ''}
     WHERE samples.path <> excluded.path OR samples.split <> excluded.split OR samples.orig_label <> excluded.orig_label
       ${votes ? 'OR samples.votes IS NOT excluded.votes' : ''}`,
  );
  const syncEff = db.prepare(
    `UPDATE records SET eff = (SELECT label FROM samples WHERE sk = records.sample)
     WHERE sample IN (SELECT sk FROM samples WHERE dataset = ?) AND eff <> (SELECT label FROM samples WHERE sk = records.sample)`,
  );
  let id = 0;
  withBigCache(store, () => db.transaction(() => {
    const row = insertDataset.get(dataset.format, root, opts.spec ?? null, JSON.stringify(dataset.classes), dataset.synthetic ? 1 : 0, nowIso()) as { id: number };
    id = row.id;
    let changed = 0;
    for (let at = 0; at < dataset.samples.length; at += SAMPLE_CHUNK) {
      const chunk = dataset.samples.slice(at, at + SAMPLE_CHUNK).map((s) => {
        // as the driver refuses NUL in bound text (sqlite.ts): SQLite would keep the text cut short
        for (const t of [s.id, s.path, s.split]) if (t.includes('\0')) throw new StoreError(`sample '${s.id.replace(/\0/g, '\\0')}': a NUL byte in its id, path or split`);
        return votes ? [s.id, s.path, s.split, s.label, s.votes ? JSON.stringify(s.votes) : null] : [s.id, s.path, s.split, s.label];
      });
      changed += insertSamples.run(id, JSON.stringify(chunk)).changes;
    }
    // Only when labels of already-evaluated samples may have moved (re-import of a newer release).
    if (changed > 0 && hasRecords(store, id)) {
      syncEff.run(id);
      // the records' vote columns follow their samples' votes (a dataset loaded again, now with votes)
      if (schemaVersion(db) >= REFERENCE_SCHEMA_VERSION) refreshVoteColumns(db, id);
    }
    if (changed > 0) refreshCounts(store, id);
  }).immediate());
  return getDataset(store, id);
}

/** Recomputes the cached per-(split, original label) counts; call inside the writing transaction. */
export function refreshCounts(store: Store, datasetId: number): void {
  store.db.prepare('DELETE FROM dataset_counts WHERE dataset = ?').run(datasetId);
  store.db
    .prepare('INSERT INTO dataset_counts SELECT dataset, split, orig_label, count(*) FROM samples WHERE dataset = ? GROUP BY split, orig_label')
    .run(datasetId);
}

function hasRecords(store: Store, datasetId: number): boolean {
  return store.db.prepare('SELECT 1 FROM runs WHERE dataset = ? LIMIT 1').get(datasetId) !== undefined;
}

export function getDataset(store: Store, id: number): DatasetRow {
  const r = store.db.prepare(`${SELECT_DATASET} WHERE d.id = ?`).get(id) as RawDatasetRow | undefined;
  if (!r) throw new StoreError(`no dataset with id ${id} in the store`);
  return toRow(r);
}

export function listDatasets(store: Store): DatasetRow[] {
  return (store.db.prepare(`${SELECT_DATASET} ORDER BY d.id`).all() as RawDatasetRow[]).map(toRow);
}

export function findDataset(store: Store, format: string, root: string): DatasetRow | undefined {
  const r = store.db.prepare(`${SELECT_DATASET} WHERE d.format = ? AND d.root = ?`).get(format, resolve(root)) as RawDatasetRow | undefined;
  return r && toRow(r);
}

/**
 * Finds the dataset a `--data` spec names: the exact stored spec, else `format:path` by format and
 * root (ignoring `#split` and `?options`). Without a spec, the store's only dataset.
 */
export function resolveDataset(store: Store, spec?: string): DatasetRow {
  const all = listDatasets(store);
  if (!spec) {
    if (all.length === 1) return all[0];
    if (all.length === 0) throw new StoreError('the store has no datasets yet; pass --data SPEC or evaluate a run first');
    throw new StoreError(`the store has ${all.length} datasets; pick one with --data (${all.map((d) => d.spec ?? `${d.format}:${d.root}`).join(', ')})`);
  }
  const exact = all.find((d) => d.spec === spec);
  if (exact) return exact;
  const m = /^([a-z0-9_-]+):(.*?)(?:[#?].*)?$/i.exec(spec);
  if (m) {
    const found = all.find((d) => d.format === m[1] && d.root === resolve(m[2]));
    if (found) return found;
  }
  throw new StoreError(`dataset '${spec}' is not in the store`);
}

/** Sample key (samples.sk) for a dataset's Sample.id; throws a one-line error when unknown. */
export function sampleKeyOf(store: Store, key: SampleKey): number {
  const r = store.db.prepare('SELECT sk FROM samples WHERE dataset = ? AND sid = ?').get(key.dataset, key.id) as { sk: number } | undefined;
  if (!r) throw new StoreError(`no sample '${key.id}' in dataset ${key.dataset}`);
  return r.sk;
}

/** The stored dataset as a Dataset with ORIGINAL labels (what the label files say). */
export function storedDataset(store: Store, id: number): Dataset {
  const d = getDataset(store, id);
  const rows = store.db
    .prepare('SELECT sid AS id, path, orig_label AS label, split, votes FROM samples WHERE dataset = ? ORDER BY sk')
    .all(id) as (Omit<Sample, 'votes'> & { votes: string | null })[];
  const samples: Sample[] = rows.map(({ votes, ...s }) => (votes ? { ...s, votes: JSON.parse(votes) as number[] } : s));
  return { format: d.format, root: d.root, classes: d.classes, samples, synthetic: d.synthetic || undefined };
}
