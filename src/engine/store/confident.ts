// The records' confident-learning columns (schema v5), so the diagnostics panel can ORDER BY the
// confident-learning ranking in SQL: cl = confidentLearningScore (flagged by prune-by-noise-rate first,
// each group by self-confidence: the CLI's `--ranker confidentLearning`), cl_class = the class a flagged
// sample likely belongs to, cl_threshold = that class's per-class threshold t_j (NULL when not flagged).
// Confident learning needs the whole run (per-class thresholds), so it runs after a run's records are in.
import { confidentLearning, confidentLearningScore } from '../issues/confidentLearning.js';
import type { Db } from './db.js';
import { decodeProbsF32 } from './probsBlob.js';

/** The schema version that added the cl columns (migrations.ts). */
export const CL_SCHEMA_VERSION = 5;

/**
 * Records written by hand into an old store may have rows of different lengths (the import refuses
 * them): confident learning cannot rank them, so they keep the self-confidence order (nothing flagged)
 * rather than make the store fail to open.
 */
function confidentLearningOrNull(probs: Float32Array[], labels: number[]): ReturnType<typeof confidentLearning> | null {
  try {
    return confidentLearning(probs, labels);
  } catch (err) {
    if (err instanceof RangeError) return null;
    throw err;
  }
}

/**
 * Fills cl, cl_class and cl_threshold of every record of run `rk`. Confident learning runs per split
 * (its thresholds are class means: in-sample training records and held-out ones must not be mixed),
 * on the labels the run was scored against. Call inside the caller's write transaction.
 * unflaggedWritten: the caller inserted every row with the unflagged values (cl = confidentLearningScore
 * (false, confidence), cl_class / cl_threshold NULL), so only flagged rows are updated: the import
 * writes each record once, and the update touches only the flagged few (21 % of 30k fake records:
 * 0.38 s of a 0.85 s import when every row was updated).
 */
export function fillConfidentLearning(db: Db, rk: number, opts: { unflaggedWritten?: boolean } = {}): { flagged: number } {
  const bySplit = new Map<string, { samples: number[]; labels: number[]; confidence: number[]; probs: Float32Array[] }>();
  const rows = db.prepare('SELECT sample, split, label, confidence, probs FROM records WHERE run = ?').raw().iterate(rk) as Iterable<[number, string, number, number, Buffer]>;
  for (const [sample, split, label, confidence, blob] of rows) {
    let g = bySplit.get(split);
    if (!g) bySplit.set(split, (g = { samples: [], labels: [], confidence: [], probs: [] }));
    g.samples.push(sample);
    g.labels.push(label);
    g.confidence.push(confidence);
    g.probs.push(decodeProbsF32(blob));
  }
  const update = db.prepare('UPDATE records SET cl = ?, cl_class = ?, cl_threshold = ? WHERE run = ? AND sample = ?');
  let flagged = 0;
  for (const g of bySplit.values()) {
    const r = confidentLearningOrNull(g.probs, g.labels);
    for (let i = 0; i < g.samples.length; i++) {
      const j = r ? r.flaggedAs[i] : -1;
      if (j >= 0) flagged++;
      else if (opts.unflaggedWritten) continue;
      const threshold = r && j >= 0 ? r.thresholds[j] : null;
      update.run(confidentLearningScore(j >= 0, g.confidence[i]), j >= 0 ? j : null, threshold, rk, g.samples[i]);
    }
  }
  return { flagged };
}
