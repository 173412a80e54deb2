// "Find Label Issues (Cross-Validation)" without vscode: the CLI arguments per mode (checked against the
// CLI's own option table), K from the input box, the event-line parser and the progress it drives, and
// the kefer.suspiciousLabels.ranker setting. (test/engine/issues-crossval-command.test.ts runs the real CLI.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import { CROSS_VAL_OPTIONS } from '../../src/engine/cli/issuesCrossVal.js';
import type { CrossValCliEvent } from '../../src/engine/events.js';
import { CrossValProgress, crossValArgs, parseCrossValLine, parseK, type CrossValRequest } from '../../src/extension/crossValidation.js';
import { DEFAULT_SETTINGS, readRanker } from '../../src/extension/settings.js';

const base: CrossValRequest = { data: 'ferplus:/d/ferplus#train', outDir: '/w/.kefer/runs/x-cv5', k: 5, mode: { kind: 'hog' }, storePath: '/w/.kefer/kefer.db', settings: DEFAULT_SETTINGS };

/** The flags as the CLI parses them (strict: an unknown flag throws). */
function cliParse(args: string[]): Record<string, unknown> {
  assert.equal(args[0], 'issues');
  return parseArgs({ args: args.slice(1), options: { ...CROSS_VAL_OPTIONS }, strict: true, allowPositionals: false }).values;
}

test('crossValArgs: fast HOG mode, store and JSON events; the CLI accepts every flag', () => {
  const a = crossValArgs(base);
  const f = cliParse(a);
  assert.equal(f['cross-val'], '5');
  assert.equal(f.data, base.data);
  assert.equal(f.out, base.outDir);
  assert.equal(f.features, 'hog');
  assert.equal(f.store, base.storePath);
  assert.equal(f.events, 'json');
  assert.equal(f.text, undefined, "'auto' text leaves the CLI's offline default");
  assert.equal(f.checkpoint, undefined);
  assert.equal(f.backbone, undefined);
});

test('crossValArgs: checkpoint mode uses the checkpoint’s own text; backbone mode carries the training settings', () => {
  const settings = { ...DEFAULT_SETTINGS, textEncoder: 'clip', seed: 7, batchSize: 32, learningRate: 0.01, trainRuntime: 'onednn' as const, backend: 'wasm' as const };
  const c = cliParse(crossValArgs({ ...base, k: 3, settings, mode: { kind: 'checkpoint', checkpoint: '/w/.kefer/runs/r1/checkpoints/best' } }));
  assert.equal(c.checkpoint, '/w/.kefer/runs/r1/checkpoints/best');
  assert.equal(c.text, undefined);
  assert.equal(c.seed, '7');
  assert.equal(c.features, undefined);
  const b = cliParse(crossValArgs({ ...base, settings, epochs: 4, mode: { kind: 'backbone', backbone: 'compact' } }));
  assert.deepEqual([b.backbone, b.batch, b.lr, b.runtime, b.backend, b.text, b.epochs], ['compact', '32', '0.01', 'onednn', 'wasm', 'clip', '4']);
  assert.throws(() => crossValArgs({ ...base, k: 1 }), /K >= 2/);
});

test('parseK: empty is the default 5; whole numbers 2..20; anything else is a message', () => {
  assert.deepEqual(parseK(''), { k: 5 });
  assert.deepEqual(parseK(' 10 '), { k: 10 });
  assert.deepEqual(parseK('2'), { k: 2 });
  for (const bad of ['1', '21', '3.5', '-4', 'five', '0x10']) assert.ok('error' in parseK(bad), bad);
});

test('parseCrossValLine: the CLI’s event lines; anything else (text, other events, missing fields) is not an event', () => {
  const start = { type: 'start', k: 5, samples: 28709, mode: 'hog', epochs: 10 };
  assert.deepEqual(parseCrossValLine(JSON.stringify(start)), start);
  assert.deepEqual(parseCrossValLine(`  ${JSON.stringify({ type: 'fold-done', fold: 2, k: 5, seconds: 3.5, resumed: false, elapsed: 9 })}\r`)?.type, 'fold-done');
  assert.equal(parseCrossValLine('fold 1/5: done in 3.1 s'), undefined);
  assert.equal(parseCrossValLine('{"type":"fold-start","fold":1'), undefined, 'a cut line');
  assert.equal(parseCrossValLine(JSON.stringify({ type: 'step', step: 1, totalSteps: 2 })), undefined, 'a training event is not a cross-validation event');
  assert.equal(parseCrossValLine(JSON.stringify({ type: 'fold-start', fold: '1', k: 5 })), undefined, 'a fold that is not a number');
  assert.equal(parseCrossValLine(JSON.stringify({ type: 'registered', records: 3 })), undefined, 'no run id');
  assert.equal(parseCrossValLine('[1,2]'), undefined);
});

test('CrossValProgress: fold i/K, epochs inside a fold (backbone mode), resumed folds, never backwards, summary and run id', () => {
  const p = new CrossValProgress();
  const seen: number[] = [];
  const step = (e: CrossValCliEvent) => {
    const u = p.update(e);
    if (u) seen.push(u.fraction);
    return u;
  };
  assert.match(step({ type: 'start', k: 4, samples: 400, mode: 'backbone', epochs: 2 })!.message, /400 samples in 4 folds \(whole model per fold\)/);
  assert.equal(step({ type: 'log', message: 'overlay' }), undefined);
  assert.equal(step({ type: 'fold-done', fold: 1, k: 4, seconds: 0, resumed: true, elapsed: 0 })!.fraction, 0.25);
  assert.match(step({ type: 'fold-start', fold: 2, k: 4, train: 300, heldOut: 100 })!.message, /^fold 2\/4: training on 300, holding out 100$/);
  const e1 = step({ type: 'fold-epoch', fold: 2, epoch: 1, trainLoss: 1.234 })!;
  assert.equal(e1.fraction, (1 + 0.5) / 4);
  assert.equal(e1.message, 'fold 2/4 epoch 1/2: loss 1.234');
  assert.equal(step({ type: 'fold-done', fold: 2, k: 4, seconds: 61, resumed: false, elapsed: 61 })!.message, 'fold 2/4 done in 61 s');
  // a late or repeated event never moves the bar back
  assert.equal(step({ type: 'fold-start', fold: 1, k: 4, train: 300, heldOut: 100 })!.fraction, 0.5);
  step({ type: 'fold-done', fold: 3, k: 4, seconds: 60, resumed: false, elapsed: 121 });
  step({ type: 'fold-done', fold: 4, k: 4, seconds: 60, resumed: false, elapsed: 181 });
  assert.equal(seen.at(-1), 1);
  assert.match(step({ type: 'done', records: 400, accuracy: 0.41, estimatedIssues: 57, recordsFile: '/r/records.jsonl' })!.message, /400 out-of-fold records, accuracy 41\.0%, confident learning estimates 57 issues/);
  step({ type: 'registered', run: 'x-cv4', records: 400 });
  assert.deepEqual(p.summary, { records: 400, accuracy: 0.41, estimatedIssues: 57 });
  assert.equal(p.run, 'x-cv4');
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `progress went back at ${i}: ${seen.join(', ')}`);
});

test('readRanker: the configured sort key, else the issue score', () => {
  assert.equal(readRanker(((k: string) => (k === 'suspiciousLabels.ranker' ? 'cl' : undefined)) as never), 'cl');
  assert.equal(readRanker(((k: string) => (k === 'suspiciousLabels.ranker' ? 'gap' : undefined)) as never), 'gap');
  assert.equal(readRanker(((k: string) => (k === 'suspiciousLabels.ranker' ? 'selfConfidence' : undefined)) as never), 'issue');
  for (const stateful of ['calibrated', 'spotcheck']) assert.equal(readRanker(((k: string) => (k === 'suspiciousLabels.ranker' ? stateful : undefined)) as never), 'issue', stateful);
  assert.equal(readRanker((() => undefined) as never), 'issue');
});
