// Training/evaluation runs. The trainer owns the run directory; the store keeps what the panel
// needs to list and compare runs.
import { nowIso, StoreError, type Store } from './db.js';

export interface RunInfo {
  id: string;
  /** Dataset row id (datasets.id). */
  dataset: number;
  created?: string;
  backbone?: string;
  status?: string;
  config?: unknown;
  metrics?: unknown;
  textSource?: string;
  backend?: string;
  /** Run this one was retrained from. */
  parent?: string;
}

export interface RunRow extends Required<Omit<RunInfo, 'parent' | 'config' | 'metrics'>> {
  rk: number;
  config: unknown;
  metrics: unknown;
  parent: string | null;
  /** Number of evaluation records imported. */
  records: number;
}

interface RawRun {
  rk: number;
  id: string;
  dataset: number;
  created: string;
  backbone: string | null;
  status: string;
  config: string | null;
  metrics: string | null;
  text_source: string | null;
  backend: string | null;
  parent: string | null;
  records: number;
}

const SELECT_RUN = `SELECT r.rk, r.id, r.dataset, r.created, r.backbone, r.status, r.config, r.metrics, r.text_source,
  r.backend, p.id AS parent, coalesce((SELECT length(v.samples) / 4 FROM run_vectors v WHERE v.run = r.rk), 0) AS records
  FROM runs r LEFT JOIN runs p ON p.rk = r.parent`;

function toRun(r: RawRun): RunRow {
  return {
    rk: r.rk,
    id: r.id,
    dataset: r.dataset,
    created: r.created,
    backbone: r.backbone ?? '',
    status: r.status,
    config: r.config === null ? null : JSON.parse(r.config),
    metrics: r.metrics === null ? null : JSON.parse(r.metrics),
    textSource: r.text_source ?? '',
    backend: r.backend ?? '',
    parent: r.parent,
    records: r.records,
  };
}

/** Registers a run, or updates its metadata when the id exists (records are kept). */
export function registerRun(store: Store, info: RunInfo): RunRow {
  const { db } = store;
  let parentRk: number | null = null;
  if (info.parent !== undefined) {
    const p = db.prepare('SELECT rk FROM runs WHERE id = ?').get(info.parent) as { rk: number } | undefined;
    if (!p) throw new StoreError(`parent run '${info.parent}' is not in the store`);
    parentRk = p.rk;
  }
  if (!db.prepare('SELECT 1 FROM datasets WHERE id = ?').get(info.dataset)) {
    throw new StoreError(`no dataset with id ${info.dataset} in the store`);
  }
  const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
  db.prepare(
    `INSERT INTO runs (id, dataset, created, backbone, status, config, metrics, text_source, backend, parent)
     VALUES (@id, @dataset, @created, @backbone, @status, @config, @metrics, @textSource, @backend, @parent)
     ON CONFLICT (id) DO UPDATE SET dataset = excluded.dataset, backbone = coalesce(excluded.backbone, runs.backbone),
       status = excluded.status, config = coalesce(excluded.config, runs.config), metrics = coalesce(excluded.metrics, runs.metrics),
       text_source = coalesce(excluded.text_source, runs.text_source), backend = coalesce(excluded.backend, runs.backend),
       parent = coalesce(excluded.parent, runs.parent)`,
  ).run({
    id: info.id,
    dataset: info.dataset,
    created: info.created ?? nowIso(),
    backbone: info.backbone ?? null,
    status: info.status ?? 'done',
    config: json(info.config),
    metrics: json(info.metrics),
    textSource: info.textSource ?? null,
    backend: info.backend ?? null,
    parent: parentRk,
  });
  return getRun(store, info.id);
}

export function getRun(store: Store, id: string): RunRow {
  const r = store.db.prepare(`${SELECT_RUN} WHERE r.id = ?`).get(id) as RawRun | undefined;
  if (!r) throw new StoreError(`run '${id}' is not in the store`);
  return toRun(r);
}

export function listRuns(store: Store, datasetId?: number): RunRow[] {
  const rows = (datasetId === undefined
    ? store.db.prepare(`${SELECT_RUN} ORDER BY r.created, r.rk`).all()
    : store.db.prepare(`${SELECT_RUN} WHERE r.dataset = ? ORDER BY r.created, r.rk`).all(datasetId)) as RawRun[];
  return rows.map(toRun);
}

/** Internal run key (runs.rk) for a run id. */
export function runKey(store: Store, id: string): number {
  const r = store.db.prepare('SELECT rk FROM runs WHERE id = ?').get(id) as { rk: number } | undefined;
  if (!r) throw new StoreError(`run '${id}' is not in the store`);
  return r.rk;
}
