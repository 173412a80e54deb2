// What the panel says of the KE-FER signals and of each order's score: one-line definitions (hover
// text; ../shared/docs/method.md, docs/label-issues.md) and the value a grid cell shows for the
// current order. Pure: unit-tested without a browser.
import type { GridRow, SortKey } from '../protocol.js';

/** One line each, as the inspector's hover text. */
export const SIGNAL_DEFINITIONS = {
  simText: 'simText = cos(v, t_y): how close the face’s embedding v is to the text embedding of its label’s prompt (“a photo of a person making a <label> facial expression”).',
  simNeutral: 'simNeutral = cos(n, t_y), n = F_n(v): the same for the face’s neutral transform, the model’s own estimate of this face with a neutral expression (an MLP trained with the text loss).',
  gap: 'gap = simText − simNeutral: how much more the face matches its label than its own neutral version does (what the contrastive loss Lc pushes up). Small or negative on a non-neutral label: the face is hard to tell from its neutral version — ambiguous or mislabelled. Not trained for neutral labels (t_y = t_N).',
  alignment: 'alignment = cos(v − n, t_y − t_N): whether the change from the neutral version to the face points the way the text says the label differs from neutral (what the text loss Lt pushes up); undefined for neutral labels.',
  reference: 'Against the samples of the run with the same label and split: robust z = (value − class median) / (1.4826 × MAD), and the share of the class at or below the value. “Unusually low”: z below −2.5 (Leys et al. 2013), in a class of at least 30; a percentile cut would flag a fixed share of every class.',
} as const;

/** Hover text of each order's per-cell score. */
export const SCORE_TITLES: Record<SortKey, string> = {
  issue: 'issue score: the combined label-issue score (0–1)',
  calibrated: 'P(label wrong), calibrated on your spot-check',
  cl: 'confident-learning score: 1 + (1 − p(label)) when flagged, else 1 − p(label)',
  confidence: 'p(label): the model’s probability of the label',
  margin: 'margin: p(label) − the largest other probability',
  gapz: 'gap vs its class: robust z of the gap among samples with the same label and split',
  gap: 'gap = simText − simNeutral',
  votes: 'annotator votes for the predicted class',
  entropy: 'entropy of the annotators’ votes, in bits (0 = unanimous)',
  spotcheck: '',
};

function voteCount(row: Pick<GridRow, 'votes' | 'pred'>): string | null {
  if (!row.votes) return null;
  const total = row.votes.reduce((a, b) => a + Math.max(0, b), 0);
  return total > 0 ? `${row.votes[row.pred] ?? 0}/${total}` : null;
}

/** The short text a grid cell shows for the current order's score; '' when the order has none. */
export function scoreText(sort: SortKey, row: Pick<GridRow, 'score' | 'votes' | 'pred'>): string {
  const v = row.score;
  if (sort === 'votes') return voteCount(row) ?? '';
  if (v === null || !Number.isFinite(v)) return sort === 'gapz' ? 'z n/a' : '';
  switch (sort) {
    case 'issue': case 'calibrated': return v.toFixed(2);
    case 'cl': return `cl ${v.toFixed(2)}`;
    case 'confidence': return `p ${(100 * v).toFixed(v < 0.01 ? 1 : 0)}%`;
    case 'margin': return `m ${signed(v, 2)}`;
    case 'gap': return `gap ${signed(v, 2)}`;
    case 'gapz': return `z ${signed(v, 1)}`;
    case 'entropy': return `H ${v.toFixed(2)}`;
    case 'spotcheck': return '';
  }
}

/** With an explicit sign and a real minus. */
export function signed(v: number, digits: number): string {
  const t = Math.abs(v).toFixed(digits);
  return Number(t) === 0 ? t : `${v < 0 ? '−' : '+'}${t}`;
}

/** p37 from a share 0..1, as the inspector writes a percentile. */
export function percentileText(p: number): string {
  return `p${Math.round(100 * p)}`;
}
