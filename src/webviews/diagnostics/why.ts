// Why a sample sits high in the suspicious-labels order: the evidence of each label-issue signal
// (docs/label-issues.md), in words, from what the inspector already has.
import type { SampleDetail } from '../protocol.js';

type Evidence = Pick<SampleDetail, 'probs' | 'label' | 'pred' | 'gap' | 'align' | 'classAlign' | 'clFlag' | 'cal'>;

/**
 * Reasons, strongest first; empty when no signal points at a wrong label. classRates: per class, the
 * share of wrong labels estimated from the user's spot-check (the calibrated order passes it): the
 * calibrated score's reason names the given class's rate first, as the per-class rate is what the
 * calibration adds to the other signals.
 */
export function issueReasons(d: Evidence, classes: readonly string[], classRates?: readonly (number | null)[]): string[] {
  const name = (k: number) => classes[k] ?? String(k);
  const py = d.probs[d.label] ?? 0;
  let other = -1;
  for (let k = 0; k < d.probs.length; k++) if (k !== d.label && (other < 0 || d.probs[k] > d.probs[other])) other = k;
  const margin = py - (other >= 0 ? d.probs[other] : 0);
  const pct = (p: number) => `${(100 * p).toFixed(p < 0.01 ? 1 : 0)}%`;
  const out: string[] = [];
  const rate = classRates?.[d.label];
  if (typeof d.cal === 'number' && typeof rate === 'number') {
    out.push(`calibrated on your spot-check: an estimated ${pct(rate)} of ${name(d.label)} labels are wrong; this one ${pct(d.cal)}`);
  }
  if (d.clFlag) out.push(confidentLearningReason(d.clFlag, d.probs, name));
  if (margin < 0) out.push(`the model prefers ${name(other)} (${pct(d.probs[other])}) to the label ${name(d.label)} (${pct(py)})`);
  else if (py < 0.5) out.push(`low confidence in the label ${name(d.label)}: ${pct(py)}`);
  if (d.align !== null && d.gap < 0) out.push(`negative gap (${d.gap.toFixed(3)}): the face is closer to the neutral transform than to ${name(d.label)}`);
  if (d.align !== null && d.classAlign && d.align < d.classAlign.p10) out.push(`alignment ${d.align.toFixed(3)} is below 90% of ${name(d.label)} samples (p10 ${d.classAlign.p10.toFixed(3)})`);
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
