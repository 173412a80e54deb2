// Duplicates with different labels as a label-issue signal: the same picture labelled twice differently is
// wrong at least once. Each sample scores the share of its duplicate-cluster mates whose label differs
// from its own (0 outside such clusters; dups/report.ts conflictShare), and the issue ranking takes it as
// an input: conflicting duplicates move up, in the order of the base score among them (the member the
// model disagrees with more is the likelier wrong one).
import { conflictShare } from '../dups/report.js';
import type { DupCluster } from '../dups/types.js';

/** Per sample (dataset order): the share of its cluster mates labelled otherwise. */
export function duplicateConflictScores(n: number, clusters: readonly DupCluster[], labels: readonly number[]): number[] {
  return Array.from(conflictShare(n, clusters, labels));
}

/**
 * An issue score with the duplicate-conflict signal added: base + weight x share. With the default
 * weight 1 and base scores in [0, 1] (the combined score, self-confidence), every sample of a conflicting
 * pair ranks above every sample without a conflict.
 */
export function withDuplicateConflicts(base: readonly number[], conflict: readonly number[], weight = 1): number[] {
  if (base.length !== conflict.length) throw new RangeError(`withDuplicateConflicts: ${base.length} scores, ${conflict.length} conflict shares`);
  return base.map((s, i) => s + weight * conflict[i]);
}
