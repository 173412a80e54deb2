// Per-sample evaluation records of a run (the evaluator's JSONL), with the derived scores the
// diagnostics panel sorts by.
import { DEFAULT_ISSUE_CONTEXT, issueScore, type IssueContext } from '../issues/combine.js';
import { confidentLearningScore } from '../issues/confidentLearning.js';
import type { SampleRecord } from '../eval/types.js';
import { CL_SCHEMA_VERSION, fillConfidentLearning } from './confident.js';
import { StoreError, withBigCache, type Store } from './db.js';
import { encodeProbs } from './probsBlob.js';
import { readLinesSync } from './lines.js';
import { refreshCounts } from './datasets.js';
import { schemaVersion } from './migrations.js';
import { runKey } from './runs.js';
import { ReferenceBuilder, REFERENCE_SCHEMA_VERSION, voteColumns } from './reference.js';
import { fillSpotRanks, SPOT_SCHEMA_VERSION, spotRanks } from './spotRanks.js';
import { buildRunVector } from './vectors.js';

/** Records per insert statement (json_each of one JSON array). */
const RECORD_CHUNK = 2048;

export interface ImportResult {
  run: string;
  records: number;
  /** Samples the records named that the dataset did not have yet (registered from the records). */
  newSamples: number;
}

/** Scores derived from probs and the label the run was scored against. */
export function scoreRecord(probs: ArrayLike<number>, label: number): { confidence: number; margin: number; issue: number } {
  const confidence = probs[label];
  let other = -Infinity;
  for (let k = 0; k < probs.length; k++) if (k !== label && probs[k] > other) other = probs[k];
  if (other === -Infinity) other = 0;
  const margin = confidence - other;
  // cleanlab's normalised margin is (margin + 1) / 2; the issue score is its complement.
  return { confidence, margin, issue: (1 - margin) / 2 };
}

interface Located {
  rec: unknown;
  where: string;
}

/** Replaces the run's records with these (one transaction: all or nothing). */
export function importRecords(store: Store, runId: string, records: Iterable<SampleRecord>): ImportResult {
  // read twice (the per-class reference first): a one-shot iterable is kept for the second pass
  const list = Array.isArray(records) ? (records as readonly SampleRecord[]) : [...records];
  function* located(): Iterable<Located> {
    let i = 0;
    for (const rec of list) yield { rec, where: `record ${++i}` };
  }
  return importLocated(store, runId, located);
}

/** Imports `kefer eval --per-sample` JSONL; errors name file:line. */
export function importRecordsJsonl(store: Store, runId: string, file: string): ImportResult {
  function* located(): Iterable<Located> {
    let n = 0;
    for (const line of readLinesSync(file)) {
      n++;
      if (!line.trim()) continue;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch (err) {
        throw new StoreError(`${file}:${n}: invalid JSON (${(err as Error).message})`);
      }
      yield { rec, where: `${file}:${n}` };
    }
  }
  return importLocated(store, runId, located);
}

/**
 * items() is read twice: first every record is checked and the run's per-class gap / align statistics
 * are gathered (a bad record is refused before anything is written), then the rows go in with their
 * gap normalised per class (v8). Reading a file twice costs less than updating every row afterwards.
 */
function importLocated(store: Store, runId: string, items: () => Iterable<Located>): ImportResult {
  const { db } = store;
  const rk = runKey(store, runId);
  const { dataset } = db.prepare('SELECT dataset FROM runs WHERE rk = ?').get(rk) as { dataset: number };
  // v5: every row goes in with its unflagged confident-learning score; fillConfidentLearning then
  // updates the flagged ones. v6: with its rank in the dataset's spot-check order. v8: with the gap's
  // per-class reference and the vote columns. (No such column exists in a store held at an older schema.)
  const version = schemaVersion(db);
  const hasVotes = version >= 4;
  const hasCl = version >= CL_SCHEMA_VERSION;
  const hasSpot = version >= SPOT_SCHEMA_VERSION;
  const hasRef = version >= REFERENCE_SCHEMA_VERSION;
  const keys = new Map<string, { sk: number; label: number; votes: string | null }>();
  for (const r of db.prepare(`SELECT sid, sk, label, ${hasVotes ? 'votes' : 'NULL'} FROM samples WHERE dataset = ?`).raw().iterate(dataset) as Iterable<[string, number, number, string | null]>) {
    keys.set(r[0], { sk: r[1], label: r[2], votes: r[3] });
  }
  const addSample = db.prepare(`INSERT INTO samples (dataset, sid, path, split, orig_label, label${hasVotes ? ', votes' : ''}) VALUES (?, ?, ?, ?, ?, ?${hasVotes ? ', ?' : ''}) RETURNING sk`);
  // Samples the dataset registered without votes get them from the records (kefer train --store registers
  // the training split only: the validation samples used to arrive here, from their records, voteless).
  const setVotes = hasVotes ? db.prepare('UPDATE samples SET votes = ? WHERE sk = ? AND votes IS NULL') : undefined;
  const columns = ['run', 'sample', 'split', 'label', 'pred', 'probs', 'sim_text', 'sim_neutral', 'gap', 'align', 'confidence', 'margin', 'issue', 'eff',
    ...(hasCl ? ['cl'] : []), ...(hasSpot ? ['spot'] : []), ...(hasRef ? ['gap_susp', 'votes_pred', 'vote_entropy', 'disagree'] : [])];
  // The records go in as JSON chunks unpacked by SQLite (json_each; probs as hex, unhex()), one statement
  // per RECORD_CHUNK: a call per record costs the Node-API binding about 1.3x better-sqlite3's per-call
  // time (bench:store). JSON numbers come back as the same doubles (SQLite 3.53's conversion round-trips).
  const fields = columns.slice(1).map((c, i) => (c === 'probs' ? `unhex(j.value ->> ${i})` : `j.value ->> ${i}`));
  const insertChunk = db.prepare(`INSERT INTO records (${columns.join(', ')}) SELECT ?, ${fields.join(', ')} FROM json_each(?) j`);
  // The issue column holds the combined label-issue score (docs/label-issues.md): self-confidence,
  // margin, the neutral gap and the text alignment, standardised by the calibration statistics.
  const { classes } = db.prepare('SELECT classes FROM datasets WHERE id = ?').get(dataset) as { classes: string };
  const neutralIndex = Math.max(0, (JSON.parse(classes) as string[]).indexOf('neutral'));
  const issueCtx: IssueContext = { ...DEFAULT_ISSUE_CONTEXT, neutralIndex };
  // pass 1: check every record, gather the per-class reference
  const reference = new ReferenceBuilder();
  let numClasses = -1;
  for (const { rec, where } of items()) {
    const r = checkRecord(rec, where);
    if (numClasses < 0) numClasses = r.probs.length;
    else if (r.probs.length !== numClasses) throw new StoreError(`${where}: probs has ${r.probs.length} entries, earlier records ${numClasses}`);
    reference.add(r.split, r.label, r.gap, r.align);
  }
  const refs = reference.finish();
  let count = 0;
  let newSamples = 0;
  withBigCache(store, () => db.transaction(() => {
    db.prepare('DELETE FROM records WHERE run = ?').run(rk);
    // Ranks over the dataset's samples known now; samples this import adds are ranked after the loop.
    const ranks = hasSpot ? spotRanks(db, dataset) : undefined;
    const seen = new Set<number>();
    let chunk: unknown[][] = [];
    const flush = () => {
      if (chunk.length) insertChunk.run(rk, JSON.stringify(chunk));
      chunk = [];
    };
    for (const { rec, where } of items()) {
      const r = checkRecord(rec, where);
      const recVotes = r.votes ? JSON.stringify(r.votes) : null;
      let s = keys.get(r.id);
      if (!s) {
        const row = [dataset, r.id, r.path, r.split, r.label, r.label];
        const { sk } = (hasVotes ? addSample.get(...row, recVotes) : addSample.get(...row)) as { sk: number };
        s = { sk, label: r.label, votes: recVotes };
        keys.set(r.id, s);
        newSamples++;
      } else if (s.votes === null && recVotes !== null && setVotes) {
        setVotes.run(recVotes, s.sk);
        s.votes = recVotes;
      }
      if (seen.has(s.sk)) throw new StoreError(`${where}: sample '${r.id}' appears twice in this run`);
      seen.add(s.sk);
      const sc = scoreRecord(r.probs, r.label);
      const values = [s.sk, r.split, r.label, r.pred, encodeProbs(r.probs).toString('hex'), r.simText, r.simNeutral, r.gap, r.align, sc.confidence, sc.margin, issueScore(r, issueCtx), s.label];
      const ref = hasRef ? [refs.gapSuspicion(r.split, r.label, r.gap, neutralIndex), ...voteColumns(s.votes === null ? null : (JSON.parse(s.votes) as number[]), r.label, r.pred)] : [];
      chunk.push([...values, ...(hasCl ? [confidentLearningScore(false, sc.confidence)] : []), ...(ranks ? [ranks.get(s.sk) ?? 0] : []), ...ref]);
      if (chunk.length === RECORD_CHUNK) flush();
      count++;
    }
    flush();
    // Confident learning ranks within the whole run: filled once every record is in. A store held at
    // an older schema (the migration tests write through this API) has no cl columns: v5 fills them.
    if (count > 0 && hasCl) fillConfidentLearning(db, rk, { unflaggedWritten: true });
    if (hasRef) refs.write(db, rk);
    // New samples change the dataset's order: rank the whole run again (the first import of a dataset
    // registered from its records; `kefer train --store` registers the dataset first).
    if (hasSpot && newSamples > 0) fillSpotRanks(db, rk);
    // The calibrated scores were the old records': the run is calibrated again on its new ones (spotCheck.ts).
    if (hasSpot) db.prepare('DELETE FROM run_calibrations WHERE run = ?').run(rk);
    buildRunVector(db, rk);
    if (newSamples > 0) refreshCounts(store, dataset);
  }).immediate());
  return { run: runId, records: count, newSamples };
}

function checkRecord(rec: unknown, where: string): SampleRecord {
  if (typeof rec !== 'object' || rec === null) throw new StoreError(`${where}: expected a JSON object`);
  const r = rec as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof r[k] !== 'string') throw new StoreError(`${where}: field '${k}' must be a string`);
    if ((r[k] as string).includes('\0')) throw new StoreError(`${where}: field '${k}' holds a NUL byte`);
  };
  const num = (k: string) => {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new StoreError(`${where}: field '${k}' must be a finite number`);
  };
  str('id');
  str('path');
  str('split');
  num('label');
  num('pred');
  num('simText');
  num('simNeutral');
  num('gap');
  if (r.align !== null && r.align !== undefined) num('align');
  if (r.votes !== undefined && r.votes !== null && (!Array.isArray(r.votes) || r.votes.length > 64 || !r.votes.every((v) => Number.isInteger(v) && v >= 0))) {
    throw new StoreError(`${where}: field 'votes' must be an array of vote counts (non-negative integers)`);
  }
  const probs = r.probs;
  if (!Array.isArray(probs) || probs.length < 2 || !probs.every((p) => typeof p === 'number' && Number.isFinite(p))) {
    throw new StoreError(`${where}: field 'probs' must be an array of at least 2 numbers`);
  }
  const k = probs.length;
  for (const f of ['label', 'pred'] as const) {
    const v = r[f] as number;
    if (!Number.isInteger(v) || v < 0 || v >= k) throw new StoreError(`${where}: ${f} ${v} is not a class index below ${k}`);
  }
  const { votes, ...rest } = r as unknown as SampleRecord & { votes?: number[] | null };
  return { ...rest, align: (r.align as number | null | undefined) ?? null, ...(votes ? { votes } : {}) };
}

export { readLinesSync };
