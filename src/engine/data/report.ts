// The check report, as text for people and as JSON for programs: `kefer data check` prints it, and
// `kefer train` prints the same report when it refuses a dataset before the first step.
import type { CheckResult } from './index.js';
import { groupProblems, problemLocation, type Problem, type ProblemKind } from './problems.js';

/** Exit codes of `kefer data check` (also in its --help and the README). */
export const CHECK_EXIT = { clean: 0, problems: 1, usage: 2, unreadable: 3 } as const;

export function checkExitCode(r: CheckResult): number {
  if (!r.dataset) return CHECK_EXIT.unreadable;
  return r.problems.length ? CHECK_EXIT.problems : CHECK_EXIT.clean;
}

export function countByKind(problems: readonly Problem[]): Partial<Record<ProblemKind, number>> {
  return Object.fromEntries(groupProblems(problems).map((g) => [g.kind, g.problems.length]));
}

/** "3 problems (1 missing-file, 1 unknown-code, 1 bad-image)". */
export function problemSummary(problems: readonly Problem[]): string {
  const groups = groupProblems(problems);
  const n = problems.length;
  return `${n} problem${n === 1 ? '' : 's'}${n ? ` (${groups.map((g) => `${g.problems.length} ${g.kind}`).join(', ')})` : ''}`;
}

/** The layout line: the verdict, and when it was not sure, what the reader saw. */
export function layoutLine(r: CheckResult): string | undefined {
  const l = r.layout;
  if (!l) return undefined;
  return `layout: ${l.name}${l.sure ? '' : ' (not sure: mixed evidence; every line and image was still checked)'} — ${l.evidence}`;
}

/** Problems grouped by kind with counts, one line each with file:line [field]. */
export function formatProblemGroups(problems: readonly Problem[], rel?: (file: string) => string, indent = '  '): string[] {
  const out: string[] = [];
  for (const g of groupProblems(problems)) {
    out.push(`${indent}${g.kind} (${g.problems.length})`);
    for (const p of g.problems) {
      const where = problemLocation(p, rel);
      out.push(`${indent}  ${where ? `${where}: ` : ''}${p.message}`);
    }
  }
  return out;
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
    problemCount: r.problems.length,
    byKind: countByKind(r.problems),
    problems: r.problems.map((p) => ({ kind: p.kind, file: p.file ?? null, line: p.line ?? null, field: p.field ?? null, sample: p.sample ?? null, message: p.message })),
  };
}
