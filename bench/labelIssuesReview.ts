// The review-calibrated ranking on real noise (bench:label-issues --real ... --review R[,R...]): a reviewer
// spot-checks R random images (FER+'s verdict stands in for the reviewer's), the signals are calibrated
// on those reviews (issues/calibrate.ts), and every ranker is scored on the images nobody reviewed.
// Repeated over --review-draws random spot-checks; beside it the same fit on the TOP R of the shipped
// ranking (reviews as a user working down the list would make them), the biased case calibrate.ts warns of.
import type { SampleRecord } from '../src/engine/eval/types.js';
import {
  auroc, calibratedScores, estimatedIssueRates, fitReviewCalibratedModel, orderByScore, precisionAt, type ConfidentLearningResult, type RankerName, type Review,
} from '../src/engine/issues/index.js';
import { Rng } from '../src/engine/util/rng.js';

export interface ReviewBenchInput {
  records: SampleRecord[];
  classes: readonly string[];
  /** Positions with a FER+ majority (the only images a verdict exists for). */
  scoredPos: number[];
  isIssue: boolean[];
  scores: Record<RankerName, number[]>;
  cl: ConfidentLearningResult;
  reviewCounts: number[];
  draws: number;
  seed: number;
}

const KS = [100, 500, 1000, 2000];
const BASELINES: [string, RankerName][] = [['self-confidence', 'selfConfidence'], ['margin', 'margin'], ['confident learning', 'confidentLearning'], ['combined, shipped weights', 'combined']];

interface Scored {
  p: number[];
  auc: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);
const f3 = (x: number) => x.toFixed(3);
const ms = (xs: number[]) => (xs.length > 1 ? `${f3(mean(xs))} ± ${f3(sd(xs))}` : f3(xs[0]));

/** Prints the section; returns one calibrated score (first draw, smallest R >= 100) for the closing-the-loop step. */
export function reviewSection(inp: ReviewBenchInput): { name: string; score: number[] } {
  const { records, scoredPos, isIssue, scores } = inp;
  const evalOn = (score: number[], rest: number[]): Scored => {
    const s = rest.map((i) => score[i]);
    const t = rest.map((i) => isIssue[i]);
    return { p: KS.map((k) => precisionAt(s, t, k)), auc: auroc(s, t) };
  };
  const fit = (reviewed: number[], signals?: ('selfConfidence' | 'margin' | 'gap' | 'align')[]) => {
    const reviews: Review[] = reviewed.map((i) => ({ id: records[i].id, issue: isIssue[i] }));
    const model = fitReviewCalibratedModel(records, reviews, { numClasses: inp.classes.length, ...(signals ? { signals } : {}) });
    return { model, reviews, score: calibratedScores(records, model) };
  };

  console.log(`\n## Calibrated on a spot-check: R random reviewed images (FER+'s verdict as the reviewer's), ${inp.draws} draws per R`);
  console.log('Every ranker scored on the scored images nobody reviewed (the same images for all rows of a draw); mean ± sd over the draws;');
  console.log('ratios are of the means, [min..max] the per-draw ratio range. "top R" = the R reviews taken from the top of the shipped combined ranking instead (one draw: it is deterministic).');
  console.log(`| R | ranker | ${KS.map((k) => `P@${k}`).join(' | ')} | AUROC | P@1000 vs self-conf. / CL | AUROC vs self-conf. / CL |`);
  console.log(`|---|---|${KS.map(() => '---').join('|')}|---|---|---|`);
  const shippedOrder = orderByScore(scoredPos.map((i) => scores.combined[i])).map((j) => scoredPos[j]);
  for (const R of inp.reviewCounts) {
    const rows = new Map<string, Scored[]>();
    const push = (name: string, s: Scored) => rows.set(name, [...(rows.get(name) ?? []), s]);
    const baseOf: { sc: Scored; cl: Scored }[] = [];
    const rng = new Rng(inp.seed + R);
    for (let d = 0; d < inp.draws; d++) {
      const reviewed = rng.shuffle([...scoredPos]).slice(0, R);
      const seen = new Set(reviewed);
      const rest = scoredPos.filter((i) => !seen.has(i));
      for (const [name, key] of BASELINES) push(name, evalOn(scores[key], rest));
      baseOf.push({ sc: evalOn(scores.selfConfidence, rest), cl: evalOn(scores.confidentLearning, rest) });
      push('**calibrated, all four signals**', evalOn(fit(reviewed).score, rest));
      push('calibrated, without gap / align', evalOn(fit(reviewed, ['selfConfidence', 'margin']).score, rest));
    }
    const top = shippedOrder.slice(0, R);
    const topSet = new Set(top);
    const topRest = scoredPos.filter((i) => !topSet.has(i));
    const topRow = { s: evalOn(fit(top).score, topRest), sc: evalOn(scores.selfConfidence, topRest), cl: evalOn(scores.confidentLearning, topRest) };
    for (const [name, list] of rows) {
      const p = KS.map((_, j) => list.map((x) => x.p[j]));
      const auc = list.map((x) => x.auc);
      const r = (pick: (x: Scored) => number, base: 'sc' | 'cl') => {
        const per = list.map((x, d) => pick(x) / pick(baseOf[d][base]));
        return `x${(mean(list.map(pick)) / mean(baseOf.map((b) => pick(b[base])))).toFixed(2)} [${Math.min(...per).toFixed(2)}..${Math.max(...per).toFixed(2)}]`;
      };
      console.log(`| ${R} | ${name} | ${p.map(ms).join(' | ')} | ${ms(auc)} | ${r((x) => x.p[2], 'sc')} / ${r((x) => x.p[2], 'cl')} | ${r((x) => x.auc, 'sc')} / ${r((x) => x.auc, 'cl')} |`);
    }
    const t = topRow;
    console.log(`| ${R} | calibrated on the top ${R} (biased reviews) | ${t.s.p.map(f3).join(' | ')} | ${f3(t.s.auc)} | x${(t.s.p[2] / t.sc.p[2]).toFixed(2)} / x${(t.s.p[2] / t.cl.p[2]).toFixed(2)} | x${(t.s.auc / t.sc.auc).toFixed(2)} / x${(t.s.auc / t.cl.auc).toFixed(2)} |`);
  }

  // Per-class issue rates: the calibrated estimate of each R's first draw against FER+ and confident learning.
  const firstDraws = inp.reviewCounts.map((R) => {
    const reviewed = new Rng(inp.seed + R).shuffle([...scoredPos]).slice(0, R);
    const f = fit(reviewed);
    return { R, ...f, est: estimatedIssueRates(scoredPos.map((i) => records[i]), f.reviews, f.model, scoredPos.map((i) => f.score[i])) };
  });
  console.log(`\nper class: issue rate measured by FER+ vs estimated from R random reviews (reviews + calibrated model, each R's first draw; reviewed / issues found in brackets) vs confident learning's noise rate`);
  console.log(`| class | scored | measured | ${firstDraws.map((d) => `calibrated, R ${d.R}`).join(' | ')} | confident learning |`);
  console.log(`|---|---|---|${firstDraws.map(() => '---').join('|')}|---|`);
  inp.classes.forEach((c, k) => {
    const inK = scoredPos.filter((i) => records[i].label === k);
    const measured = inK.filter((i) => isIssue[i]).length / Math.max(inK.length, 1);
    console.log(`| ${c} | ${inK.length} | ${f3(measured)} | ${firstDraws.map((d) => `${f3(d.est[k].rate)} (${d.est[k].reviewed}/${d.est[k].reviewedIssues})`).join(' | ')} | ${f3(inp.cl.noiseRates[k] ?? NaN)} |`);
  });
  for (const d of firstDraws) console.log(`calibrated weights (R ${d.R}, first draw): signals [self-confidence, margin, gap, align] [${d.model.signalWeights.join(', ')}], class offsets [${d.model.classOffsets.join(', ')}], bias ${d.model.bias}`);
  // The closing-the-loop step uses the smallest spot-check of at least 100 (a few minutes of reviewing).
  const chosen = firstDraws.find((d) => d.R >= 100) ?? firstDraws[0];
  const { R, score } = chosen;
  return { name: `calibrated on ${R} random reviews`, score };
}
