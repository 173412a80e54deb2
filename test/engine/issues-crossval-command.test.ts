// What "KE-FER: Find Label Issues (Cross-Validation)" runs, without the workbench: the arguments
// crossValArgs builds, given to the real `kefer` CLI on generated faces; every JSON line it prints is an
// event parseCrossValLine reads, the progress reaches fold K/K and 100 %, the run lands in the store
// under the folder's name, and the panel's confident-learning sort orders its out-of-fold records. A
// rerun in the same folder reads the folds back (the command's "Resume").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSyntheticDataset } from '../../src/engine/data/index.js';
import type { CrossValCliEvent } from '../../src/engine/events.js';
import { confidentLearning } from '../../src/engine/issues/index.js';
import { decodeProbs, mistakesPage, openStore } from '../../src/engine/store/index.js';
import { CrossValProgress, crossValArgs, parseCrossValLine } from '../../src/extension/crossValidation.js';
import { DEFAULT_SETTINGS } from '../../src/extension/settings.js';

const BIN = path.resolve(__dirname, '../../bin/kefer.js');

function runCli(cwd: string, args: string[]): { code: number | null; lines: string[]; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 300_000 });
  return { code: r.status, lines: r.stdout.split('\n').filter((l) => l.trim()), err: r.stderr };
}

function follow(lines: string[]): { events: CrossValCliEvent[]; progress: CrossValProgress; fractions: number[]; messages: string[] } {
  const progress = new CrossValProgress();
  const events: CrossValCliEvent[] = [];
  const fractions: number[] = [];
  const messages: string[] = [];
  for (const l of lines) {
    const e = parseCrossValLine(l);
    // the ranked table after the events is text; every JSON line must be an event the command reads
    if (l.trim().startsWith('{')) assert.ok(e, `a JSON line the parser does not read: ${l.slice(0, 200)}`);
    if (!e) continue;
    events.push(e);
    const u = progress.update(e);
    if (u) {
      fractions.push(u.fraction);
      messages.push(u.message);
    }
  }
  return { events, progress, fractions, messages };
}

test('Find Label Issues: the built arguments run the real CLI; its events drive the progress to K/K; the store run sorts by confident learning', async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'kefer-cvcmd-'));
  try {
    const data = path.join(work, 'faces');
    await generateSyntheticDataset(data, { perClass: 12, classes: 7, seed: 3, size: 48 });
    const outDir = path.join(work, '.kefer', 'runs', '20261203-120000-faces-cv3');
    const storePath = path.join(work, '.kefer', 'kefer.db');
    const args = crossValArgs({ data: `synthetic:${data}`, outDir, k: 3, mode: { kind: 'hog' }, storePath, settings: DEFAULT_SETTINGS, epochs: 3 });

    const first = runCli(work, args);
    assert.equal(first.code, 0, first.err);
    const a = follow(first.lines);
    assert.deepEqual(a.events.filter((e) => e.type === 'fold-done').map((e) => (e.type === 'fold-done' ? e.fold : 0)), [1, 2, 3]);
    assert.ok(a.messages.some((m) => /^fold 3\/3 done in \d+ s$/.test(m)), a.messages.join('\n'));
    assert.equal(a.fractions.at(-1), 1);
    for (let i = 1; i < a.fractions.length; i++) assert.ok(a.fractions[i] >= a.fractions[i - 1]);
    assert.equal(a.progress.run, path.basename(outDir), 'registered under the run folder’s name (the panel finds it by that)');
    const n = a.progress.summary?.records ?? 0;
    assert.ok(n > 0);

    // the run the panel opens: misclassified out-of-fold records, confident learning's flags first
    const store = openStore(storePath);
    try {
      const rows = mistakesPage(store, a.progress.run!, {}, { sort: 'cl', limit: 10000 }).rows;
      assert.ok(rows.length > 0);
      const flagged = rows.map((r) => r.clFlag !== null);
      assert.ok(flagged.some(Boolean) && !flagged.every(Boolean), `some misclassified rows flagged, some not: ${flagged.join(' ')}`);
      assert.deepEqual(flagged, [...flagged].sort((x, y) => Number(y) - Number(x)), 'flagged rows come first');
      // the flags are confidentLearning() over the run's records
      const all = store.db.prepare('SELECT s.sid, r.label, r.probs FROM records r JOIN samples s ON s.sk = r.sample WHERE r.run = (SELECT rk FROM runs WHERE id = ?) ORDER BY r.sample').raw().all(a.progress.run!) as [string, number, Buffer][];
      assert.equal(all.length, n);
      const cl = confidentLearning(all.map((x) => decodeProbs(x[2])), all.map((x) => x[1]));
      const expected = new Set(all.filter((_, i) => cl.isIssue[i]).map((x) => x[0]));
      for (const r of rows) assert.equal(r.clFlag !== null, expected.has(r.id), r.id);
    } finally {
      store.close();
    }

    // "Resume": the same folder again reads every fold back
    const again = follow(runCli(work, args).lines);
    assert.deepEqual(again.events.filter((e) => e.type === 'fold-done').map((e) => (e.type === 'fold-done' ? e.resumed : false)), [true, true, true]);
    assert.ok(again.messages.some((m) => m === 'fold 2/3 read back from an earlier run'), again.messages.join('\n'));
    assert.equal(again.progress.summary?.records, n);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
