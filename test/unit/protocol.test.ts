import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyToAction, MAX_SELECTION, MAX_THUMB_IDS, parseWebviewMessage } from '../../src/webviews/protocol.js';

const filter = { trueClass: null, predClass: 2, split: 'test', relabeled: null, disagree: false, cell: null, ids: null };

test('parseWebviewMessage accepts well-formed messages', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'ready', view: 'diagnostics' }), { type: 'ready', view: 'diagnostics' });
  const q = { runDir: '/r', filter, sort: 'issue', offset: 120, limit: 120 };
  assert.deepEqual(parseWebviewMessage({ type: 'requestPage', query: q }), { type: 'requestPage', query: q });
  assert.deepEqual(parseWebviewMessage({ type: 'setLabel', runDir: '/r', id: 'a', label: 3 }), { type: 'setLabel', runDir: '/r', id: 'a', label: 3 });
  assert.deepEqual(parseWebviewMessage({ type: 'undo', runDir: '/r' }), { type: 'undo', runDir: '/r' });
  assert.deepEqual(parseWebviewMessage({ type: 'redo', runDir: '/r' }), { type: 'redo', runDir: '/r' });
  assert.deepEqual(parseWebviewMessage({ type: 'retrain', runDir: '/r', mode: 'head' }), { type: 'retrain', runDir: '/r', mode: 'head' });
  assert.deepEqual(parseWebviewMessage({ type: 'requestConfusion', runDir: '/r', basis: 'effective' }), { type: 'requestConfusion', runDir: '/r', basis: 'effective' });
  const cell = { runDir: '/r', filter: { ...filter, trueClass: 1, predClass: 1, cell: 'run' }, sort: 'gap', offset: 0, limit: 10 };
  assert.deepEqual(parseWebviewMessage({ type: 'requestPage', query: cell }), { type: 'requestPage', query: cell });
});

test('parseWebviewMessage rejects malformed or out-of-range messages', () => {
  assert.equal(parseWebviewMessage(null), undefined);
  assert.equal(parseWebviewMessage({ type: 'nope' }), undefined);
  assert.equal(parseWebviewMessage({ type: 'setLabel', runDir: '/r', id: 'a', label: 8 }, 7), undefined);
  assert.equal(parseWebviewMessage({ type: 'setLabel', runDir: '/r', id: 'a', label: 1.5 }), undefined);
  assert.equal(parseWebviewMessage({ type: 'requestPage', query: { runDir: '/r', filter, sort: 'bogus', offset: 0, limit: 1 } }), undefined);
  assert.deepEqual(parseWebviewMessage({ type: 'requestPage', query: { runDir: '/r', filter, sort: 'margin', offset: 0, limit: 1 } }), { type: 'requestPage', query: { runDir: '/r', filter, sort: 'margin', offset: 0, limit: 1 } });
  assert.deepEqual(parseWebviewMessage({ type: 'requestPage', query: { runDir: '/r', filter, sort: 'cl', offset: 0, limit: 1 } }), { type: 'requestPage', query: { runDir: '/r', filter, sort: 'cl', offset: 0, limit: 1 } });
  assert.equal(parseWebviewMessage({ type: 'requestPage', query: { runDir: '/r', filter, sort: 'CL', offset: 0, limit: 1 } }), undefined);
  assert.equal(parseWebviewMessage({ type: 'requestPage', query: { runDir: '/r', filter, sort: 'gap', offset: -1, limit: 1 } }), undefined);
  assert.equal(parseWebviewMessage({ type: 'requestPage', query: { runDir: '/r', filter: { ...filter, trueClass: 99 }, sort: 'gap', offset: 0, limit: 1 } }), undefined);
  assert.equal(parseWebviewMessage({ type: 'ready', view: 'other' }), undefined);
  assert.equal(parseWebviewMessage({ type: 'retrain', runDir: '/r' }), undefined, 'retrain names its mode');
  assert.equal(parseWebviewMessage({ type: 'requestConfusion', runDir: '/r', basis: 'other' }), undefined);
  // a cell drill-down needs both classes
  assert.equal(parseWebviewMessage({ type: 'requestPage', query: { runDir: '/r', filter: { ...filter, cell: 'run' }, sort: 'gap', offset: 0, limit: 1 } }), undefined);
});

test('requestThumbs: a list of sample ids, bounded', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'requestThumbs', runDir: '/r', ids: ['train/1', 'val/2'], urgent: 1 }), { type: 'requestThumbs', runDir: '/r', ids: ['train/1', 'val/2'], urgent: 1 });
  assert.equal((parseWebviewMessage({ type: 'requestThumbs', runDir: '/r', ids: ['a'], urgent: 9 }) as { urgent: number }).urgent, 1, 'urgent clamped to the ids');
  assert.equal(parseWebviewMessage({ type: 'requestThumbs', runDir: '/r', ids: ['a', 3] }), undefined);
  assert.equal(parseWebviewMessage({ type: 'requestThumbs', runDir: '/r', ids: 'a' }), undefined);
  assert.equal(parseWebviewMessage({ type: 'requestThumbs', ids: ['a'] }), undefined);
  assert.equal(parseWebviewMessage({ type: 'requestThumbs', runDir: '/r', ids: Array.from({ length: MAX_THUMB_IDS + 1 }, (_, i) => `s${i}`) }), undefined);
});

test('keyToAction maps digits to classes and U/X/? to actions', () => {
  assert.deepEqual(keyToAction('1', 7), { kind: 'label', label: 0 });
  assert.deepEqual(keyToAction('7', 7), { kind: 'label', label: 6 });
  assert.equal(keyToAction('8', 7), undefined);
  assert.deepEqual(keyToAction('8', 8), { kind: 'label', label: 7 });
  assert.deepEqual(keyToAction('u', 7), { kind: 'undo' });
  assert.deepEqual(keyToAction('R', 7), { kind: 'redo' });
  assert.deepEqual(keyToAction('X', 7), { kind: 'exclude' });
  assert.deepEqual(keyToAction('?', 7), { kind: 'unsure' });
  assert.deepEqual(keyToAction('a', 7), { kind: 'accept' });
  assert.deepEqual(keyToAction('A', 7), { kind: 'accept' });
  assert.equal(keyToAction('q', 7), undefined);
});

test('requestPage: the annotators-disagree filter and a scatter selection (ids), bounded, never with a cell', () => {
  const sel = { ...filter, disagree: true, ids: ['FER2013Valid/a.png', 'FER2013Valid/b.png'] };
  const q = { runDir: '/r', filter: sel, sort: 'votes', offset: 0, limit: 120 };
  assert.deepEqual(parseWebviewMessage({ type: 'requestPage', query: q }), { type: 'requestPage', query: q });
  for (const sort of ['gapz', 'entropy', 'votes']) assert.ok(parseWebviewMessage({ type: 'requestPage', query: { ...q, sort } }), sort);
  const bad = (f: Record<string, unknown>) => parseWebviewMessage({ type: 'requestPage', query: { ...q, filter: { ...sel, ...f } } });
  assert.equal(bad({ disagree: null }), undefined, 'disagree is a boolean');
  assert.equal(bad({ ids: 'a' }), undefined);
  assert.equal(bad({ ids: ['a', 2] }), undefined);
  assert.equal(bad({ ids: Array.from({ length: MAX_SELECTION + 1 }, (_, i) => `s${i}`) }), undefined, 'a selection is bounded');
  assert.equal(bad({ trueClass: 1, predClass: 2, cell: 'run' }), undefined, 'a selection never comes with a cell drill-down');
  assert.ok(bad({ ids: null, trueClass: 1, predClass: 2, cell: 'run' }));
  // the parsed filter keeps the webview's key order: the page it echoes compares equal as JSON
  const parsed = parseWebviewMessage({ type: 'requestPage', query: { ...q, filter: { ids: null, cell: null, disagree: false, relabeled: null, split: null, predClass: null, trueClass: null } } });
  assert.deepEqual(Object.keys((parsed as { query: { filter: object } }).query.filter), ['trueClass', 'predClass', 'split', 'relabeled', 'disagree', 'cell', 'ids']);
});

test('requestScatter names its projection: PCA (default) or UMAP', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'requestScatter', runDir: '/r' }), { type: 'requestScatter', runDir: '/r' });
  assert.deepEqual(parseWebviewMessage({ type: 'requestScatter', runDir: '/r', method: 'umap' }), { type: 'requestScatter', runDir: '/r', method: 'umap' });
  assert.equal(parseWebviewMessage({ type: 'requestScatter', runDir: '/r', method: 'tsne' }), undefined);
});
