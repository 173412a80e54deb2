// Votes a store is missing although the run's records carry them. Before schema v7 the records import
// registered the samples it did not know yet (the validation split of `kefer train --store`, which
// registers the training split only) without their votes: every FERPlus validation row had none. The
// import now stores them; the v7 migration fills what older imports left out from each run's
// records.jsonl (the folder the engine recorded in the run's metrics), when it is still there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db.js';
import { readLinesSync } from './lines.js';

/** Lines read before giving up on a records file whose records carry no votes (not a FERPlus run). */
const PROBE_LINES = 50;

/** Sets the votes of samples of `datasetId` that have none from one records.jsonl; returns how many. */
export function backfillVotesFromRecords(db: Db, datasetId: number, file: string): number {
  const update = db.prepare('UPDATE samples SET votes = ? WHERE dataset = ? AND sid = ? AND votes IS NULL');
  let lines = 0;
  let withVotes = 0;
  let filled = 0;
  try {
    for (const line of readLinesSync(file)) {
      if (!line.trim()) continue;
      lines++;
      let rec: { id?: unknown; votes?: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        continue; // a damaged line: the import would refuse it; nothing to fill from it
      }
      if (typeof rec.id === 'string' && Array.isArray(rec.votes) && rec.votes.every((v) => Number.isInteger(v) && v >= 0)) {
        withVotes++;
        filled += update.run(JSON.stringify(rec.votes), datasetId, rec.id).changes;
      }
      if (withVotes === 0 && lines >= PROBE_LINES) break;
    }
  } catch {
    return filled; // unreadable file: the store stays as it was for the rest
  }
  return filled;
}

/** The v7 backfill of one run: its records.jsonl, found through the run folder in its metrics. */
export function backfillVotesFromRunRecords(db: Db, datasetId: number, metricsJson: string | null): number {
  let runDir: unknown;
  try {
    runDir = metricsJson ? (JSON.parse(metricsJson) as { runDir?: unknown }).runDir : undefined;
  } catch {
    return 0;
  }
  if (typeof runDir !== 'string') return 0;
  const file = join(runDir, 'records.jsonl');
  return existsSync(file) ? backfillVotesFromRecords(db, datasetId, file) : 0;
}
