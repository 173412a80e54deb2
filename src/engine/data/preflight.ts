// Training's pre-flight: the dataset is checked (every line, every image) before the first step. With
// problems the run is refused with the same report `kefer data check` prints, or, with --skip-bad, the
// bad samples are dropped, listed, and recorded in the run (run.json `dataCheck`, an events.jsonl warning).
import { checkDataset, type CheckResult } from './index.js';
import { problemLocation, type Problem, type ProblemKind } from './problems.js';
import { countByKind, formatProblemGroups, problemSummary } from './report.js';
import { DatasetError, type Dataset } from './types.js';

/** What the pre-flight found and dropped; stored in run.json as `dataCheck`. */
export interface DataCheckRecord {
  spec: string;
  /** Image files were checked too (not only the label files). */
  images: boolean;
  problems: number;
  byKind: Partial<Record<ProblemKind, number>>;
  skipBad: boolean;
  /** Every problem, each one a line, file or folder left out of training. */
  dropped: { kind: ProblemKind; file: string | null; line: number | null; field: string | null; sample: string | null; message: string }[];
  /** The validation dataset's check, when it was loaded from a spec of its own (--val, or the dataset's own split). */
  val?: DataCheckRecord;
}

export interface PreflightOptions {
  /** Drop samples with problems instead of refusing the dataset. */
  skipBad?: boolean;
  /** Check image files too (default true). */
  images?: boolean;
  /** The flag that named the spec, for the report (default --data). */
  flag?: string;
}

/** Thrown when the pre-flight refuses a dataset; the message is the whole report. */
export class DataProblemsError extends DatasetError {
  /** The CLI's exit code, as `kefer data check` uses them: 1 problems found, 3 the dataset could not be read. */
  readonly exitCode: number;
  constructor(
    message: string,
    readonly result: CheckResult,
  ) {
    super(message);
    this.exitCode = result.dataset ? 1 : 3;
  }
}

export function dropListing(problems: readonly Problem[], rel?: (f: string) => string, limit = Infinity): string[] {
  const lines = problems.slice(0, limit).map((p) => {
    const where = problemLocation(p, rel);
    return `  ${p.sample ? `${p.sample} ` : ''}${where ? `(${where}) ` : ''}${p.kind}: ${p.message}`;
  });
  if (problems.length > limit) lines.push(`  ... and ${problems.length - limit} more (all in run.json dataCheck.dropped)`);
  return lines;
}

export async function preflightDataset(
  spec: string,
  opts: PreflightOptions = {},
  rel?: (f: string) => string,
): Promise<{ dataset: Dataset; record: DataCheckRecord; result: CheckResult }> {
  const images = opts.images ?? true;
  const flag = opts.flag ?? '--data';
  const result = await checkDataset(spec, { images });
  const { dataset, problems } = result;
  if (!dataset) {
    throw new DataProblemsError([`${flag} ${spec}: the dataset could not be read:`, ...formatProblemGroups(problems, rel)].join('\n'), result);
  }
  if (problems.length && !opts.skipBad) {
    throw new DataProblemsError(
      [
        `${flag} ${spec}: ${problemSummary(problems)}; training was not started:`,
        ...formatProblemGroups(problems, rel),
        `fix them, or pass --skip-bad to train without these samples (they are listed and recorded in run.json); 'kefer data check ${spec} --json' gives the same report as JSON`,
      ].join('\n'),
      result,
    );
  }
  const record: DataCheckRecord = {
    spec,
    images,
    problems: problems.length,
    byKind: countByKind(problems),
    skipBad: !!opts.skipBad,
    dropped: problems.map((p) => ({ kind: p.kind, file: p.file ?? null, line: p.line ?? null, field: p.field ?? null, sample: p.sample ?? null, message: p.message })),
  };
  return { dataset, record, result };
}
