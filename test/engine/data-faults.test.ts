// The planted-fault suite: for every layout the readers accept, each fault kind alone and in seeded
// combinations. Every planted fault must be named (kind + file + line where there is one), nothing else
// may be reported, the layout verdict must be the layout that was written, and every clean sample must
// still be read. The table in docs/fault-suite.md is rendered from this run and must match it
// (KEFER_WRITE_DOCS=1 rewrites it).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { checkDataset, DatasetError, loadDataset } from '../../src/engine/data/index.js';
import { Rng } from '../../src/engine/util/rng.js';
import { applies, FAULT_DESCRIPTIONS, FAULTS, LAYOUTS, materialise, plan, REPORTED_AS, sortProblems, type Fault, type Layout } from './data-faults.js';

let base = '';
before(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'kefer-faults-'));
});
after(() => rm(base, { recursive: true, force: true }));

const COMBINATIONS_PER_LAYOUT = 4;
const figures = { datasets: 0, planted: 0, named: 0, extra: 0, misdiagnosed: 0, cleanSamples: 0, cleanRead: 0 };
const cellTested = new Map<string, number>();

async function runCase(layout: Layout, faults: Fault[], seed: number, label: string): Promise<void> {
  const p = await plan(layout, faults, new Rng(seed));
  const root = path.join(base, `${layout.name}-${label}`);
  const expected = await materialise(layout, p, root);
  const r = await checkDataset(layout.spec(root));
  const actual = sortProblems(r.problems);

  // Tally before asserting, so the figures count a failing case too.
  const left = [...actual];
  let named = 0;
  for (const e of expected.problems) {
    const i = left.findIndex((a) => a.kind === e.kind && a.file === e.file && a.line === e.line);
    if (i >= 0) {
      named++;
      left.splice(i, 1);
    }
  }
  const ids = (r.dataset?.samples.map((s) => s.id) ?? []).sort();
  const misdiagnosed = !r.dataset || r.layout?.name !== layout.verdict;
  figures.datasets++;
  figures.planted += expected.problems.length;
  figures.named += named;
  figures.extra += left.length;
  figures.misdiagnosed += misdiagnosed ? 1 : 0;
  figures.cleanSamples += expected.kept.length;
  figures.cleanRead += expected.kept.filter((id) => ids.includes(id)).length;

  const context = `${layout.name} with ${faults.join(' + ') || 'no fault'} (seed ${seed}, ${root})`;
  assert.ok(!misdiagnosed, `${context}: layout read as ${r.layout?.name ?? 'unreadable'}: ${r.problems.find((x) => x.kind === 'bad-layout')?.message ?? r.layout?.evidence}`);
  assert.deepEqual(actual, expected.problems, `${context}: reported problems differ from the planted ones\n${r.problems.map((x) => `  ${x.kind} ${x.file}:${x.line ?? ''} ${x.message}`).join('\n')}`);
  assert.deepEqual(ids, expected.kept, `${context}: the usable samples differ from the clean ones`);
  // The strict loader (training, eval) agrees: it stops at the first problem the readers find, and reads
  // a dataset whose only variants are accepted ones (line endings, headers) without complaint.
  const readerProblems = (await checkDataset(layout.spec(root), { images: false })).problems;
  if (readerProblems.length) {
    // One of them (AffectNet reads its .npy files concurrently, so not always the same one).
    const named = (e: DatasetError) => readerProblems.some((p) => p.file === e.file && p.line === e.line);
    await assert.rejects(loadDataset(layout.spec(root)), (e: unknown) => e instanceof DatasetError && named(e), `${context}: loadDataset`);
  } else if (expected.problems.length === 0) {
    const ds = await loadDataset(layout.spec(root));
    assert.deepEqual(ds.samples.map((x) => x.id).sort(), expected.kept, `${context}: loadDataset`);
  }
  for (const f of faults) cellTested.set(`${layout.name}|${f}`, (cellTested.get(`${layout.name}|${f}`) ?? 0) + 1);
}

for (const [li, layout] of LAYOUTS.entries()) {
  test(`${layout.name}: a clean dataset has no problem, then each fault alone is named and nothing else`, async (t) => {
    await runCase(layout, [], 1000 + li, 'clean');
    for (const [fi, fault] of FAULTS.entries()) {
      if (!applies(layout, fault)) continue;
      await t.test(fault, () => runCase(layout, [fault], 7919 * (li + 1) + fi, `alone-${fault}`));
    }
  });

  test(`${layout.name}: seeded combinations, and every applicable fault at once`, async (t) => {
    const kinds = FAULTS.filter((f) => applies(layout, f));
    const rng = new Rng(4242 + li);
    for (let c = 0; c < COMBINATIONS_PER_LAYOUT; c++) {
      const k = 2 + rng.int(5);
      const faults = Array.from({ length: k }, () => rng.pick(kinds));
      await t.test(faults.join(' + '), () => runCase(layout, faults, 31 * (li + 1) + c, `combo-${c}`));
    }
    // Everything at once, the label-code and missing-file faults twice.
    const all = [...kinds, ...kinds.filter((f) => f === 'unknown-code' || f === 'missing-file')];
    await t.test('all at once', () => runCase(layout, all, 99 + li, 'all'));
  });
}

/** Footnoted layouts x faults table and the figures, as written in docs/fault-suite.md. */
function renderTable(): string {
  const notes: string[] = [];
  const note = (reason: string) => {
    let i = notes.indexOf(reason);
    if (i < 0) i = notes.push(reason) - 1;
    return `n/a [${i + 1}]`;
  };
  const head = `| fault planted | reported as | ${LAYOUTS.map((l) => l.name).join(' | ')} |`;
  const rule = `|---|---|${LAYOUTS.map(() => ':-:').join('|')}|`;
  const rows = FAULTS.map((f) => {
    const cells = LAYOUTS.map((l) => {
      if (!applies(l, f)) return note(l.na[f] ?? 'the format has one header spelling');
      const n = cellTested.get(`${l.name}|${f}`) ?? 0;
      return n > 0 ? `✓ ${n}` : 'NOT TESTED';
    });
    return `| ${f}: ${FAULT_DESCRIPTIONS[f]} | ${REPORTED_AS[f] ?? 'accepted: no problem'} | ${cells.join(' | ')} |`;
  });
  const pct = figures.planted ? ((100 * figures.named) / figures.planted).toFixed(1) : '0';
  return [
    head,
    rule,
    ...rows,
    '',
    '✓ N: the fault was planted in N generated datasets of that layout (alone and in combinations), and each time the check',
    'named it with its kind, file and line, reported nothing else, read the layout right and kept every clean sample.',
    '',
    ...notes.map((n, i) => `[${i + 1}] ${n}`),
    '',
    '| figure | value |',
    '|---|---|',
    `| datasets generated and checked | ${figures.datasets} (${LAYOUTS.length} layouts: clean, each fault alone, ${COMBINATIONS_PER_LAYOUT} seeded combinations, all at once) |`,
    `| faults planted (each must produce one problem) | ${figures.planted} |`,
    `| faults named (kind + file + line) | ${figures.named} (${pct}%) |`,
    `| problems reported that were not planted | ${figures.extra} |`,
    `| misdiagnosed layouts | ${figures.misdiagnosed} of ${figures.datasets} datasets |`,
    `| clean samples read | ${figures.cleanRead} of ${figures.cleanSamples} |`,
  ].join('\n');
}

test('docs/fault-suite.md holds the table and figures of this run', async () => {
  assert.equal(figures.named, figures.planted, 'every planted fault is named');
  assert.equal(figures.extra, 0, 'nothing but the planted faults is reported');
  assert.equal(figures.misdiagnosed, 0, 'no layout misdiagnosed');
  const doc = path.resolve(__dirname, '../../docs/fault-suite.md') // test files run as CommonJS through tsx;
  const text = await readFile(doc, 'utf8');
  const start = '<!-- fault-table:start (generated by test/engine/data-faults.test.ts) -->\n';
  const end = '\n<!-- fault-table:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  assert.ok(a >= 0 && b > a, `${doc} lacks the fault-table markers`);
  const table = renderTable();
  if (process.env.KEFER_WRITE_DOCS === '1') {
    await writeFile(doc, text.slice(0, a + start.length) + table + text.slice(b));
    return;
  }
  assert.equal(text.slice(a + start.length, b), table, `${doc} is out of date: rerun with KEFER_WRITE_DOCS=1`);
});
