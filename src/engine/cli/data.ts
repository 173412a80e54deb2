// `kefer data check SPEC` and `kefer data generate OUT`: dataset inspection and synthetic data.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkDataset, countsByClass, type CheckResult } from '../data/index.js';
import { CHECK_EXIT, checkExitCode, CheckReportJsonStream, formatProblemGroups, layoutLine, PROBLEMS_SHOWN_PER_KIND, problemSummary, problemTotal } from '../data/report.js';
import type { Problem } from '../data/problems.js';
import { generateSyntheticDataset } from '../data/synthetic.js';
import type { Dataset } from '../data/types.js';
import { UserError } from './errors.js';

export const summary = 'check a dataset spec (counts, every problem), find duplicates and split leaks, or generate a synthetic dataset';

const USAGE = `usage:
  kefer data check SPEC [--no-images] [--json]
      SPEC = <format>:<path>[#split][?key=val&...], formats: ferplus folder rafdb fer2013 affectnet ckplus list synthetic
      Reads every line of the label files and checks every image (empty, not an image, header size over
      the decode limit, wrong size for the layout, truncated or corrupt), then prints the layout it found
      (and what it saw when unsure), counts per class and split, and every problem in one pass, grouped
      by kind with counts, each as file:line [field]: message.
      --no-images   skip the image checks (faster; bad image files are then not found)
      --json        one JSON object on stdout: layout, counts, byKind, problems[{kind,file,line,field,sample,message}]
      spec options: ?size=WxH|any (image size the layout requires), ?classes=7|8, ?codes=... (folder, list)
      exit status: 0 no problems, 1 problems found (the dataset was read; every problem is listed),
                   2 usage error, 3 the dataset could not be read at all (no label file, unknown
                   layout or format, the RAF-DB compound subset, ...)
  kefer data dups SPEC [--run RUN] [--json] [...]   exact / near / semantic duplicates, cross-split leaks,
      conflicting labels, fixes through the overlay (kefer data dups --help)
  kefer data generate OUT [--per-class N] [--classes 7|8] [--seed N] [--size N] [--rgb]
      writes OUT/{train,valid,test}/{class}/*.png and OUT/SYNTHETIC.md (generated faces, not real data)`;

export const rel = (file: string) => {
  const r = path.relative(process.cwd(), file);
  return r.length < file.length ? r : file;
};

/** Counts table: one row per split (and total), one column per class. */
export function formatCounts(dataset: Dataset): string {
  const c = countsByClass(dataset);
  const width = Math.max(9, ...c.classes.map((n) => n.length + 1));
  const head = ['split'.padEnd(8), ...c.classes.map((n) => n.padStart(width)), 'total'.padStart(8)].join('');
  const row = (name: string, counts: number[]) =>
    [name.padEnd(8), ...counts.map((n) => String(n).padStart(width)), String(counts.reduce((a, b) => a + b, 0)).padStart(8)].join('');
  const order = ['train', 'valid', 'test'];
  const splits = Object.keys(c.splits).sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
  const lines = [head, ...splits.map((s) => row(s, c.splits[s]))];
  if (splits.length > 1) lines.push(row('all', c.total));
  return lines.join('\n');
}

async function check(argv: string[], write?: (s: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { 'no-images': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    console.error(`kefer data check: ${(e as Error).message}\n${USAGE}`);
    return CHECK_EXIT.usage;
  }
  const { positionals, values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`kefer data check takes one SPEC\n${USAGE}`);
    return CHECK_EXIT.usage;
  }
  const spec = positionals[0];
  // --json streams every problem as it is found; the text report keeps a few of each kind (and counts all)
  const stream = values.json ? new CheckReportJsonStream(spec, write) : undefined;
  let result: CheckResult;
  try {
    result = await checkDataset(spec, { images: !values['no-images'], ...(stream ? { onProblem: stream.problem, keepPerKind: 0 } : { keepPerKind: PROBLEMS_SHOWN_PER_KIND }) });
  } catch (e) {
    // An I/O error the readers do not turn into a problem (permissions, ...): the dataset is unreadable.
    const p: Problem = { kind: 'bad-layout', message: (e as Error).message };
    stream?.problem(p);
    result = { problems: [p], problemCounts: { 'bad-layout': 1 } };
  }
  const code = checkExitCode(result);
  // Exact copies across splits: a warning, not a problem (the dataset reads; its evaluation is inflated).
  const dups = values['no-images'] ? undefined : await crossSplitWarning(result.dataset);
  if (stream) {
    stream.end(result, result.dataset ? countsByClass(result.dataset) : undefined, dups ? { duplicates: dups.json } : undefined);
    return code;
  }
  console.log(formatCheckReport(result));
  if (dups?.text) console.log(`\n${dups.text}`);
  return code;
}

/** How many pairs `kefer data check` lists (the count covers them all). */
export const CHECK_DUP_PAIRS = 5;

/** Exact duplicates across splits: the warning's text and JSON (undefined for a one-split dataset). */
async function crossSplitWarning(dataset: Dataset | undefined): Promise<{ text: string; json: unknown } | undefined> {
  if (!dataset || new Set(dataset.samples.map((s) => s.split)).size < 2) return undefined;
  const { crossSplitExact, LEAK_KINDS } = await import('../dups/index.js');
  const x = await crossSplitExact(dataset);
  const byKind = Object.fromEntries(LEAK_KINDS.map((k) => [k, x.pairs.filter((p) => p.kind === k).length]));
  const first = x.pairs.slice(0, CHECK_DUP_PAIRS).map((p) => [dataset.samples[p.a].id, dataset.samples[p.b].id, p.kind]);
  const json = { crossSplitExact: { clusters: x.clusters.length, pairs: x.pairs.length, leakedCopies: x.leaked.length, byKind, first } };
  if (!x.clusters.length) return { text: '', json };
  const text = [
    `warning: ${x.pairs.length} exact duplicate pair(s) across splits (same decoded pixels) in ${x.clusters.length} group(s): ${LEAK_KINDS.map((k) => `${k} ${byKind[k]}`).join(', ')}; ${x.leaked.length} evaluation image(s) are copies of training or validation images`,
    ...first.map(([a, b, k]) => `  ${k}: ${a}  <->  ${b}`),
    ...(x.pairs.length > first.length ? [`  ... ${x.pairs.length - first.length} more`] : []),
    '  `kefer data dups SPEC` lists them all, finds near and semantic copies too, and excludes the leaked copies (--exclude-leaks)',
  ].join('\n');
  return { text, json };
}

/** The whole text report: dataset line, layout, counts, problems grouped by kind. */
export function formatCheckReport(result: CheckResult): string {
  const out: string[] = [];
  const { dataset } = result;
  if (dataset) {
    out.push(`${dataset.format} ${dataset.root}${dataset.split ? ` #${dataset.split}` : ''}${dataset.synthetic ? '  [SYNTHETIC]' : ''}`);
    const layout = layoutLine(result);
    if (layout) out.push(layout);
    out.push(`${dataset.samples.length} usable samples, ${dataset.classes.length} classes`);
    out.push(formatCounts(dataset));
  } else {
    out.push('the dataset could not be read:');
  }
  if (problemTotal(result)) {
    out.push('', `${problemSummary(result)}:`);
    for (const line of formatProblemGroups(result, rel)) out.push(line);
  } else {
    out.push('', 'no problems found');
  }
  return out.join('\n');
}

function intFlag(name: string, v: string | undefined, fallback: number, lo: number, hi: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new UserError(`--${name} must be an integer ${lo}..${hi}, got '${v}'`);
  return n;
}

async function generate(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'per-class': { type: 'string' },
      classes: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      rgb: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UserError(`data generate takes one OUT folder\n${USAGE}`);
  const classes = intFlag('classes', values.classes, 8, 7, 8) as 7 | 8;
  const res = await generateSyntheticDataset(positionals[0], {
    perClass: intFlag('per-class', values['per-class'], 200, 1, 1_000_000),
    classes,
    seed: intFlag('seed', values.seed, 1, 0, 2 ** 32 - 1),
    size: intFlag('size', values.size, 64, 16, 512),
    channels: values.rgb ? 3 : 1,
  });
  const per = Object.entries(res.counts).map(([s, n]) => `${s} ${n}`).join(', ');
  console.log(`wrote ${res.images} synthetic images (${per}) to ${rel(res.root)} in ${(res.ms / 1000).toFixed(1)} s (${Math.round((res.images * 1000) / Math.max(1, res.ms))} img/s)`);
  console.log(`use it as synthetic:${rel(res.root)}`);
  return 0;
}

/** `out`: where `data check --json` writes its report (default: standard output, synchronously). */
export async function run(argv: string[], out?: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'check') return check(rest, out);
  if (sub === 'generate') return generate(rest);
  if (sub === 'dups') return (await import('./dups.js')).runDups(rest);
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(USAGE);
    return sub ? 0 : 2;
  }
  throw new UserError(`unknown data subcommand '${sub}'\n${USAGE}`);
}
