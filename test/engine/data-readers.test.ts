// Each reader on a tiny dataset built here, including broken inputs.
import assert from 'node:assert/strict';
import { symlink, writeFile } from 'node:fs/promises';
import zlib from 'node:zlib';
import path from 'node:path';
import { test } from 'node:test';
import { run as runDataCli } from '../../src/engine/cli/data.js';
import { checkDataset, countsByClass, loadDataset } from '../../src/engine/data/index.js';
import { decodeImage } from '../../src/engine/data/decode.js';
import { splitLabelLines } from '../../src/engine/data/files.js';
import { DatasetError } from '../../src/engine/data/types.js';
import { npyScalar, pngChunk, tempDir, writeGrey, writeText, writeTruncated } from './data-fixtures.js';

const names = (ds: { classes: string[]; samples: { id: string; label: number }[] }) =>
  Object.fromEntries(ds.samples.map((s) => [s.id, ds.classes[s.label]]));

test('folder: split level, class-name variants, split selection, synthetic marker', async () => {
  const root = await tempDir();
  const variants = ['happy', 'sad', 'angry', 'fearful', 'surprised', 'disgusted', 'neutral'];
  for (const split of ['train', 'val']) for (const v of variants) await writeGrey(path.join(root, split, v, `${v}_1.png`));
  await writeGrey(path.join(root, 'train', 'happy', 'happy_2.jpg'));
  await writeText(path.join(root, 'train', 'happy', 'notes.txt'), 'ignored');
  const ds = await loadDataset(`folder:${root}`);
  assert.equal(ds.format, 'folder');
  assert.equal(ds.synthetic, undefined);
  assert.equal(ds.classes.length, 7, 'no contempt folder -> 7 classes');
  assert.equal(ds.samples.length, 15);
  const n = names(ds);
  assert.equal(n['train/happy/happy_2.jpg'], 'happiness');
  assert.equal(n['val/fearful/fearful_1.png'], 'fear');
  assert.equal(n['train/surprised/surprised_1.png'], 'surprise');
  assert.equal(n['train/disgusted/disgusted_1.png'], 'disgust');
  const c = countsByClass(ds);
  assert.deepEqual(Object.keys(c.splits).sort(), ['train', 'valid']);
  assert.equal(c.splits.train[3], 2); // happiness
  assert.equal(c.total.reduce((a, b) => a + b), 15);
  const val = await loadDataset(`folder:${root}#valid`);
  assert.equal(val.samples.length, 7);
  assert.ok(val.samples.every((s) => s.split === 'valid'));
  await assert.rejects(loadDataset(`folder:${root}#test`), /no split folder 'test' \(found: train, val\)/);
  await writeText(path.join(root, 'SYNTHETIC.md'), 'generated');
  assert.equal((await loadDataset(`folder:${root}`)).synthetic, true);
});

test('folder: numbered AffectNet folders need ?codes=, drop 8..10, 8 classes with contempt', async () => {
  const root = await tempDir();
  for (const code of ['0', '1', '6', '7', '9']) await writeGrey(path.join(root, 'train', code, 'a.jpg'));
  await writeGrey(path.join(root, 'val', '3', 'b.jpg'));
  const ds = await loadDataset(`folder:${root}?codes=affectnet`);
  const n = names(ds);
  assert.deepEqual(n, {
    'train/0/a.jpg': 'neutral', 'train/1/a.jpg': 'happiness', 'train/6/a.jpg': 'anger', 'train/7/a.jpg': 'contempt', 'val/3/b.jpg': 'surprise',
  });
  assert.equal(ds.classes.length, 8);
  const ds7 = await loadDataset(`folder:${root}?codes=affectnet&classes=7`);
  assert.equal(ds7.samples.length, 4, 'classes=7 drops contempt');
  const { problems } = await checkDataset(`folder:${root}`, { images: false });
  assert.equal(problems.length, 6, 'every numbered folder is reported without ?codes=');
  assert.ok(problems.every((p) => p.kind === 'unknown-code' && /needs \?codes=affectnet/.test(p.message)));
  await assert.rejects(loadDataset(`folder:${root}?codes=nope`), /codes=nope: expected one of/);
});

test('folder: unknown class folder is a problem; msambare fer2013 test folders', async () => {
  const root = await tempDir();
  for (const c of ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise', 'selfies']) await writeGrey(path.join(root, 'test', c, `PrivateTest_1${c.length}.jpg`), 128, 48, 48);
  const { dataset, problems } = await checkDataset(`fer2013:${path.join(root, 'test')}`);
  assert.equal(problems.length, 1);
  assert.match(problems[0].message, /folder 'selfies' is not a known class/);
  assert.ok(problems[0].file?.endsWith('selfies'));
  assert.equal(dataset?.samples.length, 7);
  assert.ok(dataset?.samples.every((s) => s.split === 'test'), 'split inferred from the folder name');
  await assert.rejects(loadDataset(`folder:${root}`), (e: unknown) => e instanceof DatasetError && /selfies/.test(e.message));
});

test('ferplus: majority rule, 7/8 classes, every problem with line numbers', async () => {
  const root = await tempDir();
  const dir = path.join(root, 'data', 'FER2013Train');
  const rows = [
    'fer0000001.png,"(0, 0, 48, 48)",6,0,1,1,0,0,0,0,2,0', // 1 neutral 6/8 kept
    'fer0000002.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0', // 2 4 of 9 -> dropped
    'fer0000003.png,"(0, 0, 48, 48)",0,0,0,0,0,0,0,0,8,2', // 3 unknown wins -> dropped
    'fer0000004.png,"(0, 0, 48, 48)",2,0,0,0,0,0,0,7,1,0', // 4 contempt
    'fer0000005.png,"(0, 0, 48, 48)",0,1,9,0,0,0,0,0,0,0', // 5 surprise (1 vote zeroed)
    'fer0000006.png,"(0, 0, 48, 48)",0,10,0,0,0,0,0,0,0,0', // 6 missing image
    'fer0000005.png,"(0, 0, 48, 48)",0,0,9,0,0,0,0,0,0,0', // 7 duplicate
    'fer0000007.png,"(0, 0, 48, 48)",x,0,9,0,0,0,0,0,0,0', // 8 bad vote
    'fer0000008.png,5,5', // 9 too few columns
  ];
  await writeText(path.join(dir, 'label.csv'), rows.join('\n') + '\n');
  for (const i of [1, 2, 3, 4, 5, 7, 8]) await writeGrey(path.join(dir, `fer000000${i}.png`));
  const { dataset, problems } = await checkDataset(`ferplus:${root}#train`, { images: false });
  assert.deepEqual(names(dataset!), { 'FER2013Train/fer0000001.png': 'neutral', 'FER2013Train/fer0000004.png': 'contempt', 'FER2013Train/fer0000005.png': 'surprise' });
  assert.equal(dataset!.samples[0].path, 'data/FER2013Train/fer0000001.png');
  assert.deepEqual(problems.map((p) => [p.kind, p.line]), [['missing-file', 6], ['bad-line', 8], ['bad-line', 9], ['duplicate-id', 7]]);
  assert.ok(problems.every((p) => p.file === path.join(dir, 'label.csv')));
  await assert.rejects(loadDataset(`ferplus:${root}#train`), (e: unknown) => e instanceof DatasetError && e.message.startsWith(`${path.join(dir, 'label.csv')}:6: `));
  // Only valid rows: 7 classes drop contempt.
  await writeText(path.join(dir, 'label.csv'), rows.slice(0, 5).join('\n'));
  const ds7 = await loadDataset(`ferplus:${path.join(root, 'data')}#train?classes=7`);
  assert.deepEqual(ds7.samples.map((s) => s.id), ['FER2013Train/fer0000001.png', 'FER2013Train/fer0000005.png']);
  assert.equal(ds7.classes.length, 7);
  await assert.rejects(loadDataset(`ferplus:${root}#holdout`), /splits train, valid, test/);
  await assert.rejects(loadDataset(`ferplus:${root}?classes=6`), /classes=6: expected 7 or 8/);
});

async function rafdb(root: string, lines: string[], images: string[]) {
  await writeText(path.join(root, 'EmoLabel', 'list_patition_label.txt'), lines.join('\n') + '\n');
  for (const im of images) await writeGrey(path.join(root, 'Image', 'aligned', im));
}

test('rafdb basic: codes 1..7, _aligned names, split from prefix, problems', async () => {
  const root = await tempDir();
  const basic = path.join(root, 'basic');
  await rafdb(
    basic,
    ['train_00001.jpg 5', 'train_00002.jpg 1', 'test_0001.jpg 7', 'test_0002.jpg 0', 'train_00003.jpg 4', 'train_00001.jpg 5', 'garbage'],
    ['train_00001_aligned.jpg', 'train_00002_aligned.jpg', 'test_0001_aligned.jpg', 'test_0002_aligned.jpg'],
  );
  const { dataset, problems } = await checkDataset(`rafdb:${root}`, { images: false });
  assert.deepEqual(names(dataset!), { train_00001: 'sadness', train_00002: 'surprise', test_0001: 'neutral' });
  assert.equal(dataset!.samples[0].path, 'Image/aligned/train_00001_aligned.jpg');
  assert.deepEqual(problems.map((p) => [p.kind, p.line]), [['unknown-code', 4], ['missing-file', 5], ['bad-line', 7], ['duplicate-id', 6]]);
  const test7 = await checkDataset(`rafdb:${basic}#test`, { images: false });
  assert.deepEqual(test7.dataset!.samples.map((s) => s.split), ['test']);
});

test('rafdb: the compound subset is rejected with a clear message', async () => {
  const root = await tempDir();
  await rafdb(root, ['train_0001.jpg 9', 'test_0001.jpg 3'], ['train_0001_aligned.jpg']);
  await assert.rejects(loadDataset(`rafdb:${root}`), (e: unknown) => e instanceof DatasetError && /compound subset/.test(e.message) && /1 compound train names/.test(e.message));
  const { dataset, problems } = await checkDataset(`rafdb:${root}`);
  assert.equal(dataset, undefined);
  assert.equal(problems.length, 1);
  assert.match(problems[0].message, /compound subset.*point the spec at RAF-DB\/basic/);
});

test('rafdb basic with one unknown code: read as basic (not sure, says what it saw); every fault named, the truncated image reached', async () => {
  // The reported case: 24 basic lines, one image missing, one code 9, one truncated JPEG.
  const root = await tempDir();
  const lines: string[] = [];
  const images: string[] = [];
  for (let i = 1; i <= 16; i++) lines.push(`train_${String(i).padStart(5, '0')}.jpg ${1 + (i % 7)}`);
  for (let i = 1; i <= 8; i++) lines.push(`test_${String(i).padStart(4, '0')}.jpg ${1 + (i % 7)}`);
  lines[4] = 'train_00005.jpg 9'; // line 5: a compound-only code
  for (const l of lines) images.push(l.replace('.jpg', '_aligned.jpg').split(' ')[0]);
  await rafdb(root, lines, images.filter((n) => n !== 'train_00010_aligned.jpg')); // line 10: missing
  await writeTruncated(path.join(root, 'Image', 'aligned', 'test_0003_aligned.jpg')); // line 19
  const imageSize = { width: 8, height: 8 };
  const { dataset, problems, layout } = await checkDataset(`rafdb:${root}?size=8`);
  assert.deepEqual(dataset?.imageSize, imageSize);
  assert.equal(layout?.name, 'rafdb-basic');
  assert.equal(layout?.sure, false, 'one compound-only code makes the verdict unsure, not compound');
  assert.match(layout!.evidence, /24 lines: 16 basic train names.*1 with compound-only codes 8\.\.11/);
  const label = path.join(root, 'EmoLabel', 'list_patition_label.txt');
  assert.deepEqual(
    problems.map((p) => [p.kind, p.file, p.line, p.field]),
    [
      ['unknown-code', label, 5, 'label'],
      ['missing-file', label, 10, 'name'],
      ['bad-image', path.join(root, 'Image', 'aligned', 'test_0003_aligned.jpg'), undefined, undefined],
    ],
  );
  assert.match(problems[0].message, /'9' is not a RAF-DB basic code 1\.\.7 \(8\.\.11 occur only in the compound subset\)/);
  assert.equal(dataset!.samples.length, 21, 'every other line is read');
});

test('rafdb: a compound file is still refused, with what was seen; mixed names are weighed, not decided by one line', async () => {
  const root = await tempDir();
  const compound = ['train_0001.jpg 9', 'train_0002.jpg 3', 'train_0003.jpg 11', 'test_0001.jpg 2', 'train_00004.jpg 1'];
  await rafdb(root, compound, []);
  await assert.rejects(loadDataset(`rafdb:${root}`), /compound subset.*\(5 lines: 1 basic train names \(train_NNNNN\), 3 compound train names/);
  const basic = await tempDir();
  const names = ['train_00001.jpg 1', 'train_00002.jpg 2', 'train_0003.jpg 3', 'test_0001.jpg 4'];
  await rafdb(basic, names, ['train_00001_aligned.jpg', 'train_00002_aligned.jpg', 'test_0001_aligned.jpg']);
  const r = await checkDataset(`rafdb:${basic}`, { images: false });
  assert.equal(r.layout?.name, 'rafdb-basic');
  assert.deepEqual(r.problems.map((p) => [p.kind, p.line]), [['bad-line', 3]]);
  assert.match(r.problems[0].message, /5 digits.*compound-subset name/);
});

test('fer2013 csv: Usage splits, in-memory pixels decode, bad rows', async () => {
  const root = await tempDir();
  const px = (v: number) => Array(48 * 48).fill(v).join(' ');
  const csv = ['emotion,pixels,Usage', `0,${px(10)},Training`, `3,${px(200)},PublicTest`, `6,${px(90)},PrivateTest`, `7,${px(1)},Training`, `2,1 2 3,Training`, `1,${px(5)},Other`].join('\n');
  await writeText(path.join(root, 'fer2013.csv'), csv);
  const { dataset, problems } = await checkDataset(`fer2013:${root}`);
  assert.deepEqual(names(dataset!), { fer0000000: 'anger', fer0000001: 'happiness', fer0000002: 'neutral' });
  assert.deepEqual(dataset!.samples.map((s) => s.split), ['train', 'valid', 'test']);
  assert.deepEqual(problems.map((p) => [p.kind, p.line]), [['unknown-code', 5], ['wrong-size', 6], ['bad-line', 7]]);
  const rgb = await decodeImage(dataset!, dataset!.samples[1], 16);
  assert.equal(rgb.length, 16 * 16 * 3);
  assert.ok(rgb.every((v) => v === 200));
  await assert.rejects(loadDataset(`fer2013:${root}`), (e: unknown) => e instanceof DatasetError && e.line === 5);
  await writeText(path.join(root, 'fer2013.csv'), csv.split('\n').slice(0, 4).join('\n'));
  const test = await loadDataset(`fer2013:${path.join(root, 'fer2013.csv')}#test`);
  assert.deepEqual(test.samples.map((s) => s.id), ['fer0000002']);
});

test('affectnet current release: .npy codes (<i8, <U1, |u1), contempt, dropped and unknown codes', async () => {
  const root = await tempDir();
  const put = async (part: string, id: string, npy: Buffer | undefined, img = true) => {
    if (npy) await writeText(path.join(root, part, 'annotations', `${id}_exp.npy`), '');
    if (npy) await writeFile(path.join(root, part, 'annotations', `${id}_exp.npy`), npy);
    if (img) await writeGrey(path.join(root, part, 'images', `${id}.jpg`));
  };
  await put('train_set', '1', npyScalar('<i8', 1));
  await put('train_set', '2', npyScalar('<U1', '7'));
  await put('train_set', '3', npyScalar('|u1', 9)); // Uncertain: dropped quietly
  await put('train_set', '4', npyScalar('<i8', 12)); // not a code
  await put('train_set', '5', npyScalar('<i8', 3), false); // image missing
  await put('train_set', '6', npyScalar('<i8', 0).subarray(0, 20)); // truncated npy
  await put('val_set', '10', npyScalar('<i8', 6, 2));
  const { dataset, problems } = await checkDataset(`affectnet:${root}`, { images: false });
  assert.deepEqual(names(dataset!), { 'train_set/1': 'happiness', 'train_set/2': 'contempt', 'val_set/10': 'anger' });
  assert.equal(dataset!.samples.find((s) => s.id === 'val_set/10')!.split, 'test');
  assert.deepEqual(problems.map((p) => [p.kind, path.basename(p.file!)]).sort(), [
    ['bad-line', '6_exp.npy'], ['missing-file', '5_exp.npy'], ['unknown-code', '4_exp.npy'],
  ]);
  const seven = await loadDataset(`affectnet:${root}#val?classes=7`).catch((e: Error) => e);
  assert.ok(!(seven instanceof Error), String(seven));
  assert.deepEqual(names(seven as never), { 'val_set/10': 'anger' });
});

test('affectnet older csv release: codes 8..10 dropped, unknown code reported', async () => {
  const root = await tempDir();
  const head = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
  const row = (p: string, code: number) => `${p},0,0,10,10,"1;2;3",${code},0.1,0.2`;
  await writeText(path.join(root, 'training.csv'), [head, row('689/a.jpg', 2), row('689/b.jpg', 10), row('689/c.jpg', 8), row('12/d.jpg', 13)].join('\n'));
  await writeText(path.join(root, 'validation.csv'), [head, row('12/e.jpg', 5)].join('\n'));
  for (const f of ['689/a.jpg', '689/b.jpg', '12/e.jpg']) await writeGrey(path.join(root, 'Manually_Annotated_Images', f));
  const { dataset, problems } = await checkDataset(`affectnet:${root}`, { images: false });
  assert.deepEqual(names(dataset!), { '689/a.jpg': 'sadness', '12/e.jpg': 'disgust' });
  assert.deepEqual(problems.map((p) => [p.kind, p.line]), [['unknown-code', 5]]);
  await assert.rejects(loadDataset(`affectnet:${path.join(root, 'Manually_Annotated_Images')}`), /not an AffectNet folder/);
});

test('ckplus: subject-independent folds, duplicates, bad names', async () => {
  const root = await tempDir();
  const subjects = [5, 10, 11, 14, 22, 26, 29, 32, 34, 37];
  for (const s of subjects) {
    const sub = `S${String(s).padStart(3, '0')}`;
    for (let fr = 1; fr <= 3; fr++) await writeGrey(path.join(root, s % 2 ? 'happy' : 'anger', `${sub}_001_0000000${fr}.png`));
  }
  await writeGrey(path.join(root, 'contempt', 'S005_002_00000001.png'));
  const all = await loadDataset(`ckplus:${root}`);
  assert.equal(all.samples.length, 31);
  assert.equal(all.classes.length, 8);
  const subjectOf = (id: string) => id.split('_')[0];
  const testSubjects = new Set<string>();
  for (let k = 1; k <= 5; k++) {
    const ds = await loadDataset(`ckplus:${root}#fold${k}of5`);
    const train = new Set(ds.samples.filter((s) => s.split === 'train').map((s) => subjectOf(s.id)));
    const test = new Set(ds.samples.filter((s) => s.split === 'test').map((s) => subjectOf(s.id)));
    assert.equal(ds.samples.length, 31);
    assert.equal(test.size, 2, 'two of ten subjects per fold');
    for (const s of test) {
      assert.ok(!train.has(s), `subject ${s} in both train and test of fold ${k}`);
      testSubjects.add(s);
    }
  }
  assert.equal(testSubjects.size, 10, 'every subject is tested exactly once over the folds');
  const onlyTest = await loadDataset(`ckplus:${root}#fold2of5/test`);
  assert.ok(onlyTest.samples.length > 0 && onlyTest.samples.every((s) => s.split === 'test'));
  await assert.rejects(loadDataset(`ckplus:${root}#train`), /fold3of10/);
  await writeGrey(path.join(root, 'fear', 'S005_001_00000001.png')); // same frame under another class
  await writeGrey(path.join(root, 'fear', 'IMG_0001.png'));
  await writeGrey(path.join(root, 'happy', 'S005_001_00000001.jpg')); // same frame, same class, twice
  const { problems } = await checkDataset(`ckplus:${root}`, { images: false });
  assert.deepEqual(problems.map((p) => p.kind).sort(), ['bad-line', 'conflicting-label', 'duplicate-id']);
});

test('list files: 0-based canonical labels, root option, problems', async () => {
  const root = await tempDir();
  await writeGrey(path.join(root, 'imgs', 'a.png'));
  await writeGrey(path.join(root, 'imgs', 'b c.png'));
  await writeGrey(path.join(root, 'imgs', 'd.png'));
  await writeText(path.join(root, 'lists', 'train_list.txt'), ['imgs/a.png 3', 'imgs/b c.png 6', 'imgs/missing.png 0', 'imgs/d.png 9', 'imgs/a.png 3', 'nolabel'].join('\n'));
  const spec = `list:${path.join(root, 'lists', 'train_list.txt')}?root=${root}`;
  const { dataset, problems } = await checkDataset(spec, { images: false });
  assert.deepEqual(names(dataset!), { 'imgs/a.png': 'happiness', 'imgs/b c.png': 'neutral' });
  assert.ok(dataset!.samples.every((s) => s.split === 'train'), 'split from the list file name');
  assert.deepEqual(problems.map((p) => [p.kind, p.line]), [['missing-file', 3], ['unknown-code', 4], ['bad-line', 6], ['duplicate-id', 5]]);
});

test('checkDataset finds truncated and unreadable images; the CLI exits 1', async () => {
  const root = await tempDir();
  await writeGrey(path.join(root, 'happy', 'ok.png'));
  await writeTruncated(path.join(root, 'happy', 'cut.png'));
  await writeText(path.join(root, 'sad', 'text.jpg'), 'this is not a jpeg');
  const { dataset, problems } = await checkDataset(`folder:${root}`);
  assert.deepEqual(dataset?.samples.map((s) => s.id), ['happy/ok.png'], 'samples with a bad image are left out');
  assert.deepEqual(problems.map((p) => [p.kind, path.basename(p.file!), p.sample]), [['bad-image', 'cut.png', 'happy/cut.png'], ['not-image', 'text.jpg', 'sad/text.jpg']]);
  assert.equal((await loadDataset(`folder:${root}`)).samples.length, 3, 'loading does not decode');
  const log = console.log;
  const out: string[] = [];
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  try {
    assert.equal(await runDataCli(['check', `folder:${root}`]), 1);
    assert.equal(await runDataCli(['check', `folder:${root}`, '--no-images']), 0);
  } finally {
    console.log = log;
  }
  assert.ok(out.some((l) => /cut\.png: truncated or corrupt png/.test(l)), out.join('\n'));
  assert.ok(out.some((l) => /happiness/.test(l)));
});

test('symlinks leaving the root are refused unless the spec says ?symlinks=follow; listed paths outside never read', async () => {
  const root = await tempDir();
  const outside = await tempDir();
  await writeGrey(path.join(outside, 'far.png'));
  await writeGrey(path.join(root, 'happy', 'ok.png'));
  await symlink(path.join(outside, 'far.png'), path.join(root, 'happy', 'link.png'));
  await symlink(path.join(root, 'happy', 'ok.png'), path.join(root, 'happy', 'inside.png')); // inside: fine
  const refused = await checkDataset(`folder:${root}`);
  assert.deepEqual(refused.problems.map((p) => [p.kind, path.basename(p.file!)]), [['escapes-root', 'link.png']]);
  assert.deepEqual(refused.dataset!.samples.map((s) => s.id).sort(), ['happy/inside.png', 'happy/ok.png']);
  await assert.rejects(loadDataset(`folder:${root}`), /link\.png: symlink to .*outside the dataset root/);
  const followed = await checkDataset(`folder:${root}?symlinks=follow`);
  assert.deepEqual(followed.problems, []);
  assert.equal(followed.dataset!.samples.length, 3);
  await writeText(path.join(root, 'train.txt'), `${path.join(outside, 'far.png')} 3\n../${path.basename(outside)}/far.png 3\nhappy/link.png 3\n`);
  const list = await checkDataset(`list:${path.join(root, 'train.txt')}?symlinks=follow`);
  assert.deepEqual(list.problems.map((p) => [p.kind, p.line]), [['escapes-root', 1], ['escapes-root', 2]], 'a listed path outside the root is refused even when links are followed');
  await assert.rejects(loadDataset(`folder:${root}?symlinks=maybe`), /symlinks=maybe: expected follow or refuse/);
});

/** A valid 1-bit PNG of side x side pixels, deflated as a stream (never held raw in memory). */
async function bombPng(side: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // 1 bit per pixel, grey
  const row = Buffer.alloc(1 + Math.ceil(side / 8));
  const deflate = zlib.createDeflate({ level: 1 });
  const parts: Buffer[] = [];
  deflate.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  for (let y = 0; y < side; y++) if (!deflate.write(row)) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await done;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, pngChunk('IHDR', ihdr), pngChunk('IDAT', Buffer.concat(parts)), pngChunk('IEND', Buffer.alloc(0))]);
}

test('a decompression bomb (30000x30000 PNG, 0.9 gigapixel) is refused from its header: check and training decode stay in bounded memory', async () => {
  const root = await tempDir();
  await writeGrey(path.join(root, 'happy', 'ok.png'));
  const bomb = await bombPng(30000);
  assert.ok(bomb.length < 1024 * 1024, `the bomb is small on disk (${bomb.length} bytes)`);
  await writeFile(path.join(root, 'happy', 'bomb.png'), bomb);
  const before = process.resourceUsage().maxRSS; // peak resident set, KiB
  const { dataset, problems } = await checkDataset(`folder:${root}`);
  assert.deepEqual(problems.map((p) => [p.kind, path.basename(p.file!)]), [['huge-image', 'bomb.png']]);
  assert.match(problems[0].message, /30000x30000 png is over the 50 megapixel decode limit; not decoded/);
  assert.deepEqual(dataset!.samples.map((s) => s.id), ['happy/ok.png']);
  // Training's decoder refuses it too (it would need 900 MB as grey, 2.7 GB as RGB).
  const all = await loadDataset(`folder:${root}`);
  const sample = all.samples.find((s) => s.id === 'happy/bomb.png')!;
  await assert.rejects(decodeImage(all, sample, 64), (e: unknown) => e instanceof DatasetError && /pixel limit/i.test(e.message));
  const grew = (process.resourceUsage().maxRSS - before) / 1024;
  assert.ok(grew < 300, `peak memory grew by ${grew.toFixed(0)} MiB while checking and decoding the bomb`);
});

test('label lines: BOM, CRLF, a final newline or none, and one non-UTF-8 line reported on its own', () => {
  const lines = (b: Buffer) => splitLabelLines(b).map((l) => [l.line, l.text, !!l.badEncoding]);
  assert.deepEqual(lines(Buffer.from('\uFEFFa 1\r\nb 2\r\n')), [[1, 'a 1', false], [2, 'b 2', false]]);
  assert.deepEqual(lines(Buffer.from('a 1\n\nb 2')), [[1, 'a 1', false], [2, '', false], [3, 'b 2', false]]);
  assert.deepEqual(lines(Buffer.from('')), []);
  assert.deepEqual(lines(Buffer.from('\uFEFF')), []);
  const mixed = Buffer.concat([Buffer.from('ok 1\ncaf'), Buffer.from([0xe9]), Buffer.from('.png 2\nfine 3\n')]);
  assert.deepEqual(lines(mixed), [[1, 'ok 1', false], [2, 'caf\uFFFD.png 2', true], [3, 'fine 3', false]]);
  assert.equal(splitLabelLines(mixed)[1].raw?.toString('latin1'), 'caf\xe9.png 2');
});
