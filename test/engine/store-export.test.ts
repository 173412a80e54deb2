// `kefer labels export` and the store CLI: corrected label files in each format re-read through the
// dataset readers, refusal to write over the originals, one-line CLI errors.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { loadDataset } from '../../src/engine/data/index.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { applyOverlay, exportLabels, openStore, relabel, setMark, upsertDataset, type Store } from '../../src/engine/store/index.js';
import { writeGrey, writeText } from './data-fixtures.js';
import { tempDirsRemovedAfter } from './store-helpers.js';

const dir = tempDirsRemovedAfter('kefer-export-');

const byId = (d: Dataset) => new Map(d.samples.map((s) => [s.id, s.label]));

/** Loads, stores, relabels sample `relabelId` to `to` and excludes `excludeId`. */
async function prepare(spec: string, relabelId: string, to: number, excludeId: string): Promise<{ store: Store; ds: Dataset; id: number; work: string }> {
  const work = dir();
  const store = openStore(join(work, 'kefer.db'));
  const ds = await loadDataset(spec);
  const row = upsertDataset(store, ds, { spec });
  relabel(store, { dataset: row.id, id: relabelId }, to, { author: 't' });
  setMark(store, { dataset: row.id, id: excludeId }, 'exclude', true, { author: 't' });
  return { store, ds, id: row.id, work };
}

function linkAll(fromDir: string, toDir: string, filter: (name: string) => boolean): void {
  mkdirSync(toDir, { recursive: true });
  for (const f of readdirSync(fromDir)) if (filter(f)) symlinkSync(join(fromDir, f), join(toDir, f));
}

describe('export formats round-trip through the readers', () => {
  test('rafdb: list_patition_label.txt with 1..7 codes; refuses to write inside the root', async () => {
    const root = dir();
    const basic = join(root, 'basic');
    await writeText(join(basic, 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 4\ntest_0002.jpg 7\n');
    for (const n of ['train_00001', 'train_00002', 'test_0001', 'test_0002']) await writeGrey(join(basic, 'Image', 'aligned', `${n}_aligned.jpg`));
    const { store, ds, id, work } = await prepare(`rafdb:${root}`, 'train_00001', 3, 'test_0002');
    const out = join(work, 'raf-out');
    const res = exportLabels(store, id, { format: 'rafdb', out });
    assert.deepEqual([res.samples, res.relabeled, res.excluded], [3, 1, 1]);
    const text = readFileSync(join(out, 'EmoLabel', 'list_patition_label.txt'), 'utf8');
    assert.equal(text, 'train_00001.jpg 4\ntrain_00002.jpg 1\ntest_0001.jpg 4\n');
    assert.equal(readFileSync(join(basic, 'EmoLabel', 'list_patition_label.txt'), 'utf8').split('\n')[0], 'train_00001.jpg 5', 'original untouched');
    symlinkSync(join(basic, 'Image'), join(out, 'Image'));
    const back = await loadDataset(`rafdb:${out}?symlinks=follow`); // Image/ is linked from the original
    assert.deepEqual(byId(back), byId(applyOverlay(store, ds)));
    // Refusals: inside the root, the root itself, through a symlink to the root, non-empty OUT.
    for (const bad of [join(basic, 'corrected'), basic, join(root, 'x', '..', 'basic', 'EmoLabel')]) {
      assert.throws(() => exportLabels(store, id, { format: 'rafdb', out: bad, force: true }), /inside the dataset root/);
    }
    symlinkSync(basic, join(work, 'link-to-root'));
    assert.throws(() => exportLabels(store, id, { format: 'rafdb', out: join(work, 'link-to-root'), force: true }), /inside the dataset root/);
    assert.throws(() => exportLabels(store, id, { format: 'rafdb', out }), /not empty/);
    relabel(store, { dataset: id, id: 'train_00002' }, 3);
    const again = exportLabels(store, id, { format: 'rafdb', out, force: true, keepExcluded: true });
    assert.deepEqual([again.samples, again.relabeled, again.excluded], [4, 2, 0]);
    store.close();
  });

  test('ferplus: relabeled rows become one-hot 10-vote rows', async () => {
    const root = dir();
    const folder = join(root, 'data', 'FER2013Train');
    const rows = [
      'fer0000000.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,0', // neutral
      'fer0000001.png,"(0, 0, 48, 48)",0,8,2,0,0,0,0,0,0,0', // happiness
      'fer0000002.png,"(0, 0, 48, 48)",0,0,0,9,1,0,0,0,0,0', // sadness
      'fer0000003.png,"(0, 0, 48, 48)",0,0,0,0,0,0,0,0,5,5', // dropped by the majority rule: kept verbatim
    ];
    await writeText(join(folder, 'label.csv'), rows.join('\n') + '\n');
    for (let i = 0; i < 4; i++) await writeGrey(join(folder, `fer000000${i}.png`));
    const { store, ds, id, work } = await prepare(`ferplus:${root}#train`, 'FER2013Train/fer0000000.png', 5, 'FER2013Train/fer0000002.png');
    const out = join(work, 'ferplus-out');
    exportLabels(store, id, { format: 'ferplus', out });
    const lines = readFileSync(join(out, 'data', 'FER2013Train', 'label.csv'), 'utf8').trim().split('\n');
    assert.deepEqual(lines, ['fer0000000.png,"(0, 0, 48, 48)",0,0,0,0,10,0,0,0,0,0', rows[1], rows[3]]);
    linkAll(folder, join(out, 'data', 'FER2013Train'), (f) => f.endsWith('.png'));
    const back = await loadDataset(`ferplus:${out}#train?symlinks=follow`); // images linked from the original
    assert.deepEqual(byId(back), byId(applyOverlay(store, ds)));
    store.close();
  });

  test('affectnet-csv: expression codes rewritten in the older release CSVs', async () => {
    const root = dir();
    const header = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
    await writeText(join(root, 'training.csv'), `${header}\n1/a.jpg,10,10,100,100,"1;2;3",1,0.5,0.2\n1/b.jpg,10,10,100,100,"1;2;3",0,0.1,0.1\n2/c.jpg,1,1,9,9,,9,0,0\n`);
    await writeText(join(root, 'validation.csv'), `${header}\n3/d.jpg,5,5,50,50,,6,-0.5,0.7\n`);
    for (const f of ['1/a.jpg', '1/b.jpg', '2/c.jpg', '3/d.jpg']) await writeGrey(join(root, 'Manually_Annotated_Images', f));
    const { store, ds, id, work } = await prepare(`affectnet:${root}`, '1/a.jpg', 7, '1/b.jpg');
    const out = join(work, 'affectnet-out');
    const res = exportLabels(store, id, { format: 'affectnet-csv', out });
    assert.deepEqual(res.files.map((f) => f.slice(out.length + 1)).sort(), ['training.csv', 'validation.csv']);
    const train = readFileSync(join(out, 'training.csv'), 'utf8').trim().split('\n');
    assert.deepEqual(train, [header, '1/a.jpg,10,10,100,100,1;2;3,7,0.5,0.2', '2/c.jpg,1,1,9,9,,9,0,0']);
    symlinkSync(join(root, 'Manually_Annotated_Images'), join(out, 'Manually_Annotated_Images'));
    const back = await loadDataset(`affectnet:${out}?symlinks=follow`); // images linked from the original
    assert.deepEqual(byId(back), byId(applyOverlay(store, ds)));
    store.close();
  });

  test('list (KE-FER 0-based) and folder (symlinks or copies)', async () => {
    const root = dir();
    for (const [split, cls, n] of [['train', 'happy', 3], ['train', 'sad', 2], ['test', 'angry', 2]] as const) {
      for (let i = 0; i < n; i++) await writeGrey(join(root, split, cls, `${cls}_${i}.png`));
    }
    const ds0 = await loadDataset(`folder:${root}`);
    const target = ds0.samples.find((s) => s.path.includes('happy_0'))!;
    const ex = ds0.samples.find((s) => s.path.includes('sad_1'))!;
    const { store, ds, id, work } = await prepare(`folder:${root}`, target.id, 6, ex.id);
    const want = byId(applyOverlay(store, ds));

    const listOut = join(work, 'list-out');
    exportLabels(store, id, { format: 'list', out: listOut });
    assert.deepEqual(readdirSync(listOut).sort(), ['test.txt', 'train.txt']);
    assert.ok(readFileSync(join(listOut, 'train.txt'), 'utf8').includes(`${target.path} 6\n`));
    const listed = new Map<string, number>();
    for (const split of ['train', 'test']) {
      const d = await loadDataset(`list:${join(listOut, `${split}.txt`)}?root=${root}`);
      for (const s of d.samples) listed.set(s.path, s.label);
    }
    const wantByPath = new Map(applyOverlay(store, ds).samples.map((s) => [s.path, s.label]));
    assert.deepEqual(listed, wantByPath);

    for (const copy of [false, true]) {
      const out = join(work, `folder-out-${copy}`);
      const res = exportLabels(store, id, { format: 'folder', out, copy });
      assert.equal(res.samples, 6);
      assert.equal(lstatSync(res.files[0]).isSymbolicLink(), !copy);
      assert.ok(existsSync(join(out, 'train', 'neutral', 'happy_0.png')));
      // A symlink export points outside its folder: reading it takes the explicit ?symlinks=follow.
      const back = await loadDataset(`folder:${out}${copy ? '' : '?symlinks=follow'}`);
      assert.deepEqual(new Map(back.samples.map((s) => [s.path.split('/').pop(), s.label])), new Map(ds.samples.filter((s) => want.has(s.id)).map((s) => [s.path.split('/').pop(), want.get(s.id)])));
    }
    store.close();
  });
});

describe('CLI', () => {
  const exec = promisify(execFile);
  // Test files run as CommonJS through tsx, hence __dirname.
  const main = join(__dirname, '..', '..', 'src', 'engine', 'cli', 'main.ts');
  const tsx = pathToFileURL(join(__dirname, '..', '..', 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  async function kefer(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      // tsx by absolute URL: the command runs in a temp workspace outside the repo.
      const r = await exec(process.execPath, ['--import', tsx, main, ...args], { cwd });
      return { code: 0, ...r };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }

  test('relabel, undo, redo, exclude, log, export errors', async () => {
    const root = dir();
    await writeText(join(root, 'basic', 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 5\ntest_0001.jpg 4\n');
    for (const n of ['train_00001', 'test_0001']) await writeGrey(join(root, 'basic', 'Image', 'aligned', `${n}_aligned.jpg`));
    const ws = dir();
    // The store does not exist yet: relabel without it is a clear error.
    let r = await kefer(ws, 'relabel', 'train_00001', 'happy');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kefer: no store at .*\n$/);
    const store = openStore(join(ws, '.kefer', 'kefer.db'));
    upsertDataset(store, await loadDataset(`rafdb:${root}`), { spec: `rafdb:${root}` });
    store.close();

    r = await kefer(ws, 'relabel', 'train_00001', 'happy', '--note', 'smiling');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /#1 train_00001: sadness -> happiness/);
    r = await kefer(ws, 'relabel', 'train_00001', 'happy');
    assert.deepEqual([r.code, r.stderr], [1, "kefer: sample 'train_00001' is already labelled happiness\n"]);
    r = await kefer(ws, 'relabel', 'train_00001', 'contempt');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not in this 7-class dataset/);
    r = await kefer(ws, 'relabel', '--undo');
    assert.match(r.stdout, /undid #1/);
    r = await kefer(ws, 'relabel', '--redo');
    assert.match(r.stdout, /redid #1/);
    r = await kefer(ws, 'relabel', '--exclude', 'test_0001');
    assert.equal(r.code, 0, r.stderr);
    r = await kefer(ws, 'labels', 'log', '--json');
    const log = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; newLabel?: string; note: string });
    assert.deepEqual(log.map((c) => c.kind), ['exclude', 'label']);
    assert.equal(log[1].newLabel, 'happiness');
    assert.equal(log[1].note, 'smiling');
    r = await kefer(ws, 'labels', 'export', '--format', 'rafdb', join(root, 'basic', 'out'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^kefer: refusing to export into .*inside the dataset root/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    r = await kefer(ws, 'labels', 'export', '--format', 'bogus', 'x');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--format must be one of/);
    r = await kefer(ws, 'labels', 'export', '--format', 'list', 'corrected');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(ws, 'corrected', 'train.txt'), 'utf8'), 'Image/aligned/train_00001_aligned.jpg 3\n');
    // a symlink export names the spec that reads it back, and that spec does
    r = await kefer(ws, 'labels', 'export', '--format', 'folder', 'linked');
    assert.equal(r.code, 0, r.stderr);
    const hinted = /read it back as (\S+)/.exec(r.stdout)?.[1];
    assert.equal(hinted, 'folder:linked?symlinks=follow');
    assert.ok((await loadDataset(`folder:${join(ws, 'linked')}?symlinks=follow`)).samples.length > 0);
    r = await kefer(ws, 'relabel', '--bogus');
    assert.equal(r.code, 2);
  });
});
