// Why a sample sits where it does in the grid's current order: every signal that order uses, with
// this sample's value (sortReasons), then any other evidence of a wrong label (issueReasons), in words,
// from what the inspector already has (docs/label-issues.md).
import { DEFAULT_ISSUE_MODEL, FEATURE_NAMES, features } from '../../engine/issues/combine.js';
import { computeSignals } from '../../engine/issues/signals.js';
import { voteEntropy } from '../../engine/data/ferplusVotes.js';
import type { SampleDetail, SignalReference, SortKey } from '../protocol.js';
import { percentileText, signed } from './signals.js';
import { voteColumnName, voteSummary } from './votes.js';

export type Evidence = Pick<SampleDetail, 'probs' | 'label' | 'pred' | 'gap' | 'align' | 'reference' | 'clFlag' | 'cal'> &
  Partial<Pick<SampleDetail, 'simText' | 'simNeutral' | 'votes' | 'id' | 'split'>>;

const pct = (p: number): string => `${(100 * p).toFixed(p < 0.01 ? 1 : 0)}%`;

function strongestOther(d: Evidence): number {
  let other = -1;
  for (let k = 0; k < d.probs.length; k++) if (k !== d.label && (other < 0 || d.probs[k] > d.probs[other])) other = k;
  return other;
}

/** "gap 0.012: p3 of fear (valid, 45 samples), robust z −2.9 — unusually low". */
export function referenceText(what: string, r: SignalReference, cls: string, split: string): string {
  const small = r.small ? `; a small class (${r.n} samples): its reference says little` : '';
  return `${what} ${r.value.toFixed(3)}: ${percentileText(r.percentile)} of ${cls} (${split}, ${r.n} samples, median ${r.median.toFixed(3)}), robust z ${signed(r.z, 1)}${r.unusual ? ' — unusually low for its class' : ''}${small}`;
}

const FEATURE_WORDS: Record<(typeof FEATURE_NAMES)[number], string> = {
  selfConfidence: 'self-confidence (−log p(label))', margin: 'margin (log max other − log p(label))', gap: 'gap (−gap)', align: 'alignment ((1 − align) / 2)', neutralLabel: 'neutral label',
};

/** The combined issue score taken apart: each input's standardised value times its weight. */
function issueBreakdown(d: Evidence, classes: readonly string[]): string[] {
  const neutralIndex = Math.max(0, classes.indexOf('neutral'));
  const s = computeSignals({ id: d.id ?? '', path: '', split: d.split ?? '', label: d.label, pred: d.pred, probs: d.probs, simText: d.simText ?? NaN, simNeutral: d.simNeutral ?? NaN, gap: d.gap, align: d.align }, neutralIndex);
  const x = features(s, DEFAULT_ISSUE_MODEL.stats);
  const m = DEFAULT_ISSUE_MODEL;
  let t = m.bias;
  const parts = FEATURE_NAMES.map((name, j) => {
    const c = m.weights[j] * x[j];
    t += c;
    return { name, w: m.weights[j], x: x[j], c };
  });
  const score = 1 / (1 + Math.exp(-t));
  const used = parts.filter((p) => p.w !== 0).map((p) => `${FEATURE_WORDS[p.name]} ${p.name === 'neutralLabel' ? (p.x ? 'yes' : 'no') : `z ${signed(p.x, 2)}`} × ${p.w.toFixed(2)} = ${signed(p.c, 2)}`);
  const unused = parts.filter((p) => p.w === 0).map((p) => FEATURE_WORDS[p.name].replace(/ \(.*\)$/, ''));
  const out = [`issue score ${score.toFixed(2)} = sigmoid(${m.bias.toFixed(2)} + ${parts.filter((p) => p.w !== 0).map((p) => signed(p.c, 2)).join(' ')}): ${used.join('; ')}`];
  if (unused.length) out.push(`weight 0 in this score (fitted on planted flips, docs/label-issues.md): ${unused.join(', ')}`);
  if (s.neutral) out.push('gap and alignment are not defined for a neutral label: they count as average');
  return out;
}

/**
 * What the current order reads, for this sample: one line per signal it uses. classRates: per class, the
 * share of wrong labels estimated from the user's spot-check (the calibrated order).
 */
export function sortReasons(sort: SortKey, d: Evidence, classes: readonly string[], classRates?: readonly (number | null)[]): string[] {
  const name = (k: number): string => classes[k] ?? String(k);
  const py = d.probs[d.label] ?? 0;
  const other = strongestOther(d);
  const margin = py - (other >= 0 ? d.probs[other] : 0);
  const ref = d.reference;
  switch (sort) {
    case 'issue':
      return issueBreakdown(d, classes);
    case 'calibrated': {
      const rate = classRates?.[d.label];
      if (typeof d.cal !== 'number' || typeof rate !== 'number') return ['not calibrated yet: decide samples in the spot-check order first'];
      return [`calibrated on your spot-check: an estimated ${pct(rate)} of ${name(d.label)} labels are wrong; this one ${pct(d.cal)} (a model of the four signals below and a per-class offset)`,
        `p(label) ${pct(py)}, margin ${signed(margin, 2)}, gap ${d.gap.toFixed(3)}, alignment ${d.align === null ? 'n/a' : d.align.toFixed(3)}`];
    }
    case 'cl':
      return d.clFlag ? [confidentLearningReason(d.clFlag, d.probs, name), `within the flagged, by p(label) ${pct(py)}`] : [`not flagged by confident learning: after the flagged ones, by p(label) ${pct(py)}`];
    case 'confidence':
      return [`p(label ${name(d.label)}) = ${pct(py)}: the lowest come first`];
    case 'margin':
      return [`margin p(${name(d.label)}) − p(${name(other)}) = ${pct(py)} − ${pct(d.probs[other] ?? 0)} = ${signed(margin, 3)}: the most negative come first`];
    case 'gapz':
      if (ref?.neutral) return [`a neutral label: no gap is trained for neutral (t_y = t_N), so this order puts it last`];
      return ref?.gap ? [referenceText('gap', ref.gap, name(ref.cls), ref.split) + ': the furthest below its class come first'] : ['no class reference for this sample'];
    case 'gap':
      if (ref?.neutral) {
        return [`raw gap ${d.gap.toFixed(3)}: a neutral label, for which the method trains no gap (t_y = t_N): neutral gaps sit near 0${ref.gap ? ` (this run’s neutral median ${ref.gap.median.toFixed(3)})` : ''}, so they fill the top of this order without saying anything about the label. “${'gap vs its class'}” compares each sample with its own class.`];
      }
      return [`raw gap ${d.gap.toFixed(3)} (smallest first)${ref?.gap ? `; against its class: ${percentileText(ref.gap.percentile)}, robust z ${signed(ref.gap.z, 1)}` : ''}`];
    case 'votes': {
      if (!d.votes) return ['no annotator votes for this dataset: this order does not apply'];
      const v = voteSummary(d.votes, d.label, classes);
      return [`${d.votes[d.pred] ?? 0} of ${v.total} annotators chose the prediction ${name(d.pred)} (the label ${name(d.label)}: ${v.labelVotes}): most votes for the prediction first`];
    }
    case 'entropy': {
      if (!d.votes) return ['no annotator votes for this dataset: this order does not apply'];
      const h = voteEntropy(d.votes) ?? 0;
      return [`vote entropy ${h.toFixed(2)} bits (0 = unanimous; ${Math.log2(d.votes.length).toFixed(1)} = spread over every column): ${voteSummary(d.votes, d.label, classes).text}`];
    }
    case 'spotcheck':
      return ['the spot-check order is random on purpose: it measures how many labels are wrong, it does not rank'];
  }
}

/**
 * Evidence of a wrong label from every signal, strongest first; empty when none points at one. classRates:
 * the calibrated order passes its per-class rates (its reason names the given class's rate first).
 */
export function issueReasons(d: Evidence, classes: readonly string[], classRates?: readonly (number | null)[]): string[] {
  const name = (k: number): string => classes[k] ?? String(k);
  const py = d.probs[d.label] ?? 0;
  const other = strongestOther(d);
  const margin = py - (other >= 0 ? d.probs[other] : 0);
  const out: string[] = [];
  const rate = classRates?.[d.label];
  if (typeof d.cal === 'number' && typeof rate === 'number') {
    out.push(`calibrated on your spot-check: an estimated ${pct(rate)} of ${name(d.label)} labels are wrong; this one ${pct(d.cal)}`);
  }
  if (d.clFlag) out.push(confidentLearningReason(d.clFlag, d.probs, name));
  if (margin < 0) out.push(`the model prefers ${name(other)} (${pct(d.probs[other])}) to the label ${name(d.label)} (${pct(py)})`);
  else if (py < 0.5) out.push(`low confidence in the label ${name(d.label)}: ${pct(py)}`);
  const ref = d.reference;
  if (d.align !== null && d.gap < 0) out.push(`negative gap (${d.gap.toFixed(3)}): the face is closer to its neutral transform than to ${name(d.label)}`);
  if (ref?.gap?.unusual && !ref.neutral) out.push(`gap unusually low for ${name(ref.cls)}: robust z ${signed(ref.gap.z, 1)} (${percentileText(ref.gap.percentile)})`);
  if (ref?.align?.unusual) out.push(`alignment unusually low for ${name(ref.cls)}: ${ref.align.value.toFixed(3)}, robust z ${signed(ref.align.z, 1)} (${percentileText(ref.align.percentile)})`);
  if (d.votes) {
    const v = voteSummary(d.votes, d.label, classes);
    const predVotes = d.votes[d.pred] ?? 0;
    if (d.pred !== d.label && v.total > 0 && predVotes >= 0.3 * v.total) out.push(`${predVotes} of ${v.total} annotators chose the prediction ${voteColumnName(d.pred, classes)}`);
  }
  return out;
}

/**
 * Confident learning flagged the sample (prune by noise rate) as likely class j. Its confident class is
 * j when p(j|x) reaches j's threshold; a flag can also come from the margin p(j|x) - p(label|x) alone
 * (the largest margins of its given class fill the estimated count), and then the text says so.
 */
function confidentLearningReason(flag: { cls: number; threshold: number }, probs: readonly number[], name: (k: number) => string): string {
  const p = probs[flag.cls] ?? 0;
  const t = flag.threshold;
  return p >= t - 1e-6
    ? `confident learning: flagged as ${name(flag.cls)} (p(${name(flag.cls)}) ${p.toFixed(2)} ≥ class threshold ${t.toFixed(2)})`
    : `confident learning: flagged as ${name(flag.cls)} by its margin over the label (p(${name(flag.cls)}) ${p.toFixed(2)}, below the class threshold ${t.toFixed(2)})`;
}
