// Text formatting of the accuracy report: percentages, ratios against the best peer, confusion
// matrices and the learning curve. Pure functions (no tfjs), so they are cheap to reuse.
import type { Metrics } from '../../src/engine/eval/metrics.js';

export const pct = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(digits)}%`);

export interface Scored {
  name: string;
  metrics: Metrics;
}

/** The peer with the highest value of `key`, or undefined when there is none. */
export function bestOf(peers: Scored[], key: 'accuracy' | 'meanClassAccuracy'): Scored | undefined {
  return peers.reduce<Scored | undefined>((b, p) => (!b || p.metrics[key] > b.metrics[key] ? p : b), undefined);
}

/** e.g. "KE-FER WAR 71.2% = 1.03x best peer (human 68.9%)". */
export function ratioLine(label: string, metric: 'WAR' | 'UAR', ours: number, peers: Scored[]): string {
  const key = metric === 'WAR' ? 'accuracy' : 'meanClassAccuracy';
  const best = bestOf(peers, key);
  if (!best) return `${label} ${metric} ${pct(ours)} (no peer measured)`;
  const ref = best.metrics[key];
  const ratio = ref > 0 ? (ours / ref).toFixed(2) : 'n/a';
  return `${label} ${metric} ${pct(ours)} = ${ratio}x best peer (${best.name} ${pct(ref)})`;
}

/** Markdown table row per model: n, WAR, UAR, and each as a ratio to the best peer of the same set. */
export function metricsTable(rows: { name: string; metrics: Metrics; extra?: string }[], peers: Scored[]): string {
  const bw = bestOf(peers, 'accuracy');
  const bu = bestOf(peers, 'meanClassAccuracy');
  const r = (x: number, b: Scored | undefined, key: 'accuracy' | 'meanClassAccuracy') => (b && b.metrics[key] > 0 ? `${(x / b.metrics[key]).toFixed(2)}x` : 'n/a');
  const lines = ['| model | n | WAR | WAR / best peer | UAR | UAR / best peer | notes |', '|---|---:|---:|---:|---:|---:|---|'];
  for (const row of rows) {
    const m = row.metrics;
    lines.push(`| ${row.name} | ${m.n} | ${pct(m.accuracy)} | ${r(m.accuracy, bw, 'accuracy')} | ${pct(m.meanClassAccuracy)} | ${r(m.meanClassAccuracy, bu, 'meanClassAccuracy')} | ${row.extra ?? ''} |`);
  }
  return lines.join('\n');
}

/** Confusion matrix (rows = true class, columns = predicted) with per-class recall. */
export function confusionTable(classes: readonly string[], m: Metrics): string {
  const short = classes.map((c) => c.slice(0, 5));
  const lines = [`| true \\ pred | ${short.join(' | ')} | recall |`, `|---|${short.map(() => '---:').join('|')}|---:|`];
  m.confusion.forEach((row, k) => lines.push(`| ${classes[k]} | ${row.join(' | ')} | ${pct(m.perClassAccuracy[k])} |`));
  return lines.join('\n');
}

export interface CurvePoint {
  epoch: number;
  valWar: number | null;
  valUar: number | null;
  trainLoss: number;
  lr: number;
  wallSec: number;
  best: boolean;
}

export function curveTable(points: CurvePoint[]): string {
  const lines = ['| epoch | wall (min) | lr | train loss | val WAR | val UAR | best |', '|---:|---:|---:|---:|---:|---:|:-:|'];
  for (const p of points) lines.push(`| ${p.epoch} | ${(p.wallSec / 60).toFixed(1)} | ${p.lr.toPrecision(3)} | ${p.trainLoss.toFixed(3)} | ${pct(p.valWar)} | ${pct(p.valUar)} | ${p.best ? '*' : ''} |`);
  return lines.join('\n');
}
