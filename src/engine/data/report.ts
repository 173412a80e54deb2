import * as fs from 'node:fs';
// The check report, as text for people and as JSON for programs: `kefer data check` prints it, and
// `kefer train` prints the same report when it refuses a dataset before the first step.
import type { CheckResult } from './index.js';
import { clip, groupProblems, MAX_FIELD, PROBLEM_KINDS, problemLocation, type Problem, type ProblemKind } from './problems.js';

/** Exit codes of `kefer data check` (also in its --help and the README). */
export const CHECK_EXIT = { clean: 0, problems: 1, usage: 2, unreadable: 3 } as const;

export function checkExitCode(r: CheckResult): number {
  if (!r.dataset) return CHECK_EXIT.unreadable;
  return problemTotal(r) ? CHECK_EXIT.problems : CHECK_EXIT.clean;
}

/** Problems per kind (PROBLEM_KINDS order): a result's counts (every problem, also those not kept), or a list's. */
export function countByKind(from: readonly Problem[] | CheckResult): Partial<Record<ProblemKind, number>> {
  if (!Array.isArray(from)) {
    const r = from as CheckResult;
    if (r.problemCounts) return Object.fromEntries(PROBLEM_KINDS.filter((k) => r.problemCounts![k]).map((k) => [k, r.problemCounts![k]!]));
    return countByKind(r.problems);
  }
  return Object.fromEntries(groupProblems(from as readonly Problem[]).map((g) => [g.kind, g.problems.length]));
}

/** How many problems a check found (kept or not). */
export function problemTotal(r: CheckResult): number {
  return r.problemCounts ? Object.values(r.problemCounts).reduce((a, b) => a + (b ?? 0), 0) : r.problems.length;
}

/** "3 problems (1 missing-file, 1 unknown-code, 1 bad-image)". */
export function problemSummary(from: readonly Problem[] | CheckResult): string {
  const counts = Object.entries(countByKind(from));
  const n = counts.reduce((a, [, c]) => a + (c ?? 0), 0);
  return `${n.toLocaleString('en-US')} problem${n === 1 ? '' : 's'}${n ? ` (${counts.map(([k, c]) => `${(c ?? 0).toLocaleString('en-US')} ${k}`).join(', ')})` : ''}`;
}

/** The layout line: the verdict, and when it was not sure, what the reader saw. */
export function layoutLine(r: CheckResult): string | undefined {
  const l = r.layout;
  if (!l) return undefined;
  return `layout: ${l.name}${l.sure ? '' : ' (not sure: mixed evidence; every line and image was still checked)'} — ${l.evidence}`;
}

/** Problems listed per kind in a text report; `kefer data check --json` lists every one. */
export const PROBLEMS_SHOWN_PER_KIND = 20;

/**
 * Problems grouped by kind with counts, the first `perKind` of each a line with file:line [field]. A
 * million problems (a big dataset pointed at the wrong image folder) print a few hundred lines.
 */
export function formatProblemGroups(from: readonly Problem[] | CheckResult, rel?: (file: string) => string, indent = '  ', perKind = PROBLEMS_SHOWN_PER_KIND): string[] {
  const out: string[] = [];
  const counts = countByKind(from);
  for (const g of groupProblems(Array.isArray(from) ? (from as readonly Problem[]) : (from as CheckResult).problems)) {
    const total = counts[g.kind] ?? g.problems.length;
    out.push(`${indent}${g.kind} (${total.toLocaleString('en-US')})`);
    for (const p of g.problems.slice(0, perKind)) {
      const where = problemLocation(p, rel && ((f) => clip(rel(f))));
      out.push(`${indent}  ${where ? `${where}: ` : ''}${clip(p.message, 2 * MAX_FIELD)}`);
    }
    const more = total - Math.min(perKind, g.problems.length);
    if (more > 0) out.push(`${indent}  … and ${more.toLocaleString('en-US')} more ${g.kind} (kefer data check --json lists every problem)`);
  }
  return out;
}

const problemJson = (p: Problem) => ({ kind: p.kind, file: p.file ?? null, line: p.line ?? null, field: p.field ?? null, sample: p.sample ?? null, message: p.message });

/**
 * Writes all of `s` to a file descriptor before returning, waiting while a pipe is full (EAGAIN): a
 * report streamed to a slow reader through process.stdout would queue in memory instead (677 MB for a
 * million problems through a pipe).
 */
export function writeAllSync(fd: number, s: string): void {
  let buf = Buffer.from(s);
  let wait: Int32Array | undefined;
  while (buf.length) {
    try {
      buf = buf.subarray(fs.writeSync(fd, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait((wait ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 2);
    }
  }
}

/**
 * `kefer data check --json` as a stream: the problems are written as checkDataset finds them (pass
 * `problem` as its onProblem, keepPerKind 0), the rest of the report after them. A million problems are
 * never held, nor made into one string (that took 1.1 GB). Lines are batched into writes of about 1 MB.
 */
export class CheckReportJsonStream {
  private n = 0;
  private buf: string[] = [];
  private size = 0;

  constructor(private readonly spec: string, private readonly write: (s: string) => void = (s) => writeAllSync(1, s)) {
    this.emit(`{\n  "spec": ${JSON.stringify(spec)},\n  "problems": [`);
  }

  readonly problem = (p: Problem): void => {
    this.emit(`${this.n++ ? ',' : ''}\n    ${JSON.stringify(problemJson(p))}`);
  };

  /** The fields after the problems (the same as checkReportJson's but for `problems`), and any `extra` ones. */
  end(r: CheckResult, counts?: unknown, extra?: Record<string, unknown>): void {
    const { problems: _p, spec: _s, ...rest } = checkReportJson(this.spec, { ...r, problems: [] }, counts);
    const tail = JSON.stringify({ ...rest, problemCount: problemTotal(r), byKind: countByKind(r), ...extra }, null, 2).slice(1);
    this.emit(`${this.n ? '\n  ' : ''}],${tail}\n`);
    this.flush();
  }

  private emit(s: string): void {
    this.buf.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.buf.length) this.write(this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }
}

/** The machine-readable report (`kefer data check --json`). Paths are absolute. */
export function checkReportJson(spec: string, r: CheckResult, counts?: unknown) {
  return {
    spec,
    readable: r.dataset !== undefined,
    exitCode: checkExitCode(r),
    layout: r.layout ?? null,
    dataset: r.dataset
      ? {
          format: r.dataset.format,
          root: r.dataset.root,
          split: r.dataset.split ?? null,
          classes: r.dataset.classes,
          samples: r.dataset.samples.length,
          synthetic: !!r.dataset.synthetic,
          imageSize: r.dataset.imageSize ?? null,
          counts: counts ?? null,
        }
      : null,
    problemCount: problemTotal(r),
    byKind: countByKind(r),
    problems: r.problems.map(problemJson),
  };
}
