// What the diagnostics header says of a run (protocol RunOverview): its accuracy on its own labels
// (out-of-fold for `kefer issues --cross-val`), the mean class recall, the commonest label's share, the
// classes too small for a class reference, whether its samples carry votes, and whether a
// cross-validation run's model is too weak for its flags to mean much.
//
// The rule for "too weak": out-of-fold accuracy less than WEAK_MARGIN (10 points) above always answering
// the commonest label, or a mean class recall below twice chance (2/K). Confident learning's flags and
// noise rates come from that model's probabilities: a model near the majority baseline "finds" most of
// every minority class wrong (a HOG head at 39% on FER2013, 35% neutral, flagged 46% of the images).
import { SMALL_CLASS } from '../../engine/issues/classReference.js';
import { confusion, getDataset, getRun, runKey, type Store } from '../../engine/store/index.js';
import type { RunOverview } from '../../webviews/protocol.js';

export const WEAK_MARGIN = 0.1;

export function runOverview(store: Store, runId: string, runDir: string): RunOverview {
  const run = getRun(store, runId);
  const classes = getDataset(store, run.dataset).classes;
  const c = confusion(store, runId, 'run');
  const k = c.matrix.length;
  const classCounts = c.matrix.map((row) => row.reduce((a, b) => a + b, 0));
  let majority = 0;
  for (let i = 1; i < k; i++) if (classCounts[i] > classCounts[majority]) majority = i;
  const present = classCounts.map((n, i) => [n, i] as const).filter(([n]) => n > 0);
  const uar = present.length ? present.reduce((a, [n, i]) => a + c.matrix[i][i] / n, 0) / present.length : 0;
  const share = c.n ? classCounts[majority] / c.n : 0;
  // the largest vote share among the mistakes: one index seek (NULL, no votes, sorts lowest)
  const top = store.db.prepare('SELECT votes_pred FROM records INDEXED BY rec_wrong_votes_pred WHERE run = ? AND pred <> label ORDER BY votes_pred DESC LIMIT 1').pluck().get(runKey(store, runId));
  const hasVotes = top !== undefined && top !== null;
  const m = (run.metrics ?? {}) as { crossVal?: { k?: unknown; mode?: unknown } };
  const crossVal = m.crossVal && typeof m.crossVal.k === 'number' ? { k: m.crossVal.k, mode: typeof m.crossVal.mode === 'string' ? m.crossVal.mode : '?' } : null;
  const name = (i: number): string => classes[i] ?? `class ${i}`;
  let weak: string | null = null;
  if (crossVal && c.n > 0) {
    const reasons: string[] = [];
    if (c.accuracy < share + WEAK_MARGIN) reasons.push(`its out-of-fold accuracy ${pct(c.accuracy)} is less than 10 points above always answering ${name(majority)} (${pct(share)})`);
    if (present.length > 1 && uar < 2 / present.length) reasons.push(`its mean class recall ${pct(uar)} is below twice chance (${pct(2 / present.length)})`);
    if (reasons.length) weak = `This cross-validation model is too weak for its flags to mean much: ${reasons.join('; ')}. Its probabilities call most of every minority class wrong; train a stronger fold model (a run's checkpoint, or the full model) before relying on its flags and noise rates.`;
  }
  return {
    runDir, n: c.n, accuracy: c.accuracy, uar, majority: { cls: majority, share }, classCounts,
    smallClasses: classCounts.map((n, i) => [n, i] as const).filter(([n]) => n > 0 && n < SMALL_CLASS).map(([, i]) => i),
    hasVotes, crossVal, weak,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
