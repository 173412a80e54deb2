// "KE-FER: Find Duplicates" without vscode: the CLI arguments (checked against `kefer data dups`'s own
// option table), the event-line parser and the progress it drives; then the real CLI in the engine
// child process (EngineProcess, bin/kefer.js, as the command starts it) on the sample dataset with
// planted copies: the events arrive phase by phase, the progress only grows and ends at 1, the `done`
// counts are the stored scan's, each member keeps its similarity; a cancelled scan stores nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DUPS_OPTIONS } from '../../src/engine/cli/dups.js';
import type { DupsCliEvent } from '../../src/engine/events.js';
import { dupClusterPage, findDataset, latestDupScan, openStore } from '../../src/engine/store/index.js';
import { DupsProgress, dupsArgs, dupsSummary, parseDupsLine, readThreshold } from '../../src/extension/duplicates.js';
import { EngineProcess } from '../../src/extension/engine/engineProcess.js';
import { tempDir } from '../engine/store-helpers.js';
import { NEAR_THRESHOLD, plantedSample, type PlantedSample } from './dups-helpers.js';

const BIN = path.resolve(__dirname, '../../bin/kefer.js');
let dir: string;
let sample: PlantedSample;

before(async () => {
  dir = tempDir('kefer-dups-cmd-');
  sample = await plantedSample(dir);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The flags as the CLI parses them (strict: an unknown flag throws). */
function cliParse(args: string[]): { spec: string; flags: Record<string, unknown> } {
  assert.deepEqual(args.slice(0, 2), ['data', 'dups']);
  const r = parseArgs({ args: args.slice(2), options: DUPS_OPTIONS, strict: true, allowPositionals: true });
  assert.equal(r.positionals.length, 1);
  return { spec: r.positionals[0], flags: { ...r.values } };
}

test('dupsArgs: the spec, the workspace store and JSON events; a run adds the semantic tier; thresholds only when set', () => {
  const a = cliParse(dupsArgs({ spec: 'ferplus:/d/ferplus', storePath: '/w/.kefer/kefer.db' }));
  assert.equal(a.spec, 'ferplus:/d/ferplus');
  assert.deepEqual(a.flags, { store: '/w/.kefer/kefer.db', events: 'json' });
  const b = cliParse(dupsArgs({ spec: 'folder:/d', storePath: '/s.db', run: '/w/runs/r1', nearThreshold: 0.9, semanticThreshold: 0.97 }));
  assert.deepEqual(b.flags, { store: '/s.db', events: 'json', run: '/w/runs/r1', 'near-threshold': '0.9', 'semantic-threshold': '0.97' });
  const c = cliParse(dupsArgs({ spec: 'folder:/d', storePath: '/s.db', nearThreshold: null, semanticThreshold: 0.97 }));
  assert.equal(c.flags['semantic-threshold'], undefined, 'no semantic threshold without a run');
  assert.equal(readThreshold(0.97), 0.97);
  for (const bad of [null, '0.9', 2, -1.5, Number.NaN]) assert.equal(readThreshold(bad), null, String(bad));
});

test('parseDupsLine: events with the fields progress reads; anything else is text', () => {
  assert.deepEqual(parseDupsLine('{"type":"progress","phase":"near","done":3,"total":10}'), { type: 'progress', phase: 'near', done: 3, total: 10 });
  for (const bad of ['near 0/392', '{"type":"progress","phase":"warp","done":1,"total":2}', '{"type":"progress","phase":"near","done":"1","total":2}',
    '{"type":"done","images":3}', '{"type":"start","images":3}', '{"type":"step"}', '{oops', '[]', 'null']) {
    assert.equal(parseDupsLine(bad), undefined, bad);
  }
});

test('DupsProgress: phases weighted by the tiers asked for, never backwards, 1 at done', () => {
  const p = new DupsProgress();
  const seen: number[] = [];
  const push = (e: DupsCliEvent) => {
    const u = p.update(e);
    if (u) seen.push(u.fraction);
    return u;
  };
  push({ type: 'start', spec: 's', images: 100, tiers: ['exact', 'near'] });
  push({ type: 'progress', phase: 'fingerprints', done: 0, total: 100 });
  const mid = push({ type: 'progress', phase: 'near', done: 100, total: 200 })!;
  assert.match(mid.message, /near search 50%/);
  // a late fingerprint line (the finder reports every 1024 images) never moves the bar back
  push({ type: 'progress', phase: 'fingerprints', done: 50, total: 100 });
  push({ type: 'progress', phase: 'store', done: 0, total: 0 });
  const tier = { tier: 'near' as const, threshold: 0.84, clusters: 2, images: 5, leaks: { 'train-test': { clusters: 1, images: 2 }, 'train-val': { clusters: 0, images: 0 }, 'val-test': { clusters: 0, images: 0 } }, leakedCopies: 2, conflicts: 1, seconds: 1 };
  push({ type: 'done', images: 100, seconds: 2, scan: 1, store: '/s.db', datasetRoot: '/d', tiers: [tier] });
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `progress went back: ${seen.join(' ')}`);
  assert.ok(seen[2] > 0.3 && seen[2] < 0.9, `half the near search is in the middle: ${seen[2]}`);
  assert.equal(seen.at(-1), 1);
  assert.equal(dupsSummary(p.done!), 'near: 2 clusters (5 images), leaks train-test 1: 2 leaked copies; 1 with conflicting labels');
});

function launch(args: string[]): { proc: EngineProcess<DupsCliEvent>; events: DupsCliEvent[]; text: string[] } {
  const events: DupsCliEvent[] = [];
  const text: string[] = [];
  const proc = new EngineProcess<DupsCliEvent>(
    { nodePath: process.execPath, cliPath: BIN, args, cwd: dir, env: { KEFER_FROM_SOURCE: '1' } },
    (e) => events.push(e), (l) => text.push(l), parseDupsLine,
  );
  return { proc, events, text };
}

test('the real CLI in the engine child process: phases in order, tier counts, the scan stored with each member\'s similarity', { timeout: 180_000 }, async () => {
  const storePath = path.join(dir, 'k.db');
  const { proc, events, text } = launch(dupsArgs({ spec: sample.spec, storePath, nearThreshold: NEAR_THRESHOLD }));
  const r = await proc.result;
  assert.equal(r.code, 0, text.join('\n'));
  const kinds = events.map((e) => (e.type === 'progress' ? `progress:${e.phase}` : e.type));
  assert.deepEqual([...new Set(kinds)], ['start', 'progress:fingerprints', 'progress:near', 'tier', 'progress:store', 'done']);
  const progress = new DupsProgress();
  const fractions = events.map((e) => progress.update(e)!.fraction);
  for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i] >= fractions[i - 1]);
  assert.equal(fractions.at(-1), 1);
  const done = r.done!;
  assert.equal(done.datasetRoot, sample.root);
  const [exact, near] = done.tiers;
  assert.deepEqual([exact.tier, exact.clusters, exact.leakedCopies, exact.leaks['train-test'].clusters], ['exact', 1, 1, 1], 'the byte copy in test');
  assert.deepEqual([near.tier, near.threshold, near.clusters, near.images, near.leakedCopies], ['near', NEAR_THRESHOLD, 1, 4, 3], 'original + exact, resized and mirrored copies');
  const store = openStore(storePath);
  try {
    const d = findDataset(store, 'synthetic', sample.root)!;
    const scan = latestDupScan(store, d.id)!;
    assert.equal(scan.id, done.scan);
    const [c] = dupClusterPage(store, { scan: scan.id, tier: 'near' }).rows;
    assert.deepEqual(c.members.map((m) => m.id).sort(), [sample.original, sample.exact[0].id, sample.flipped, sample.resized].sort());
    const score = new Map(c.members.map((m) => [m.id, m.score]));
    assert.equal(score.get(sample.exact[0].id), 1, 'the byte copy is identical');
    for (const id of [sample.resized, sample.flipped]) assert.ok(score.get(id)! >= NEAR_THRESHOLD && score.get(id)! <= 1, `${id}: ${score.get(id)}`);
    assert.equal(dupClusterPage(store, { scan: scan.id, tier: 'exact' }).rows[0].members.every((m) => m.score === 1), true);
  } finally {
    store.close();
  }
});

test('a cancelled scan (SIGTERM at its first event) stores nothing', { timeout: 120_000 }, async () => {
  const storePath = path.join(dir, 'cancelled.db');
  const { proc, events } = launch(dupsArgs({ spec: sample.spec, storePath }));
  const end = Date.now() + 60_000;
  while (!events.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(events.length, 'the scan started');
  proc.cancel(2000);
  const r = await proc.result;
  assert.equal(r.done, undefined);
  assert.notEqual(r.code, 0);
  if (fs.existsSync(storePath)) {
    const store = openStore(storePath);
    try {
      const d = findDataset(store, 'synthetic', sample.root);
      assert.equal(d && latestDupScan(store, d.id), undefined, 'no scan stored');
    } finally {
      store.close();
    }
  }
});
