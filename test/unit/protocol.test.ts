import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DUP_PAGE_SIZE, keyToAction, MAX_DUP_PAGE, MAX_SELECTION, MAX_THUMB_IDS, parseWebviewMessage } from '../../src/webviews/protocol.js';
import { dupKeyAction, moveIndex } from '../../src/webviews/diagnostics/dupKeys.js';

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

test('the duplicates view\'s messages: well-formed ones pass with their fields, in the webview\'s key order', () => {
  const query = { dataset: '/w/kefer-sample', filter: { tier: 'near', leak: 'train-test', conflicting: false }, after: { size: 4, cid: 17 }, limit: DUP_PAGE_SIZE };
  const parsed = parseWebviewMessage({ type: 'requestDups', query: { limit: DUP_PAGE_SIZE, after: { cid: 17, size: 4 }, filter: { conflicting: false, leak: 'train-test', tier: 'near' }, dataset: '/w/kefer-sample' } });
  assert.deepEqual(parsed, { type: 'requestDups', query });
  // an echoed page's query compares equal as JSON with the one the webview sent
  assert.equal(JSON.stringify((parsed as { query: unknown }).query), JSON.stringify(query));
  for (const leak of [null, 'any', 'train-val', 'val-test']) assert.ok(parseWebviewMessage({ type: 'requestDups', query: { ...query, filter: { ...query.filter, leak }, after: null } }), String(leak));
  for (const tier of ['exact', 'semantic']) assert.ok(parseWebviewMessage({ type: 'requestDups', query: { ...query, filter: { ...query.filter, tier } } }), tier);
  assert.deepEqual(parseWebviewMessage({ type: 'requestDupThumbs', dataset: '/w/d', ids: ['test/a.png', 'train/b.png'], urgent: 9 }), { type: 'requestDupThumbs', dataset: '/w/d', ids: ['test/a.png', 'train/b.png'], urgent: 2 });
  assert.deepEqual(parseWebviewMessage({ type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 3, fix: { kind: 'excludeLeaks' } }), { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 3, fix: { kind: 'excludeLeaks' } });
  assert.deepEqual(parseWebviewMessage({ type: 'dupFix', dataset: '/w/d', tier: 'exact', cid: 1, fix: { kind: 'keepOne', keep: 'train/a.png', extra: 1 } }), { type: 'dupFix', dataset: '/w/d', tier: 'exact', cid: 1, fix: { kind: 'keepOne', keep: 'train/a.png' } });
  assert.deepEqual(parseWebviewMessage({ type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 2, fix: { kind: 'keepOne' } }), { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 2, fix: { kind: 'keepOne' } });
  assert.deepEqual(parseWebviewMessage({ type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 2, fix: { kind: 'relabel', label: 6 } }, 7), { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 2, fix: { kind: 'relabel', label: 6 } });
  for (const type of ['dupUndo', 'dupRedo', 'findDuplicates']) assert.deepEqual(parseWebviewMessage({ type, dataset: '/w/d' }), { type, dataset: '/w/d' });
});

test('the duplicates view\'s messages: malformed or out of range are refused', () => {
  const query = { dataset: '/w/d', filter: { tier: 'near', leak: null, conflicting: false }, after: null, limit: 25 };
  const bad: [string, unknown][] = [
    ['unknown tier', { type: 'requestDups', query: { ...query, filter: { ...query.filter, tier: 'fuzzy' } } }],
    ['unknown leak kind', { type: 'requestDups', query: { ...query, filter: { ...query.filter, leak: 'test-train' } } }],
    ['conflicting not a boolean', { type: 'requestDups', query: { ...query, filter: { ...query.filter, conflicting: 'yes' } } }],
    ['a page too large', { type: 'requestDups', query: { ...query, limit: MAX_DUP_PAGE + 1 } }],
    ['an empty page', { type: 'requestDups', query: { ...query, limit: 0 } }],
    ['a cursor without its cluster', { type: 'requestDups', query: { ...query, after: { size: 3 } } }],
    ['a fractional cursor', { type: 'requestDups', query: { ...query, after: { size: 3, cid: 1.5 } } }],
    ['no dataset', { type: 'requestDups', query: { ...query, dataset: '' } }],
    ['a NUL in the dataset', { type: 'dupUndo', dataset: '/w/d\0/x' }],
    ['a dataset that is not a string', { type: 'dupRedo', dataset: 7 }],
    ['thumbnail ids not strings', { type: 'requestDupThumbs', dataset: '/w/d', ids: ['a', 2], urgent: 1 }],
    ['too many thumbnails', { type: 'requestDupThumbs', dataset: '/w/d', ids: Array.from({ length: MAX_THUMB_IDS + 1 }, (_, i) => `s${i}`), urgent: 0 }],
    ['a label out of range', { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 1, fix: { kind: 'relabel', label: 7 } }],
    ['a fractional label', { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 1, fix: { kind: 'relabel', label: 1.5 } }],
    ['an unknown fix', { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 1, fix: { kind: 'deleteFiles' } }],
    ['a cluster id below 1', { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 0, fix: { kind: 'excludeLeaks' } }],
    ['a keep that is not a string', { type: 'dupFix', dataset: '/w/d', tier: 'near', cid: 1, fix: { kind: 'keepOne', keep: 3 } }],
  ];
  for (const [why, m] of bad) assert.equal(parseWebviewMessage(m, 7), undefined, why);
});

test('dupKeyAction: K keep one, X exclude the leaked copies, digits relabel the cluster, U / R, arrows and pages; modified keys left alone', () => {
  assert.deepEqual(dupKeyAction('k', 7), { kind: 'keepOne' });
  assert.deepEqual(dupKeyAction('K', 7), { kind: 'keepOne' });
  assert.deepEqual(dupKeyAction('x', 7), { kind: 'excludeLeaks' });
  assert.deepEqual(dupKeyAction('3', 7), { kind: 'relabel', label: 2 });
  assert.equal(dupKeyAction('8', 7), undefined);
  assert.deepEqual(dupKeyAction('u', 7), { kind: 'undo' });
  assert.deepEqual(dupKeyAction('R', 7), { kind: 'redo' });
  assert.deepEqual(dupKeyAction('ArrowDown', 7), { kind: 'cluster', delta: 1 });
  assert.deepEqual(dupKeyAction('ArrowLeft', 7), { kind: 'member', delta: -1 });
  assert.deepEqual(dupKeyAction('PageDown', 7), { kind: 'page', delta: 1 });
  assert.deepEqual(dupKeyAction('Escape', 7), { kind: 'clearMember' });
  assert.equal(dupKeyAction('x', 7, { ctrlKey: true }), undefined);
  assert.equal(dupKeyAction('Tab', 7), undefined);
  assert.equal(moveIndex(-1, 1, 4), 0, 'from no member to the first');
  assert.equal(moveIndex(-1, -1, 4), 3, 'or the last');
  assert.equal(moveIndex(3, 1, 4), 3, 'clamped');
  assert.equal(moveIndex(0, -1, 4), 0);
  assert.equal(moveIndex(0, 1, 0), -1, 'nothing to select');
});
