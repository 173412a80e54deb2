// The webviews and the thumbnail maker never get a file outside the dataset roots the store registered
// and the thumbnail cache (the roots authority, src/extension/roots.ts), whatever a message asks for
// and whatever a workspace file (studio.json, run.json) says. Crafted protocol messages go to the real
// host-side handler (DiagnosticsHandler, as the diagnostics panel uses it), which calls the real
// curation service on a real store in-process (the worker's JSON-lines transport is the only part
// left out). The store holds samples whose paths lead out (`..`, absolute, symlinks to a file and to a
// folder outside, URL-encoded, NUL): every request is refused, no URI names a file outside, and no
// thumbnail is made of an outside image.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { importRecords, openStore, registerRun, saveDupScan, upsertDataset } from '../../src/engine/store/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import type { SampleRecord } from '../../src/engine/eval/types.js';
import { classList } from '../../src/engine/classes.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { insideRoot, isInsideAny, PathRefused } from '../../src/extension/curation/paths.js';
import { DiagnosticsHandler, type CurationCall } from '../../src/extension/panels/diagnosticsHandler.js';
import { writeMeta } from '../../src/extension/runlist/runFiles.js';
import { mergeRuns } from '../../src/extension/runlist/catalogue.js';
import { imageKind, ResourceRoots, rootProblem } from '../../src/extension/roots.js';
import { storeRoots } from './roots-helper.js';
import * as os from 'node:os';
import type { HostMessage, RunSummary } from '../../src/webviews/protocol.js';
import { tempDir } from '../engine/store-helpers.js';

let ws: string;
let data: string;
let secret: string;
let runs: string;
let runA: string;
let runB: string;
let thumbDir: string;
let svc: CurationService;
const LEGIT = ['s0', 's1', 's2', 's3'];
/** Samples whose stored path leads outside the dataset root, one way each. */
const EVIL: Record<string, () => string> = {
  'evil-dotdot': () => '../secret/secret.png',
  'evil-nested': () => 'img/../../secret/secret.png',
  'evil-absolute': () => path.join(secret, 'secret.png'),
  'evil-symlink-file': () => 'img/link.png',
  'evil-symlink-dir': () => 'linkdir/secret.png',
  'evil-encoded': () => '%2e%2e/secret/secret.png',
  'evil-encoded-slash': () => '..%2fsecret%2fsecret.png',
  'evil-backslash': () => '..\\secret\\secret.png',
  'evil-nul': () => 'img/s0.png\0../../secret/secret.png',
  'evil-root-itself': () => '.',
  'evil-proc': () => '/proc/self/environ',
};

const png = (file: string, r: number) =>
  sharp({ create: { width: 16, height: 16, channels: 3, background: { r, g: 40, b: 90 } } }).png().toFile(file);

before(async () => {
  ws = fs.realpathSync(tempDir('kefer-paths-'));
  data = path.join(ws, 'data');
  secret = path.join(ws, 'secret');
  fs.mkdirSync(path.join(data, 'img'), { recursive: true });
  fs.mkdirSync(secret, { recursive: true });
  await png(path.join(secret, 'secret.png'), 255);
  fs.writeFileSync(path.join(secret, 'passwd.txt'), 'root:x:0:0\n');
  for (const [i, id] of LEGIT.entries()) await png(path.join(data, 'img', `${id}.png`), 30 * i);
  fs.symlinkSync(path.join(secret, 'secret.png'), path.join(data, 'img', 'link.png'));
  fs.symlinkSync(secret, path.join(data, 'linkdir'));

  const classes = classList(7);
  const ds: Dataset = { format: 'folder', root: data, classes, samples: LEGIT.map((id, i) => ({ id, path: `img/${id}.png`, label: i % 7, split: 'test' })) };
  runs = path.join(ws, '.kefer', 'runs');
  runA = path.join(runs, 'runA');
  runB = path.join(runs, 'runB');
  thumbDir = path.join(ws, 'thumbs');
  const storePath = path.join(ws, '.kefer', 'kefer.db');
  const store = openStore(storePath, { synchronous: 'NORMAL' });
  const d = upsertDataset(store, ds);
  // Every record a mistake (pred != label), so every sample is on the grid's first page.
  const rec = (id: string, p: string, label: number): SampleRecord => {
    const probs = classes.map((_, k) => (k === (label + 1) % 7 ? 0.7 : 0.05));
    return { id, path: p, split: 'test', label, pred: (label + 1) % 7, probs, simText: 0.5, simNeutral: 0.4, gap: 0.1, align: 0.2 };
  };
  // A records file is where stored paths come from: the evil ones register new samples with their paths.
  // (a path with a NUL byte is refused at import: test below)
  const recs = [...ds.samples.map((s) => rec(s.id, s.path, s.label)), ...Object.entries(EVIL).filter(([id]) => id !== 'evil-nul').map(([id, p], i) => rec(id, p(), i % 7))];
  registerRun(store, { id: 'runA', dataset: d.id });
  importRecords(store, 'runA', recs);
  // A run id that climbs out, as a parent: scatter must not follow it.
  registerRun(store, { id: '../secret-run', dataset: d.id });
  registerRun(store, { id: 'runB', dataset: d.id, parent: '../secret-run' });
  importRecords(store, 'runB', recs);
  // A duplicate scan whose clusters hold the evil samples beside legit ones (the duplicates view's pages)
  const evil = Object.keys(EVIL).filter((id) => id !== 'evil-nul');
  saveDupScan(store, d.id, evil.map((id, i) => ({ tier: 'near', cid: i + 1, members: [LEGIT[i % LEGIT.length], id], leaks: 0, conflict: false, score: 0.9 })), [{ tier: 'near', threshold: { value: 0.9 } }]);
  store.close();
  const meta = { dataSpec: `folder:${data}`, datasetRoot: data, datasetName: 'folder', startedAt: '2026-01-01', backbone: 'resnet18', status: 'done' as const, accuracy: 0, classes };
  writeMeta(runA, meta);
  writeMeta(runB, { ...meta, parent: 'runA' });
  fs.mkdirSync(path.join(ws, '.kefer', 'secret-run'), { recursive: true });
  fs.writeFileSync(path.join(ws, '.kefer', 'secret-run', 'scatter.json'), JSON.stringify(LEGIT.map((id) => ({ id, x: 1, y: 2 }))));
  // A folder outside with a run of the same name: a message naming it must not pass as run A.
  writeMeta(path.join(ws, 'other', 'runA'), { ...meta, datasetRoot: secret });
  fs.writeFileSync(path.join(ws, 'other', 'runA', 'scatter.json'), JSON.stringify(LEGIT.map((id) => ({ id, x: 9, y: 9 }))));
  fs.symlinkSync(runA, path.join(ws, 'alias-of-runA'));
  svc = new CurationService(storePath, thumbDir);
});

after(() => {
  svc.close();
  fs.rmSync(ws, { recursive: true, force: true });
});

interface Harness {
  handler: DiagnosticsHandler;
  posted: HostMessage[];
  uris: string[];
  calls: string[];
}

function harness(): Harness {
  const posted: HostMessage[] = [];
  const uris: string[] = [];
  const calls: string[] = [];
  const summaries: RunSummary[] = [runA, runB].map((runDir) => ({ runDir, name: path.basename(runDir), dataset: 'folder', date: '', backbone: 'resnet18', accuracy: 0, status: 'done', classes: [] }));
  // The worker's transport left out: the same service methods, called in-process.
  const call = ((method: string, ...params: unknown[]) =>
    Promise.resolve().then(() => (svc as unknown as Record<string, (...a: unknown[]) => unknown>)[method](...params))) as CurationCall;
  const handler = new DiagnosticsHandler('diagnostics', {
    call,
    roots: storeRoots(svc, thumbDir),
    runs: () => summaries,
    toUri: (file) => (uris.push(file), `vscode-webview-resource:${file}`),
    post: (m) => void posted.push(m),
    broadcast: (m) => void posted.push(m),
    retrain: async (d) => (calls.push(`retrain ${d}`), undefined),
    exportLabels: async (d) => (calls.push(`export ${d}`), undefined),
    openFull: (d) => void calls.push(`openFull ${d}`),
    cancelTraining: () => void calls.push('cancel'),
    log: () => undefined,
    onCspViolation: () => undefined,
  }, runA);
  return { handler, posted, uris, calls };
}

const allowed = () => [data, thumbDir];

/** No URI given out names a file outside the allowed folders, or anything in the secret folder. */
function assertNothingOutside(h: Harness): void {
  for (const f of h.uris) {
    assert.ok(isInsideAny(f, allowed()), `served ${f}`);
    assert.ok(!fs.realpathSync(f).startsWith(secret), `served ${f}`);
  }
  const text = JSON.stringify(h.posted);
  assert.ok(!text.includes('vscode-webview-resource:' + secret), 'no URI into the secret folder was posted');
}

let crafted = 0;
let refusedCount = 0;

/**
 * Sends one crafted message; it must be answered with an error (or error thumbnails, or a sample
 * record with no image when the path names nothing that exists) and get no file URI at all.
 */
async function expectRefused(h: Harness, raw: unknown, what: string): Promise<void> {
  crafted++;
  const before = h.posted.length;
  const uris = h.uris.length;
  await h.handler.handle(raw);
  const answers = h.posted.slice(before);
  const refused =
    h.uris.length === uris &&
    h.calls.length === 0 &&
    (answers.length === 0 ||
      answers.every((m) => m.type === 'error' || ((m.type === 'thumbs' || m.type === 'dupThumbs') && m.thumbs.every((t) => 'error' in t)) || (m.type === 'sample' && m.sample.src === '')));
  assert.ok(refused, `${what}: answered ${JSON.stringify(answers).slice(0, 400)}, uris ${h.uris.slice(uris).join(', ')}, calls ${h.calls.join(', ')}`);
  // a malformed message gets no answer (the webview cannot be trusted to read one); the rest get an error
  if (answers.length === 0) assert.ok(h.handler.refused > 0, `${what}: silently dropped without being counted`);
  refusedCount++;
}

test('insideRoot refuses .., absolute paths outside, symlinks leading out, NUL; keeps paths inside', () => {
  assert.equal(insideRoot(data, 'img/s0.png'), path.join(data, 'img', 's0.png'));
  assert.equal(insideRoot(data, path.join(data, 'img', 's1.png')), path.join(data, 'img', 's1.png'));
  assert.equal(insideRoot(data, 'img/../img/s2.png'), path.join(data, 'img', 's2.png'));
  assert.equal(insideRoot(data, '..foo/x.png'), path.join(data, '..foo', 'x.png'), 'a name starting with .. is not a parent');
  assert.equal(insideRoot(data, 'img/missing.png'), path.join(data, 'img', 'missing.png'), 'a missing file inside is not refused (reading it fails later)');
  for (const id of ['evil-dotdot', 'evil-nested', 'evil-absolute', 'evil-symlink-file', 'evil-symlink-dir', 'evil-nul', 'evil-proc']) {
    assert.throws(() => insideRoot(data, EVIL[id]()), PathRefused, id);
  }
  assert.throws(() => insideRoot(data, 'linkdir/not-there/x.png'), PathRefused, 'a missing file under a symlinked folder');
  assert.ok(!isInsideAny(path.join(data, 'img', 'link.png'), [data]));
  assert.ok(isInsideAny(path.join(data, 'img', 's3.png'), [data]));
});

test('crafted run folders: every message naming a folder that is not a listed run is refused', async () => {
  const h = harness();
  const dirs = [
    '../../etc',
    '/etc',
    path.join(runs, '..', '..', 'secret'),
    path.join(ws, 'other', 'runA'), // same folder name as run A, elsewhere
    path.join(ws, 'alias-of-runA'), // a symlink to run A
    'runA',
    `${runA}%2f..`,
    encodeURIComponent(runA),
    `${runA}/../../secret`,
    `file://${runA}`,
    `${runA}\0`,
    '',
  ];
  const messages = (runDir: string): unknown[] => [
    { type: 'requestPage', query: { runDir, filter: { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null }, sort: 'issue', offset: 0, limit: 50 } },
    { type: 'requestThumbs', runDir, ids: LEGIT, urgent: 4 },
    { type: 'requestConfusion', runDir, basis: 'run' },
    { type: 'requestSample', runDir, id: 's0' },
    { type: 'requestScatter', runDir },
    { type: 'setLabel', runDir, id: 's0', label: 3 },
    { type: 'exclude', runDir, id: 's0' },
    { type: 'unsure', runDir, id: 's0' },
    { type: 'undo', runDir },
    { type: 'redo', runDir },
    { type: 'retrain', runDir, mode: 'head' },
    { type: 'exportLabels', runDir },
    { type: 'openFull', runDir },
  ];
  for (const dir of dirs) for (const m of messages(dir)) await expectRefused(h, m, `${(m as { type: string }).type} ${JSON.stringify(dir)}`);
  assert.equal(svc.sample(runA, 's0')?.history.length, 0, 'no label change reached the store');
  assertNothingOutside(h);
});

test('crafted dataset roots: every duplicates-view message naming a folder that is not a registered dataset root is refused', async () => {
  const h = harness();
  const dirs = [
    '/etc', '/', path.join(data, '..'), path.join(data, 'img'), secret, path.join(data, 'linkdir'), path.join(ws, 'alias-of-runA'),
    'data', `${data}/../secret`, `file://${data}`, encodeURIComponent(data), `${data}\0`, '',
  ];
  const messages = (dataset: string): unknown[] => [
    { type: 'requestDups', query: { dataset, filter: { tier: 'near', leak: null, conflicting: false }, after: null, limit: 25 } },
    { type: 'requestDupThumbs', dataset, ids: LEGIT, urgent: 4 },
    { type: 'dupFix', dataset, tier: 'near', cid: 1, fix: { kind: 'excludeLeaks' } },
    { type: 'dupFix', dataset, tier: 'near', cid: 1, fix: { kind: 'relabel', label: 2 } },
    { type: 'dupUndo', dataset },
    { type: 'dupRedo', dataset },
    { type: 'findDuplicates', dataset },
  ];
  for (const dir of dirs) for (const m of messages(dir)) await expectRefused(h, m, `${(m as { type: string }).type} ${JSON.stringify(dir)}`);
  assert.equal(svc.sample(runA, 's0')?.history.length, 0, 'no label change reached the store');
  assertNothingOutside(h);
});

test('duplicate clusters holding samples whose stored path leads out: their members get no thumbnail, asked for one they are refused', async () => {
  const h = harness();
  const evil = Object.keys(EVIL).filter((id) => id !== 'evil-nul');
  await h.handler.handle({ type: 'requestDups', query: { dataset: data, filter: { tier: 'near', leak: null, conflicting: false }, after: null, limit: 100 } });
  const page = h.posted.find((m): m is Extract<HostMessage, { type: 'dupPage' }> => m.type === 'dupPage');
  assert.ok(page, JSON.stringify(h.posted).slice(0, 300));
  const members = page.page.rows.flatMap((r) => r.members);
  assert.deepEqual(members.filter((m) => evil.includes(m.id)).map((m) => m.thumb), evil.map(() => null));
  for (const id of evil) await expectRefused(h, { type: 'requestDupThumbs', dataset: data, ids: [id], urgent: 1 }, `requestDupThumbs ${id}`);
  await h.handler.handle({ type: 'requestDupThumbs', dataset: data, ids: [...LEGIT], urgent: 4 });
  const thumbs = h.posted.filter((m): m is Extract<HostMessage, { type: 'dupThumbs' }> => m.type === 'dupThumbs').flatMap((m) => m.thumbs);
  for (const id of LEGIT) assert.ok(thumbs.some((t) => t.id === id && 'src' in t), `thumbnail of ${id}`);
  assertNothingOutside(h);
});

test('samples whose stored path leads out: inspector, grid and thumbnails refuse each, and make no thumbnail of it', async () => {
  const h = harness();
  for (const id of Object.keys(EVIL)) await expectRefused(h, { type: 'requestSample', runDir: runA, id }, `requestSample ${id}`);
  for (const id of Object.keys(EVIL)) await expectRefused(h, { type: 'requestThumbs', runDir: runA, ids: [id], urgent: 1 }, `requestThumbs ${id}`);
  // The grid page lists them (they are in the run) but with no thumbnail; the legit ones get theirs.
  await h.handler.handle({ type: 'requestThumbs', runDir: runA, ids: [...LEGIT, ...Object.keys(EVIL)], urgent: 20 });
  const thumbs = h.posted.filter((m): m is Extract<HostMessage, { type: 'thumbs' }> => m.type === 'thumbs').flatMap((m) => m.thumbs);
  for (const id of LEGIT) assert.ok(thumbs.some((t) => t.id === id && 'src' in t), `thumbnail of ${id}`);
  await h.handler.handle({ type: 'requestPage', query: { runDir: runA, filter: { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null }, sort: 'issue', offset: 0, limit: 100 } });
  const page = [...h.posted].reverse().find((m) => m.type === 'page');
  assert.ok(page && page.type === 'page');
  assert.equal(page.page.rows.length, LEGIT.length + Object.keys(EVIL).length - 1, 'every stored sample (the NUL one never got in)');
  for (const r of page.page.rows) assert.equal(r.thumb !== null, LEGIT.includes(r.id), `thumbnail of row ${r.id}`);
  // Only the legit images were thumbnailed: the cache holds exactly their files.
  const made = fs.readdirSync(thumbDir, { recursive: true }).filter((f) => String(f).endsWith('.webp'));
  assert.equal(made.length, LEGIT.length);
  // A legit sample still opens in the inspector, with a URI inside the dataset.
  await h.handler.handle({ type: 'requestSample', runDir: runA, id: 's1' });
  const s = [...h.posted].reverse().find((m) => m.type === 'sample');
  assert.ok(s && s.type === 'sample' && s.sample.src.endsWith(path.join(data, 'img', 's1.png')));
  assertNothingOutside(h);
});

test('a NUL byte in a record is refused at import, naming the field (SQLite would store the text cut short)', () => {
  const store = openStore(path.join(ws, 'nul.db'));
  try {
    const d = upsertDataset(store, { format: 'folder', root: data, classes: classList(7), samples: [{ id: 's0', path: 'img/s0.png', label: 0, split: 'test' }] });
    registerRun(store, { id: 'nul', dataset: d.id });
    const probs = [0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
    const r = { id: 's0', path: 'img/s0.png\0../../secret/secret.png', split: 'test', label: 0, pred: 0, probs, simText: 0, simNeutral: 0, gap: 0, align: null };
    assert.throws(() => importRecords(store, 'nul', [r]), /field 'path' holds a NUL byte/);
    assert.throws(() => store.db.prepare('SELECT sk FROM samples WHERE sid = ?').get('s0\0x'), /holds a NUL byte/, 'nor looked up cut short');
    // a dataset's samples too (they go in as JSON, which would carry the NUL), and the dataset stays as it was
    const evil = { format: 'folder', root: data, classes: classList(7), samples: [{ id: 's1', path: 'img/s1.png', label: 1, split: 'test' }, { id: 's2', path: 'img/s0.png\0../../secret/secret.png', label: 0, split: 'test' }] };
    assert.throws(() => upsertDataset(store, evil), /sample 's2': a NUL byte in its id, path or split/);
    assert.deepEqual(store.db.prepare('SELECT sid FROM samples ORDER BY sk').pluck().all(), ['s0'], 'nothing of the refused import is stored');
  } finally {
    store.close();
  }
});

test('sample ids that are not in the store, and malformed messages, are refused', async () => {
  const h = harness();
  const ids = ['nope', '../../secret/secret.png', path.join(secret, 'secret.png'), '%2e%2e%2fsecret', 'img/s0.png', '', 's0\0', 'x'.repeat(1000)];
  for (const id of ids) {
    await expectRefused(h, { type: 'requestSample', runDir: runA, id }, `requestSample ${JSON.stringify(id)}`);
    await expectRefused(h, { type: 'requestThumbs', runDir: runA, ids: [id], urgent: 1 }, `requestThumbs ${JSON.stringify(id)}`);
    await expectRefused(h, { type: 'setLabel', runDir: runA, id, label: 2 }, `setLabel ${JSON.stringify(id)}`);
  }
  const malformed: unknown[] = [
    null,
    'requestSample',
    { type: 'requestSample', runDir: { toString: () => runA }, id: 's0' },
    { type: 'requestSample', runDir: runA, id: 7 },
    { type: 'requestThumbs', runDir: runA, ids: 's0', urgent: 1 },
    { type: 'requestThumbs', runDir: runA, ids: Array.from({ length: 1001 }, (_, i) => `s${i}`), urgent: 1 },
    { type: 'requestThumbs', runDir: runA, ids: ['x'.repeat(1001)], urgent: 1 },
    { type: 'setLabel', runDir: runA, id: 's0', label: 99 },
    { type: 'requestPage', query: { runDir: runA, filter: {}, sort: 'issue', offset: 0, limit: 10 } },
    { type: 'readFile', path: '/etc/passwd' },
    { type: 'requestImage', runDir: runA, path: '../secret/secret.png' },
  ];
  for (const m of malformed) await expectRefused(h, m, `malformed ${JSON.stringify(m)?.slice(0, 80)}`);
  assert.equal(svc.sample(runA, 's0')?.history.length, 0, 'no label change reached the store');
  assertNothingOutside(h);
});

test("a run whose parent id climbs out: the scatter view does not read the parent's file", async () => {
  const h = harness();
  await h.handler.handle({ type: 'requestScatter', runDir: runB });
  const m = [...h.posted].reverse().find((x) => x.type === 'scatter');
  assert.ok(m && m.type === 'scatter');
  assert.deepEqual(m.points, []);
  assert.match(m.source, /no embedding projection/);
});

test('the host never hands out a URI for a file outside, whatever the worker answers', () => {
  const h = harness();
  assert.equal(h.handler.serve(path.join(secret, 'secret.png')), null);
  assert.equal(h.handler.serve(path.join(data, 'img', 'link.png')), null, 'a symlink inside a root, leading out');
  assert.equal(h.handler.serve(path.join(data, '..', 'secret', 'passwd.txt')), null);
  assert.equal(h.handler.serve('/etc/passwd'), null);
  assert.ok(h.handler.serve(path.join(data, 'img', 's0.png')));
  assert.equal(h.handler.serve(path.join(runA, 'studio.json')), null, 'a run folder is no root, and a JSON file is not an image');
  assert.equal(h.uris.length, 1);
});

test('a workspace file cannot widen the roots: studio.json / run.json roots of "/", "..", a symlink to "/" are ignored', async () => {
  // A cloned repository can carry any of these: run folders whose files name a dataset root.
  const planted = path.join(ws, '.kefer', 'runs');
  fs.symlinkSync('/', path.join(ws, 'to-slash'));
  const base = { dataSpec: 'folder:/', datasetName: 'x', startedAt: '2026-02-01', backbone: 'resnet18', status: 'done' as const, accuracy: 0, classes: [] };
  writeMeta(path.join(planted, 'evil-slash'), { ...base, datasetRoot: '/' });
  writeMeta(path.join(planted, 'evil-dotdot'), { ...base, datasetRoot: '..' });
  writeMeta(path.join(planted, 'evil-link'), { ...base, datasetRoot: path.join(ws, 'to-slash') });
  fs.mkdirSync(path.join(planted, 'evil-runjson'), { recursive: true });
  fs.writeFileSync(path.join(planted, 'evil-runjson', 'run.json'), JSON.stringify({ status: 'done', dataset: { root: '/' } }));
  try {
    // the runs list shows them (they are run folders) ...
    const listed = mergeRuns(planted, svc.catalogue()).map((r) => r.name);
    for (const n of ['evil-slash', 'evil-dotdot', 'evil-link', 'evil-runjson', 'runA', 'runB']) assert.ok(listed.includes(n), `${n} listed`);
    // ... but the roots come from the store alone: the dataset and the thumbnail cache
    const roots = storeRoots(svc, thumbDir);
    assert.deepEqual(roots.roots(), [fs.realpathSync(data), thumbDir]);
    const h = harness();
    for (const f of ['/etc/passwd', '/proc/self/environ', path.join(planted, 'evil-slash', 'studio.json'), path.join(runA, 'studio.json')]) {
      assert.equal(h.handler.serve(f), null, f);
    }
    // the run comparison hands out only images inside the dataset (it once gave studio.json and /etc files)
    await h.handler.sendComparison(runA, runB);
    const cmp = h.posted.find((m) => m.type === 'comparison');
    assert.ok(cmp && cmp.type === 'comparison');
    for (const c of cmp.comparison.changed) assert.ok(c.src === '' || c.src.startsWith(`vscode-webview-resource:${fs.realpathSync(data)}${path.sep}`), `comparison src ${c.src}`);
    assertNothingOutside(h);
    for (const f of h.uris) assert.ok(imageKind(fs.readFileSync(f)), `${f} is an image`);
  } finally {
    for (const n of ['evil-slash', 'evil-dotdot', 'evil-link', 'evil-runjson']) fs.rmSync(path.join(planted, n), { recursive: true, force: true });
    fs.rmSync(path.join(ws, 'to-slash'));
  }
});

test('roots the store names are refused when too wide or not folders; only image files are served', () => {
  assert.match(rootProblem('/') ?? '', /whole file system/);
  assert.match(rootProblem(os.homedir()) ?? '', /home folder/);
  assert.match(rootProblem('relative/data') ?? '', /not an absolute path/);
  assert.match(rootProblem(path.join(ws, 'nope')) ?? '', /does not exist/);
  assert.match(rootProblem(path.join(secret, 'passwd.txt')) ?? '', /not a folder/);
  assert.equal(rootProblem(data), undefined);
  const roots = new ResourceRoots([thumbDir]);
  roots.setDatasetRoots(['/', os.homedir(), data, '/nonexistent']);
  assert.deepEqual(roots.roots(), [fs.realpathSync(data), thumbDir]);
  assert.equal(roots.refusedRoots.length, 3);
  // a text file renamed .png inside a root is not an image
  fs.writeFileSync(path.join(data, 'img', 'fake.png'), 'root:x:0:0\n');
  try {
    const r = roots.serve(path.join(data, 'img', 'fake.png'));
    assert.ok(!r.ok && /not an image/.test(r.why));
  } finally {
    fs.rmSync(path.join(data, 'img', 'fake.png'));
  }
  const ok = roots.serve(path.join(data, 'img', 's2.png'));
  assert.deepEqual(ok, { ok: true, file: path.join(fs.realpathSync(data), 'img', 's2.png') });
});

test('the URI names the resolved file: a folder symlink re-pointed outside after the check does not change what it names', () => {
  // data/swap -> data/img (inside) when served; then re-pointed to the secret folder
  const swap = path.join(data, 'swap');
  fs.symlinkSync(path.join(data, 'img'), swap);
  try {
    const h = harness();
    const uri = h.handler.serve(path.join(swap, 's3.png'));
    assert.equal(uri, `vscode-webview-resource:${path.join(fs.realpathSync(data), 'img', 's3.png')}`, 'the resolved path, not the symlink');
    fs.rmSync(swap);
    fs.symlinkSync(secret, swap);
    // the URI handed out still names the inside file; asking again through the symlink is refused
    assert.ok(!uri!.includes(`${path.sep}swap${path.sep}`));
    assert.equal(h.handler.serve(path.join(swap, 'secret.png')), null);
    assertNothingOutside(h);
  } finally {
    fs.rmSync(swap, { force: true });
  }
});

after(() => {
  // The figure for docs/fault-suite.md.
  console.log(`# crafted requests refused: ${refusedCount} of ${crafted}`);
});
