// `kefer issues`: ranks a run's per-sample records by how likely their label is wrong (src/engine/issues).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CANONICAL_CLASSES } from '../classes.js';
import type { SampleRecord } from '../eval/types.js';
import {
  calibratedScores, computeSignals, DEFAULT_NEUTRAL_INDEX, estimatedIssueRates, fitReviewCalibratedModel, isRankerName, orderByScore, RANKER_DESCRIPTIONS, RANKER_NAMES, rankerScores,
  type IssueSignals, type RankerName,
} from '../issues/index.js';
import { UserError } from './errors.js';
import { CROSS_VAL_HELP, CROSS_VAL_OPTIONS, runCrossValCli } from './issuesCrossVal.js';
import { readReviews, REVIEWS_HELP, spotCheckSheet } from './issuesReviews.js';

export const summary = 'rank per-sample records by label-issue score (self-confidence, margin, KE-FER gap and alignment)';

const HELP = `usage: kefer issues (--run RUN_DIR | --records FILE.jsonl | --cross-val K ...) [--ranker NAME] [--top N] [--split NAME] [--json]
                    [--spot-check N | --reviews FILE.csv]
Ranks records (RUN_DIR/records.jsonl, or a \`kefer eval --per-sample\` file) most suspicious first, with
each signal: p(y|x), margin p(y|x) - max_k!=y p(k|x), gap simText - simNeutral, align, and the combined
issue score (docs/label-issues.md). Signals are honest only on OUT-OF-SAMPLE records: validation records,
or k-fold cross-validated ones for the training split; records of samples the model trained on are not.
  --ranker NAME  order by: ${RANKER_NAMES.join(' | ')} | calibrated (with --reviews) (default combined)
  --top N       rows to print (default 20; 0 = all)
  --split NAME  only records of this split
  --json        one JSON array: rank, id, path, split, label, pred, signals, score
${REVIEWS_HELP}
${CROSS_VAL_HELP}`;

async function readRecords(file: string): Promise<SampleRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read records (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const out: SampleRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let r: SampleRecord;
    try {
      r = JSON.parse(line) as SampleRecord;
    } catch {
      throw new UserError(`${file}:${i + 1}: not a JSON object`);
    }
    const ok = typeof r === 'object' && r !== null && typeof r.id === 'string' && Array.isArray(r.probs) && r.probs.length >= 2
      && Number.isInteger(r.label) && r.label >= 0 && r.label < r.probs.length && typeof r.simText === 'number' && typeof r.simNeutral === 'number';
    if (!ok) throw new UserError(`${file}:${i + 1}: not a per-sample record (needs id, label, probs, simText, simNeutral)`);
    out.push({ ...r, align: r.align ?? null });
  });
  return out;
}

/** Class names of a run (run.json config.classes), else the canonical prefix of the probs' length. */
async function classNames(runDir: string | undefined, k: number): Promise<string[]> {
  if (runDir && existsSync(path.join(runDir, 'run.json'))) {
    try {
      const run = JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8')) as { config?: { classes?: string[] } };
      if (run.config?.classes?.length === k) return run.config.classes;
    } catch {
      // a damaged run.json only costs the class names
    }
  }
  return CANONICAL_CLASSES.slice(0, k) as unknown as string[];
}

const f3 = (x: number | null) => (x === null ? '    -' : x.toFixed(3).padStart(6));

interface Row {
  rank: number;
  record: SampleRecord;
  signals: IssueSignals;
  score: number;
  /** Confident learning flagged it (prune by noise rate). */
  flagged: boolean;
}

function table(rows: Row[], classes: string[]): string {
  const name = (k: number) => (classes[k] ?? String(k)).slice(0, 9);
  const head = `${'rank'.padStart(5)}  ${'score'.padStart(6)}  ${'p(y|x)'.padStart(6)}  ${'margin'.padStart(6)}  ${'gap'.padStart(6)}  ${'align'.padStart(6)}  ${'label'.padEnd(9)}  ${'pred'.padEnd(9)}  CL  id`;
  return [head, ...rows.map((r) => `${String(r.rank).padStart(5)}  ${f3(r.score)}  ${f3(r.signals.selfConfidence)}  ${f3(r.signals.margin)}  ${f3(r.signals.gap)}  ${f3(r.signals.align)}  ${name(r.record.label).padEnd(9)}  ${name(r.record.pred).padEnd(9)}  ${r.flagged ? ' *' : '  '}  ${r.record.id}`)].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  let f;
  try {
    ({ values: f } = parseArgs({
      args: argv,
      options: { ...CROSS_VAL_OPTIONS, 'spot-check': { type: 'string' }, reviews: { type: 'string' }, run: { type: 'string' }, records: { type: 'string' }, ranker: { type: 'string' }, top: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (e) {
    throw new UserError(`${(e as Error).message}\n${HELP}`);
  }
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  const crossVal = f['cross-val'] !== undefined;
  if ([!!f.run, !!f.records, crossVal].filter(Boolean).length !== 1) throw new UserError(`give exactly one of --run RUN_DIR, --records FILE.jsonl or --cross-val K\n${HELP}`);
  const top = f.top === undefined ? 20 : Number(f.top);
  if (!Number.isInteger(top) || top < 0) throw new UserError(`--top: expected a whole number >= 0, got '${f.top}'`);
  if (f['spot-check'] !== undefined && f.reviews !== undefined) throw new UserError('give --spot-check N (to make a review sheet) or --reviews FILE (to use one), not both');
  const spotCheck = f['spot-check'] === undefined ? 0 : Number(f['spot-check']);
  if (!Number.isInteger(spotCheck) || spotCheck < 0 || (f['spot-check'] !== undefined && spotCheck === 0)) throw new UserError(`--spot-check: expected a whole number >= 1, got '${f['spot-check']}'`);
  const ranker: RankerName | 'calibrated' = f.ranker === undefined ? (f.reviews ? 'calibrated' : 'combined') : isRankerName(f.ranker) || f.ranker === 'calibrated' ? f.ranker : (() => {
    throw new UserError(`--ranker: expected one of ${RANKER_NAMES.join(', ')}, calibrated, got '${f.ranker}'`);
  })();
  if (ranker === 'calibrated' && !f.reviews) throw new UserError('--ranker calibrated needs --reviews FILE.csv (make one with --spot-check N)');
  let records: SampleRecord[];
  let file: string;
  let classes: string[];
  if (crossVal) {
    const r = await runCrossValCli(f);
    ({ records, classes } = r);
    file = r.recordsFile;
  } else {
    file = f.records ?? path.join(f.run!, 'records.jsonl');
    if (f.run && !existsSync(file)) throw new UserError(`${f.run}: no records.jsonl (train with --diagnose val|all, run \`kefer eval --per-sample\`, or \`kefer issues --cross-val K\`)`);
    records = await readRecords(file);
    classes = await classNames(f.run, records[0]?.probs.length ?? 0);
  }
  if (f.split) records = records.filter((r) => r.split === f.split);
  if (records.length === 0) throw new UserError(`${file}: no records${f.split ? ` in split '${f.split}'` : ''}`);
  if (spotCheck > 0) {
    const seed = f.seed === undefined ? 0 : Number(f.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new UserError(`--seed: expected a whole number >= 0, got '${f.seed}'`);
    console.log(spotCheckSheet(records, classes, spotCheck, seed));
    return 0;
  }
  const neutralIndex = classes.indexOf('neutral') >= 0 ? classes.indexOf('neutral') : DEFAULT_NEUTRAL_INDEX;
  // Every ranker on the same records; the combined score standardises with this run's own statistics.
  const { scores, cl } = rankerScores(records, { neutralIndex });
  let score: number[] = ranker === 'calibrated' ? [] : scores[ranker];
  let reviewedIds = new Set<string>();
  let calibration: string[] = [];
  if (f.reviews) {
    const reviews = await readReviews(f.reviews);
    let model;
    try {
      model = fitReviewCalibratedModel(records, reviews, { numClasses: classes.length, neutralIndex });
    } catch (e) {
      throw new UserError(`${f.reviews}: ${(e as Error).message}`);
    }
    const calibrated = calibratedScores(records, model);
    const rates = estimatedIssueRates(records, reviews, model, calibrated);
    calibration = [
      `calibrated on ${model.reviews.n} reviews from ${f.reviews} (${model.reviews.issues} issues); signal weights ${model.signalWeights.map((w, j) => `${['self-confidence', 'margin', 'gap', 'align'][j]} ${w}`).join(', ')}`,
      `estimated issue rate per class (reviews + calibrated model) vs confident learning: ${classes.map((c, k) => `${c} ${(100 * rates[k].rate).toFixed(0)}% (${rates[k].reviewedIssues}/${rates[k].reviewed} reviewed; CL ${(100 * (cl.noiseRates[k] ?? 0)).toFixed(0)}%)`).join(', ')}`,
    ];
    if (ranker === 'calibrated') score = calibrated;
    reviewedIds = new Set(reviews.map((r) => r.id));
  }
  const order = orderByScore(score).filter((i) => !reviewedIds.has(records[i].id));
  const rows: Row[] = (top === 0 ? order : order.slice(0, top)).map((i, r) => ({
    rank: r + 1, record: records[i], signals: computeSignals(records[i], neutralIndex), score: score[i], flagged: cl.isIssue[i],
  }));
  if (f.json) {
    console.log(JSON.stringify(rows.map((r) => ({
      rank: r.rank, id: r.record.id, path: r.record.path, split: r.record.split, label: classes[r.record.label], pred: classes[r.record.pred], ranker,
      score: r.score, selfConfidence: r.signals.selfConfidence, margin: r.signals.margin, gap: r.signals.gap, align: r.signals.align, confidentLearningFlag: r.flagged,
    }))));
    return 0;
  }
  const inTrain = records.filter((r) => r.split === 'train').length;
  console.log(`${records.length} records from ${file}; ranked by ${ranker === 'calibrated' ? 'the combined signals calibrated on the reviews (per-class offsets + signal weights)' : RANKER_DESCRIPTIONS[ranker]}${reviewedIds.size ? `; the ${reviewedIds.size} reviewed samples are left out` : ''}`);
  for (const line of calibration) console.log(line);
  console.log(`confident learning flags ${cl.estimatedIssues} (CL column *); estimated noise rate per class: ${classes.map((c, i) => `${c} ${(100 * (cl.noiseRates[i] ?? 0)).toFixed(0)}%`).join(', ')}`);
  if (inTrain > 0 && !crossVal) console.error(`note: ${inTrain} records are from the training split; unless they are k-fold out-of-sample records (kefer issues --cross-val), the model saw their labels and the signals under-rank label errors`);
  console.log(table(rows, classes));
  return 0;
}
