// `kefer issues --spot-check N` and `--reviews FILE.csv`: the review-calibrated ranking from the command
// line. A spot-check sheet is the first N samples of a seeded random order (issues/calibrate.ts); a person
// fills its verdict column (issue | ok) and hands it back with --reviews.
import { readFile } from 'node:fs/promises';
import type { SampleRecord } from '../eval/types.js';
import { splitCsvLine, textLines } from '../data/common.js';
import { spotCheckOrder, type Review } from '../issues/index.js';
import { UserError } from './errors.js';

export const REVIEWS_HELP = `  --spot-check N  print a review sheet (csv: id,path,label,verdict) of N samples in a seeded random
                order (--seed S, default 0); fill verdict with issue or ok and pass it back with --reviews
  --reviews FILE  a filled sheet (any csv with id and verdict columns; empty verdicts are skipped):
                ranks by the combined signals calibrated on these reviews (--ranker calibrated, the default
                with --reviews) and estimates each class's issue rate; reviewed samples leave the ranking.
                Review a RANDOM sample (--spot-check): a fit on the top of a ranking learns wrong base rates`;

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The review sheet: header + N rows of the spot-check order, verdict empty. */
export function spotCheckSheet(records: readonly SampleRecord[], classes: readonly string[], n: number, seed: number): string {
  const byId = new Map(records.map((r) => [r.id, r]));
  const ids = spotCheckOrder(records.map((r) => r.id), seed).slice(0, n);
  return ['id,path,label,verdict', ...ids.map((id) => {
    const r = byId.get(id)!;
    return [id, r.path, classes[r.label] ?? String(r.label), ''].map(csvField).join(',');
  })].join('\n');
}

const VERDICTS: Record<string, boolean> = { issue: true, wrong: true, ok: false, correct: false };

/** Reads a filled sheet. Errors name the file, line and field; rows with an empty verdict are skipped. */
export async function readReviews(file: string): Promise<Review[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read reviews (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = textLines(text);
  const head = splitCsvLine(lines[0] ?? '').map((h) => h.trim().toLowerCase());
  const idCol = head.indexOf('id');
  const vCol = head.indexOf('verdict');
  if (idCol < 0 || vCol < 0) throw new UserError(`${file}:1: the header needs an 'id' and a 'verdict' column, has ${head.map((h) => `'${h}'`).join(', ') || 'nothing'}`);
  const out: Review[] = [];
  const seen = new Map<string, number>();
  lines.slice(1).forEach((line, i) => {
    if (!line.trim()) return;
    const cells = splitCsvLine(line);
    const id = (cells[idCol] ?? '').trim();
    const v = (cells[vCol] ?? '').trim().toLowerCase();
    const at = `${file}:${i + 2}`;
    if (!id) throw new UserError(`${at}: empty id`);
    if (!v) return;
    if (!(v in VERDICTS)) throw new UserError(`${at}: verdict '${cells[vCol]?.trim()}' for ${id}: expected issue or ok`);
    if (seen.has(id)) throw new UserError(`${at}: ${id} was already reviewed on line ${seen.get(id)}`);
    seen.set(id, i + 2);
    out.push({ id, issue: VERDICTS[v] });
  });
  return out;
}
