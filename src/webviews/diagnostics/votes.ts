// The annotators' votes of a sample (FERPlus) beside its given label: the counts in words and whether
// the label (after any relabel) disagrees with what most annotators chose, the evidence a reviewer of
// a suspicious label wants. Votes are Sample.votes: the 8 canonical classes, then unknown, not-a-face.
import { CANONICAL_CLASSES } from '../../engine/classes.js';

const EXTRA_COLUMNS = ['unknown', 'not a face'] as const;

export interface VoteCount {
  /** Index into the votes (a class index below 8). */
  column: number;
  name: string;
  count: number;
}

export interface VoteSummary {
  total: number;
  /** Columns with at least one vote, most votes first (ties in column order). */
  counts: VoteCount[];
  /** e.g. "happiness 6 · neutral 3 · unknown 1"; "no votes" when none. */
  text: string;
  /** The columns holding the most votes (several on a tie); empty when there are no votes. */
  top: number[];
  /** Votes for the given label. */
  labelVotes: number;
  /** The label is not among the most-voted columns. */
  disagrees: boolean;
  /** One line for the reviewer when the votes do not plainly back the label (disagreement, tie, no majority); '' otherwise. */
  note: string;
}

/** The name of a vote column: the dataset's class name (canonical order), contempt in a 7-class dataset, unknown, not a face. */
export function voteColumnName(column: number, classes: readonly string[]): string {
  if (column < CANONICAL_CLASSES.length) return classes[column] ?? CANONICAL_CLASSES[column];
  return EXTRA_COLUMNS[column - CANONICAL_CLASSES.length] ?? `column ${column + 1}`;
}

export function voteSummary(votes: readonly number[], label: number, classes: readonly string[]): VoteSummary {
  const counts: VoteCount[] = [];
  votes.forEach((count, column) => {
    if (count > 0) counts.push({ column, name: voteColumnName(column, classes), count });
  });
  counts.sort((a, b) => b.count - a.count || a.column - b.column);
  const total = counts.reduce((a, c) => a + c.count, 0);
  const labelName = voteColumnName(label, classes);
  const labelVotes = votes[label] > 0 ? votes[label] : 0;
  if (total === 0) return { total, counts, text: 'no votes', top: [], labelVotes, disagrees: false, note: '' };
  const most = counts[0].count;
  const topCounts = counts.filter((c) => c.count === most);
  const top = topCounts.map((c) => c.column);
  const disagrees = !top.includes(label);
  const names = topCounts.map((c) => c.name).join(', ');
  let note = '';
  if (disagrees) {
    const what = top.length > 1 ? `most-voted classes ${names} (${most} of ${total} each)` : `${2 * most > total ? 'majority' : 'most-voted class'} ${names} (${most} of ${total})`;
    note = `the label ${labelName} (${labelVotes} of ${total}) disagrees with the annotators' ${what}`;
  } else if (top.length > 1) note = `tied vote: ${names} (${most} of ${total} each)`;
  else if (2 * most <= total) note = `no majority: the label ${labelName} has ${most} of ${total} votes`;
  return { total, counts, text: counts.map((c) => `${c.name} ${c.count}`).join(' · '), top, labelVotes, disagrees, note };
}
