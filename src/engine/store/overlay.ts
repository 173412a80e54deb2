// The relabel overlay: original labels stay as the dataset's files say; changes live in
// label_changes with one persisted undo/redo stack per dataset. Every change is one IMMEDIATE
// transaction, so once a call returns the change is committed (see db.ts for durability).
import { resolve } from 'node:path';
import type { Dataset } from '../data/types.js';
import { currentAuthor, nowIso, StoreError, type Store } from './db.js';
import { findDataset, getDataset, sampleKeyOf, type SampleKey } from './datasets.js';
import { schemaVersion } from './migrations.js';
import { SPOT_SCHEMA_VERSION } from './spotRanks.js';
import { DUPS_SCHEMA_VERSION as GROUP_SCHEMA_VERSION } from './dupScans.js';

/** 'confirm': a person checked the sample and says its label is right (schema v6). */
export type ChangeKind = 'label' | 'exclude' | 'unsure' | 'confirm';
export type MarkKind = 'exclude' | 'unsure' | 'confirm';
export type ChangeState = 'applied' | 'undone' | 'dropped';

export interface ChangeOptions {
  note?: string;
  /** Run whose prediction suggested the change. */
  runId?: string;
  /** Defaults to `git config user.name`, else the OS user. */
  author?: string;
  /**
   * Made while reviewing in the spot-check order (a random sample of the run): only such decisions
   * calibrate the issue ranking (spotCheck.ts). Needs schema v6.
   */
  spotCheck?: boolean;
}

export interface LabelChange {
  id: number;
  dataset: number;
  sampleId: string;
  kind: ChangeKind;
  /** Labels for kind 'label'; 0/1 for marks. */
  oldValue: number;
  newValue: number;
  time: string;
  author: string;
  note: string | null;
  run: string | null;
  state: ChangeState;
  /** Made during a spot-check (ChangeOptions.spotCheck). */
  spotCheck: boolean;
  /**
   * The action the change belongs to (the id of its first change), when one action made several
   * changes (schema v7: a duplicate cluster relabelled, leaked copies excluded); one undo reverts them all.
   */
  group?: number;
}

export interface EffectiveLabel {
  label: number;
  original: number;
  excluded: boolean;
  unsure: boolean;
}

const STATES: ChangeState[] = ['applied', 'undone', 'dropped'];

interface RawChange {
  id: number;
  dataset: number;
  sid: string;
  kind: ChangeKind;
  old_label: number;
  new_label: number;
  time: string;
  author: string;
  note: string | null;
  run: string | null;
  undone: number;
  spot_check: number;
  grp: number | null;
}

/** Stores held at an older schema (the migration tests write through this API) have no v6 columns. */
const hasV6 = (store: Store): boolean => schemaVersion(store.db) >= SPOT_SCHEMA_VERSION;

const hasV7 = (store: Store): boolean => schemaVersion(store.db) >= GROUP_SCHEMA_VERSION;

const selectChange = (store: Store): string => `SELECT c.id, c.dataset, s.sid, c.kind, c.old_label, c.new_label, c.time, c.author, c.note, c.run, c.undone,
  ${hasV6(store) ? 'c.spot_check' : '0 AS spot_check'}, ${hasV7(store) ? 'c.grp' : 'NULL AS grp'} FROM label_changes c JOIN samples s ON s.sk = c.sample`;

const MARK_COLUMN: Record<MarkKind, string> = { exclude: 'excluded', unsure: 'unsure', confirm: 'confirmed' };

function toChange(r: RawChange): LabelChange {
  return {
    id: r.id,
    dataset: r.dataset,
    sampleId: r.sid,
    kind: r.kind,
    oldValue: r.old_label,
    newValue: r.new_label,
    time: r.time,
    author: r.author,
    note: r.note,
    run: r.run,
    state: STATES[r.undone],
    spotCheck: r.spot_check !== 0,
    ...(r.grp !== null ? { group: r.grp } : {}),
  };
}

function getChange(store: Store, id: number): LabelChange {
  return toChange(store.db.prepare(`${selectChange(store)} WHERE c.id = ?`).get(id) as RawChange);
}

/** Writes one value (label or mark) for a sample, keeping the denormalised copies in sync. */
function writeValue(store: Store, sk: number, kind: ChangeKind, value: number): void {
  const { db } = store;
  if (kind === 'label') {
    db.prepare('UPDATE samples SET label = ? WHERE sk = ?').run(value, sk);
    db.prepare('UPDATE records SET eff = ? WHERE sample = ?').run(value, sk);
  } else {
    const col = MARK_COLUMN[kind];
    db.prepare(`INSERT INTO marks (sample, ${col}) VALUES (?, ?) ON CONFLICT (sample) DO UPDATE SET ${col} = excluded.${col}`).run(sk, value);
  }
}

function readValue(store: Store, sk: number, kind: ChangeKind): number {
  if (kind === 'label') return (store.db.prepare('SELECT label FROM samples WHERE sk = ?').get(sk) as { label: number }).label;
  const col = MARK_COLUMN[kind];
  const r = store.db.prepare(`SELECT ${col} AS v FROM marks WHERE sample = ?`).get(sk) as { v: number } | undefined;
  return r?.v ?? 0;
}

function event(store: Store, change: number, action: 'do' | 'undo' | 'redo', author: string): void {
  store.db.prepare('INSERT INTO change_events (change, action, time, author) VALUES (?, ?, ?, ?)').run(change, action, nowIso(), author);
}

/** describe: the error when the value is already set; null: record the decision anyway (a confirm repeated). */
function record(store: Store, key: SampleKey, kind: ChangeKind, value: number, opts: ChangeOptions, describe: (() => string) | null): LabelChange {
  const { db } = store;
  const author = opts.author ?? currentAuthor();
  const v6 = hasV6(store);
  if ((kind === 'confirm' || opts.spotCheck) && !v6) throw new StoreError(`this store is at schema ${schemaVersion(db)}: confirm marks and spot-check decisions need schema ${SPOT_SCHEMA_VERSION}`);
  let id = 0;
  db.transaction(() => {
    const sk = sampleKeyOf(store, key);
    const old = readValue(store, sk, kind);
    if (old === value && describe) throw new StoreError(describe());
    // A new change clears the redo stack (undone changes stay in the log as 'dropped').
    db.prepare('UPDATE label_changes SET undone = 2 WHERE dataset = ? AND undone = 1').run(key.dataset);
    const args = [key.dataset, sk, kind, old, value, nowIso(), author, opts.note ?? null, opts.runId ?? null] as const;
    id = Number(
      (v6
        ? db.prepare('INSERT INTO label_changes (dataset, sample, kind, old_label, new_label, time, author, note, run, spot_check) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(...args, opts.spotCheck ? 1 : 0)
        : db.prepare('INSERT INTO label_changes (dataset, sample, kind, old_label, new_label, time, author, note, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(...args)
      ).lastInsertRowid,
    );
    writeValue(store, sk, kind, value);
    event(store, id, 'do', author);
  }).immediate();
  return getChange(store, id);
}

/** Changes a sample's effective label (an index into the dataset's classes). */
export function relabel(store: Store, key: SampleKey, newLabel: number, opts: ChangeOptions = {}): LabelChange {
  const d = getDataset(store, key.dataset);
  if (!Number.isInteger(newLabel) || newLabel < 0 || newLabel >= d.classes.length) {
    throw new StoreError(`label ${newLabel} is not a class of this dataset (0..${d.classes.length - 1}: ${d.classes.join(', ')})`);
  }
  return record(store, key, 'label', newLabel, opts, () => `sample '${key.id}' is already labelled ${d.classes[newLabel]}`);
}

/** Sets or clears a mark: 'exclude' (left out of training and exports), 'unsure' or 'confirm' (see confirmLabel). */
export function setMark(store: Store, key: SampleKey, mark: MarkKind, on: boolean, opts: ChangeOptions = {}): LabelChange {
  return record(store, key, mark, on ? 1 : 0, opts, () => `sample '${key.id}' is already ${on ? '' : 'not '}marked ${mark}`);
}

/**
 * Records that a person checked the sample and its current label is right (the 'confirm' mark). Unlike
 * the other marks, confirming an already confirmed sample is recorded again: it is a new decision (say,
 * in a spot-check after an earlier look), and undoing it leaves the earlier confirmation in place.
 */
export function confirmLabel(store: Store, key: SampleKey, opts: ChangeOptions = {}): LabelChange {
  return record(store, key, 'confirm', 1, opts, null);
}

/** Reverts the dataset's latest applied change; null when there is nothing to undo. */
export function undo(store: Store, dataset: number, opts: { author?: string } = {}): LabelChange | null {
  return step(store, dataset, 'undo', opts.author ?? currentAuthor());
}

/** Re-applies the most recently undone change; null when the redo stack is empty. */
export function redo(store: Store, dataset: number, opts: { author?: string } = {}): LabelChange | null {
  return step(store, dataset, 'redo', opts.author ?? currentAuthor());
}

function step(store: Store, dataset: number, action: 'undo' | 'redo', author: string): LabelChange | null {
  const { db } = store;
  let id: number | null = null;
  const grouped = hasV7(store);
  type Row = { id: number; sample: number; kind: ChangeKind; old_label: number; new_label: number; grp: number | null };
  db.transaction(() => {
    // Undos go newest-first, so the undone changes are always the newest ones and the next redo
    // is the oldest of them.
    const cols = `id, sample, kind, old_label, new_label, ${grouped ? 'grp' : 'NULL AS grp'}`;
    const row = (action === 'undo'
      ? db.prepare(`SELECT ${cols} FROM label_changes WHERE dataset = ? AND undone = 0 ORDER BY id DESC LIMIT 1`)
      : db.prepare(`SELECT ${cols} FROM label_changes WHERE dataset = ? AND undone = 1 ORDER BY id ASC LIMIT 1`)
    ).get(dataset) as Row | undefined;
    if (!row) return;
    // One action's changes (a group) are undone and redone together: undo newest-first, redo oldest-first.
    const rows = row.grp === null ? [row] : (db.prepare(`SELECT ${cols} FROM label_changes WHERE grp = ? AND undone = ? ORDER BY id ${action === 'undo' ? 'DESC' : 'ASC'}`).all(row.grp, action === 'undo' ? 0 : 1) as Row[]);
    for (const r of rows) {
      writeValue(store, r.sample, r.kind, action === 'undo' ? r.old_label : r.new_label);
      db.prepare('UPDATE label_changes SET undone = ? WHERE id = ?').run(action === 'undo' ? 1 : 0, r.id);
      event(store, r.id, action, author);
    }
    id = row.id;
  }).immediate();
  return id === null ? null : getChange(store, id);
}

/** One change of a grouped action: a sample and the value (label, or 0/1 for a mark) it gets. */
export interface GroupChange {
  id: string;
  kind: ChangeKind;
  value: number;
}

/**
 * Makes several changes as ONE action (schema v7): one transaction, one entry on the undo stack (undo and
 * redo take all of them), each change still in the audit log. Changes that would not change anything
 * (the sample already has the value) are left out; an action with nothing to change records nothing.
 */
export function applyGroup(store: Store, dataset: number, changes: readonly GroupChange[], opts: ChangeOptions = {}): LabelChange[] {
  const { db } = store;
  if (!hasV7(store)) throw new StoreError(`this store is at schema ${schemaVersion(db)}: changes made as one action need schema ${GROUP_SCHEMA_VERSION}`);
  const d = getDataset(store, dataset);
  for (const c of changes) {
    if (c.kind === 'label' && (!Number.isInteger(c.value) || c.value < 0 || c.value >= d.classes.length)) {
      throw new StoreError(`label ${c.value} is not a class of this dataset (0..${d.classes.length - 1}: ${d.classes.join(', ')})`);
    }
    if (c.kind !== 'label' && c.value !== 0 && c.value !== 1) throw new StoreError(`mark ${c.kind} takes 0 or 1, got ${c.value}`);
  }
  const author = opts.author ?? currentAuthor();
  const ids: number[] = [];
  db.transaction(() => {
    let grp: number | null = null;
    const insert = db.prepare('INSERT INTO label_changes (dataset, sample, kind, old_label, new_label, time, author, note, run, spot_check, grp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const c of changes) {
      const sk = sampleKeyOf(store, { dataset, id: c.id });
      const old = readValue(store, sk, c.kind);
      if (old === c.value) continue;
      // The first change clears the redo stack, as a single change does.
      if (grp === null) db.prepare('UPDATE label_changes SET undone = 2 WHERE dataset = ? AND undone = 1').run(dataset);
      const id: number = Number(insert.run(dataset, sk, c.kind, old, c.value, nowIso(), author, opts.note ?? null, opts.runId ?? null, opts.spotCheck ? 1 : 0, grp).lastInsertRowid);
      if (grp === null) {
        grp = id;
        db.prepare('UPDATE label_changes SET grp = ? WHERE id = ?').run(grp, id);
      }
      writeValue(store, sk, c.kind, c.value);
      event(store, id, 'do', author);
      ids.push(id);
    }
  }).immediate();
  return ids.map((id) => getChange(store, id));
}

export interface LogOptions {
  dataset?: number;
  /** Dataset Sample.id (needs `dataset` when the store holds several datasets). */
  sample?: string;
  limit?: number;
  /** Include undone and dropped changes (default true: it is an audit log). */
  all?: boolean;
}

/** Label changes, newest first. */
export function labelLog(store: Store, opts: LogOptions = {}): LabelChange[] {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (opts.dataset !== undefined) {
    where.push('c.dataset = ?');
    args.push(opts.dataset);
  }
  if (opts.sample !== undefined) {
    where.push('s.sid = ?');
    args.push(opts.sample);
  }
  if (opts.all === false) where.push('c.undone = 0');
  const sql = `${selectChange(store)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY c.id DESC${opts.limit ? ' LIMIT ?' : ''}`;
  if (opts.limit) args.push(opts.limit);
  return (store.db.prepare(sql).all(...args) as RawChange[]).map(toChange);
}

/** Audit events (do/undo/redo) of one change, oldest first. */
export function changeEvents(store: Store, change: number): { action: string; time: string; author: string }[] {
  return store.db.prepare('SELECT action, time, author FROM change_events WHERE change = ? ORDER BY id').all(change) as {
    action: string;
    time: string;
    author: string;
  }[];
}

/** Effective label and marks of every stored sample of a dataset, by Sample.id. */
export function effectiveLabels(store: Store, dataset: number): Map<string, EffectiveLabel> {
  const out = new Map<string, EffectiveLabel>();
  const rows = store.db
    .prepare(
      `SELECT s.sid, s.label, s.orig_label, coalesce(m.excluded, 0), coalesce(m.unsure, 0)
       FROM samples s LEFT JOIN marks m ON m.sample = s.sk WHERE s.dataset = ?`,
    )
    .raw()
    .iterate(dataset) as Iterable<[string, number, number, number, number]>;
  for (const [sid, label, original, ex, un] of rows) out.set(sid, { label, original, excluded: ex !== 0, unsure: un !== 0 });
  return out;
}

/**
 * The training reader's hook: the dataset with relabels applied and excluded samples removed.
 * Samples relabeled to a class outside `dataset.classes` (contempt in a 7-class load) are dropped,
 * as 7-class readers drop contempt. A dataset the store does not know is returned unchanged.
 */
export function applyOverlay(store: Store, dataset: Dataset): Dataset {
  const row = findDataset(store, dataset.format, resolve(dataset.root));
  if (!row) return { ...dataset, samples: [...dataset.samples] };
  const eff = effectiveLabels(store, row.id);
  const samples = [];
  for (const s of dataset.samples) {
    const e = eff.get(s.id);
    if (!e) {
      samples.push(s);
      continue;
    }
    // Not relabeled: trust the reader (its files may be newer than the store's copy).
    const label = e.label !== e.original ? e.label : s.label;
    if (e.excluded || label >= dataset.classes.length) continue;
    samples.push(label === s.label ? s : { ...s, label });
  }
  return { ...dataset, samples };
}
