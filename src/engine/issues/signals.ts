// Per-sample label-issue signals from one evaluated record (src/engine/eval/types.ts SampleRecord).
// Two are cleanlab's (self-confidence, normalised margin); two are KE-FER's own (the emotional-to-neutral
// gap and the text alignment, ../shared/docs/method.md "Diagnostics this makes possible").
// Each signal is also given as a "suspicion" oriented so that larger = more likely mislabelled.
import { classIndex } from '../classes.js';
import type { SampleRecord } from '../eval/types.js';

/**
 * Class lists are always a prefix of CANONICAL_CLASSES (7 or 8 classes), so neutral has the same index
 * in every run; callers with another layout pass their own.
 */
export const DEFAULT_NEUTRAL_INDEX = classIndex('neutral');

export const SIGNAL_NAMES = ['selfConfidence', 'margin', 'gap', 'align'] as const;
export type SignalName = (typeof SIGNAL_NAMES)[number];

export interface IssueSignals {
  /** p(y|x): cleanlab's self_confidence. */
  selfConfidence: number;
  /** p(y|x) - max_{k != y} p(k|x), in [-1, 1] (cleanlab's normalized_margin is (this + 1) / 2). */
  margin: number;
  /**
   * simText - simNeutral for the given label. null for neutral-labelled samples: there t_y = t_N and the
   * method defines the gap (what Lc pushes up) on non-neutral samples only.
   */
  gap: number | null;
  /** cos(v - n, t_y - t_N); null for neutral-labelled samples (undefined when t_y = t_N). */
  align: number | null;
  /** The given label is the neutral class (gap / align are missing, not bad). */
  neutral: boolean;
}

/** Signals of one record. Throws on a label outside probs (a malformed record must not rank silently). */
export function computeSignals(r: SampleRecord, neutralIndex = DEFAULT_NEUTRAL_INDEX): IssueSignals {
  const K = r.probs.length;
  if (!Number.isInteger(r.label) || r.label < 0 || r.label >= K) throw new RangeError(`record ${r.id}: label ${r.label} is not a class index below ${K}`);
  const py = r.probs[r.label];
  let other = 0;
  for (let k = 0; k < K; k++) if (k !== r.label && r.probs[k] > other) other = r.probs[k];
  const neutral = r.label === neutralIndex;
  // Recompute the gap from its parts when present: it is what the record defines it as.
  const gap = neutral ? null : Number.isFinite(r.simText) && Number.isFinite(r.simNeutral) ? r.simText - r.simNeutral : r.gap;
  return { selfConfidence: py, margin: py - other, gap, align: neutral ? null : (r.align ?? null), neutral };
}

/**
 * Suspicion of one signal: larger = more likely a label issue. Missing (neutral) KE-FER signals give
 * null; rankings put them in the middle (see combine.ts), never first or last.
 */
export function suspicion(s: IssueSignals, name: SignalName): number | null {
  switch (name) {
    case 'selfConfidence':
      return 1 - s.selfConfidence;
    case 'margin':
      return (1 - s.margin) / 2;
    case 'gap':
      return s.gap === null ? null : -s.gap;
    case 'align':
      return s.align === null ? null : (1 - s.align) / 2;
  }
}
