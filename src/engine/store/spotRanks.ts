// The records' spot-check rank (schema v6): each record's position in the dataset's seeded random order
// (spotCheckOrder of its sample ids), so the panel's 'spotcheck' order is an index walk. The order is
// the dataset's, not the run's: a spot-check interrupted on one run continues on its retrain with the
// same samples in the same order, and their reviews carry over (they are decisions on the dataset's labels).
import { spotCheckOrder } from '../issues/calibrate.js';
import type { Db } from './db.js';

/** The schema version that added the spot-check and calibration columns (migrations.ts). */
export const SPOT_SCHEMA_VERSION = 6;
/** The spot-check order's seed: fixed, so every session and every run of a dataset shows the same order. */
export const SPOT_CHECK_SEED = 0;

/** Sample key -> rank in the dataset's spot-check order, over every sample the dataset has now. */
export function spotRanks(db: Db, dataset: number): Map<number, number> {
  const bySid = new Map<string, number>();
  for (const [sid, sk] of db.prepare('SELECT sid, sk FROM samples WHERE dataset = ?').raw().iterate(dataset) as Iterable<[string, number]>) bySid.set(sid, sk);
  const ranks = new Map<number, number>();
  spotCheckOrder([...bySid.keys()], SPOT_CHECK_SEED).forEach((sid, i) => ranks.set(bySid.get(sid)!, i));
  return ranks;
}

/** Writes records.spot of every record of run `rk` (inside the caller's write transaction). */
export function fillSpotRanks(db: Db, rk: number): void {
  const { dataset } = db.prepare('SELECT dataset FROM runs WHERE rk = ?').get(rk) as { dataset: number };
  const ranks = spotRanks(db, dataset);
  const update = db.prepare('UPDATE records SET spot = ? WHERE run = ? AND sample = ?');
  for (const sample of db.prepare('SELECT sample FROM records WHERE run = ?').pluck().all(rk) as number[]) update.run(ranks.get(sample) ?? 0, rk, sample);
}
