// The diagnostics panes' logic without a browser: the scatter's frame, lasso and click geometry, the
// per-cell score text of each order, a separator's width bounds, the header's weak-model rule on a real
// store, UMAP of a run's embedding sample (umap-js, seeded), and the absolute spec a CLI run's dataset gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classList } from '../../src/engine/classes.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { EmbeddingSampler } from '../../src/engine/eval/embeddingSample.js';
import { importRecords, openStore, registerRun, upsertDataset } from '../../src/engine/store/index.js';
import { runOverview } from '../../src/extension/curation/overview.js';
import { umapOfRun } from '../../src/extension/curation/umap.js';
import { absoluteSpec } from '../../src/extension/datasets.js';
import { SORT_KEYS } from '../../src/webviews/protocol.js';
import { frameOf, insidePolygon, nearestPoint, toScreen } from '../../src/webviews/diagnostics/scatterGeometry.js';
import { scoreText, signed } from '../../src/webviews/diagnostics/signals.js';
import { paneWidth } from '../../src/webviews/diagnostics/splitter.js';
import { fakeRecords, prng, tempDirsRemovedAfter } from '../engine/store-helpers.js';

const dir = tempDirsRemovedAfter('kefer-panes-');

test('scatter frame: a few far points do not squeeze the rest (0.5-99.5% range), they sit on the edge', () => {
  const pts = Array.from({ length: 1000 }, (_, i) => ({ x: (i % 100) / 100, y: Math.floor(i / 100) / 10 }));
  pts.push({ x: 1000, y: -1000 }); // one outlier
  const f = frameOf(pts, 400, 300, 10);
  assert.ok(f.x1 < 2 && f.y0 > -1, `frame ${JSON.stringify(f)}`);
  const [x, y] = toScreen({ x: 1000, y: -1000 }, f);
  assert.deepEqual([x, y], [390, 290], 'the outlier is clamped to the corner');
  // the bulk spans the plot
  const xs = pts.slice(0, 1000).map((p) => toScreen(p, f)[0]);
  assert.ok(Math.max(...xs) - Math.min(...xs) > 350);
});

test('lasso: even-odd inside test; click: the nearest point within the radius', () => {
  const square: [number, number][] = [[0, 0], [10, 0], [10, 10], [0, 10]];
  assert.equal(insidePolygon([5, 5], square), true);
  assert.equal(insidePolygon([15, 5], square), false);
  const u: [number, number][] = [[0, 0], [30, 0], [30, 30], [20, 30], [20, 10], [10, 10], [10, 30], [0, 30]];
  assert.equal(insidePolygon([15, 20], u), false, 'the notch of a U is outside');
  assert.equal(insidePolygon([5, 20], u), true);
  const pts = [{ x: 0, y: 0 }, { x: 1, y: 1 }];
  const f = frameOf(pts, 100, 100, 0);
  assert.equal(nearestPoint(pts, f, [98, 3], 10), 1);
  assert.equal(nearestPoint(pts, f, [50, 50], 10), -1);
});

test('each order\'s score as a cell shows it', () => {
  const row = { score: 0.8312, votes: [0, 0, 0, 3, 0, 7, 0, 0, 0, 0], pred: 3 };
  assert.equal(scoreText('issue', row), '0.83');
  assert.equal(scoreText('confidence', { ...row, score: 0.123 }), 'p 12%');
  assert.equal(scoreText('margin', { ...row, score: -0.5 }), 'm −0.50');
  assert.equal(scoreText('gapz', { ...row, score: -3.14 }), 'z −3.1');
  assert.equal(scoreText('gapz', { ...row, score: null }), 'z n/a');
  assert.equal(scoreText('votes', row), '3/10');
  assert.equal(scoreText('entropy', { ...row, score: 0.881 }), 'H 0.88');
  assert.equal(scoreText('spotcheck', row), '');
  for (const k of SORT_KEYS) assert.equal(typeof scoreText(k, row), 'string');
  assert.equal(signed(0.0001, 2), '0.00');
});

test('a separator keeps its pane within bounds', () => {
  assert.equal(paneWidth(340, 40, 240, 600), 300, 'moving the separator right shrinks the pane right of it');
  assert.equal(paneWidth(340, -400, 240, 600), 600);
  assert.equal(paneWidth(340, 400, 240, 600), 240);
});

test('a CLI run\'s relative dataset spec gets the store\'s absolute root', () => {
  assert.equal(absoluteSpec('ferplus:ferplus-small#train', '/ws/ferplus-small'), 'ferplus:/ws/ferplus-small#train');
  assert.equal(absoluteSpec('folder:/data/raf?classes=7', '/other'), 'folder:/data/raf?classes=7');
});

function crossValRun(skill: number): ReturnType<typeof runOverview> {
  const store = openStore(path.join(dir(), 'kefer.db'));
  const rand = prng(3);
  // 60% neutral: a model at 65% is barely above always answering neutral
  const samples = Array.from({ length: 300 }, (_, i) => ({ id: `s${i}`, path: `s${i}.png`, label: rand() < 0.6 ? 6 : Math.floor(rand() * 6), split: 'train' }));
  const ds: Dataset = { format: 'folder', root: '/d', classes: classList(7), samples };
  const row = upsertDataset(store, ds);
  registerRun(store, { id: 'cv', dataset: row.id, metrics: { crossVal: { k: 5, mode: 'hog' } } });
  importRecords(store, 'cv', fakeRecords(ds, 9, skill));
  const o = runOverview(store, 'cv', '/runs/cv');
  store.close();
  return o;
}

test('the header\'s weak-model rule: out-of-fold accuracy within 10 points of the majority baseline, or mean class recall below 2/K', () => {
  const weak = crossValRun(0.3);
  assert.ok(weak.accuracy < weak.majority.share + 0.1, `${weak.accuracy} vs ${weak.majority.share}`);
  assert.match(weak.weak ?? '', /too weak for its flags to mean much: its out-of-fold accuracy .* less than 10 points above always answering neutral/);
  assert.deepEqual(weak.crossVal, { k: 5, mode: 'hog' });
  const strong = crossValRun(4);
  assert.ok(strong.accuracy > strong.majority.share + 0.1 && strong.uar > 2 / 7, `${strong.accuracy} ${strong.uar}`);
  assert.equal(strong.weak, null);
});

test('UMAP of a run\'s embedding sample separates clusters the embeddings have, the same picture every time', async () => {
  const runDir = dir();
  const rand = prng(11);
  const d = 32;
  const ids: string[] = [];
  const data = new Float32Array(150 * d);
  for (let i = 0; i < 150; i++) {
    ids.push(`s${i}`);
    const c = i % 3;
    for (let j = 0; j < d; j++) data[i * d + j] = (j % 3 === c ? 1 : 0) + (rand() - 0.5) * 0.3;
  }
  const sampler = new EmbeddingSampler(d, 100, 1);
  sampler.add(ids, data);
  assert.equal(await sampler.write(runDir), 100, 'a seeded sample of at most 100');
  const kept = JSON.parse(fs.readFileSync(path.join(runDir, 'embeddings.ids.json'), 'utf8')) as string[];
  assert.equal(new Set(kept).size, 100);
  const a = umapOfRun(runDir, { nEpochs: 100 });
  const b = umapOfRun(runDir, { nEpochs: 100 });
  assert.deepEqual(a.xy, b.xy, 'seeded');
  const cluster = (id: string) => Number(id.slice(1)) % 3;
  let within = 0;
  let across = 0;
  let nw = 0;
  let na = 0;
  for (let i = 0; i < a.ids.length; i++) {
    for (let j = i + 1; j < a.ids.length; j++) {
      const dd = Math.hypot(a.xy[i][0] - a.xy[j][0], a.xy[i][1] - a.xy[j][1]);
      if (cluster(a.ids[i]) === cluster(a.ids[j])) {
        within += dd;
        nw++;
      } else {
        across += dd;
        na++;
      }
    }
  }
  assert.ok(within / nw < 0.5 * (across / na), `mean distance within ${within / nw}, across ${across / na}`);
});
