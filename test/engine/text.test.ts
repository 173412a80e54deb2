// Text-embedding sources other than CLIP: files (.json / .npy), the stand-in, and source dispatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveTextEmbeddings, writeTextEmbeddingsJson, type TextEmbeddings } from '../../src/engine/text/index.js';
import { promptFor } from '../../src/engine/text/prompts.js';
import { seededOrthonormal, standinFeatures, standinTextEmbeddings, STANDIN_DIM, WARRINER_VAD } from '../../src/engine/text/standin.js';
import { encodeNpy, npyToFloat64, parseNpy } from '../../src/engine/util/npy.js';

const C7 = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];

// Written by numpy 2.4 (np.save): a (2,3) float32 C-order array and a (2,2) float64 Fortran-order one.
const NPY_F4 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/AAAAwAAAQEAAAIBAAACgQAAAyEA=';
const NPY_FORTRAN = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAADwPwAAAAAAAAhAAAAAAAAAAEAAAAAAAAAQQA==';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-text-'));
}

function cos(e: TextEmbeddings, a: string, b: string): number {
  const row = (n: string) => e.matrix.subarray(e.classes.indexOf(n) * e.dim, (e.classes.indexOf(n) + 1) * e.dim);
  const x = row(a);
  const y = row(b);
  let d = 0, nx = 0, ny = 0;
  for (let i = 0; i < e.dim; i++) { d += x[i] * y[i]; nx += x[i] ** 2; ny += y[i] ** 2; }
  return d / Math.sqrt(nx * ny);
}

test('npy: parses numpy-written float32 and rejects fortran order; encodeNpy round-trips', () => {
  const a = parseNpy(Buffer.from(NPY_F4, 'base64'));
  assert.equal(a.dtype, '<f4');
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(Array.from(npyToFloat64(a)), [1.5, -2, 3, 4, 5, 6.25]);
  assert.throws(() => npyToFloat64(parseNpy(Buffer.from(NPY_FORTRAN, 'base64'), 'f.npy'), 'f.npy'), /f\.npy: fortran_order/);
  assert.throws(() => parseNpy(Buffer.from('not numpy at all'), 'x.npy'), /x\.npy: not a \.npy file/);
  const f8 = Float64Array.from([1, 2, 3, 4, 5, 6]);
  const back = parseNpy(encodeNpy(f8, [3, 2]));
  assert.equal(back.dtype, '<f8');
  assert.deepEqual(back.shape, [3, 2]);
  assert.deepEqual(Array.from(npyToFloat64(back)), Array.from(f8));
  assert.throws(() => parseNpy(encodeNpy(f8, [3, 2]).subarray(0, 100), 't.npy'), /truncated/);
});

test('stand-in: 512-d, deterministic, labelled as not CLIP, cosines follow affective similarity', async () => {
  const logs: string[] = [];
  const e = await resolveTextEmbeddings('standin', C7, { log: (m) => logs.push(m) });
  assert.equal(e.dim, STANDIN_DIM);
  assert.equal(e.matrix.length, 7 * 512);
  assert.equal(e.source.kind, 'standin');
  assert.match(e.source.description, /stand-in, not CLIP/);
  assert.doesNotMatch(e.source.model, /clip/i);
  assert.match(e.source.model, /Warriner/);
  assert.deepEqual(e.prompts, C7.map(promptFor));
  assert.match(logs[0], /stand-in, not CLIP/);
  const again = standinTextEmbeddings(C7, e.prompts);
  assert.deepEqual(Array.from(again.matrix), Array.from(e.matrix));
  // Negative emotions cluster; happiness is nearer surprise than sadness; classes stay distinct.
  assert.ok(cos(e, 'anger', 'fear') > cos(e, 'anger', 'happiness'));
  assert.ok(cos(e, 'anger', 'disgust') > cos(e, 'anger', 'surprise'));
  assert.ok(cos(e, 'happiness', 'surprise') > cos(e, 'happiness', 'sadness'));
  assert.ok(cos(e, 'sadness', 'fear') > cos(e, 'sadness', 'happiness'));
  for (const a of C7) for (const b of C7) if (a !== b) assert.ok(cos(e, a, b) < 0.95, `${a}/${b} too close`);
  // The lift is orthonormal, so the 512-d cosines equal the cosines of the small feature vectors.
  const fa = standinFeatures('anger');
  const ff = standinFeatures('fear');
  const fc = fa.reduce((s, v, i) => s + v * ff[i], 0) / Math.sqrt(fa.reduce((s, v) => s + v * v, 0) * ff.reduce((s, v) => s + v * v, 0));
  assert.ok(Math.abs(cos(e, 'anger', 'fear') - fc) < 1e-5);
  const q = seededOrthonormal(64, 5, 1);
  for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) {
    const d = q[i].reduce((s, v, t) => s + v * q[j][t], 0);
    assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-9);
  }
  // Rows do not depend on which other classes were asked for; aliases map to canonical names.
  const sub = standinTextEmbeddings(['contempt', 'angry'], ['', '']);
  assert.deepEqual(Array.from(sub.matrix.subarray(512)), Array.from(e.matrix.subarray(5 * 512, 6 * 512)));
  assert.equal(WARRINER_VAD.happiness[0], 8.48);
  assert.throws(() => standinTextEmbeddings(['boredom'], ['']), /no affective norms for class "boredom"/);
});

test('JSON file: write, share, reload by name in another order; a stand-in file stays a stand-in', async () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'emb.json');
    const st = standinTextEmbeddings(C7, C7.map(promptFor));
    writeTextEmbeddingsJson(file, st);
    assert.deepEqual(fs.readdirSync(dir), ['emb.json'], 'no temp file left');
    const order = ['neutral', 'happiness', 'anger'];
    const e = await resolveTextEmbeddings(`file:${file}`, order);
    assert.equal(e.source.kind, 'file');
    assert.equal(e.source.origin, 'standin');
    assert.equal(e.source.file, file);
    assert.match(e.source.description, /stand-in, not CLIP/);
    assert.deepEqual(e.prompts, order.map(promptFor));
    order.forEach((c, k) => {
      const src = st.matrix.subarray(C7.indexOf(c) * 512, (C7.indexOf(c) + 1) * 512);
      assert.deepEqual(Array.from(e.matrix.subarray(k * 512, (k + 1) * 512)), Array.from(src), c);
    });
    // A bare path ending in .json is a file source too.
    assert.equal((await resolveTextEmbeddings(file, ['fear'])).source.kind, 'file');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('JSON file: hand-written CLIP file with the minimal keys; clear errors for bad content', async () => {
  const dir = tmpDir();
  try {
    const good = path.join(dir, 'clip.json');
    fs.writeFileSync(good, JSON.stringify({ classes: ['Happy', 'sad'], prompts: ['p1', 'p2'], embeddings: [[1, 0, 0], [0, 1, 0]], model: 'openai/clip-vit-base-patch16', source: { kind: 'clip' } }));
    const e = await resolveTextEmbeddings(good, ['sadness', 'happiness']);
    assert.deepEqual(Array.from(e.matrix), [0, 1, 0, 1, 0, 0]);
    assert.deepEqual(e.prompts, ['p2', 'p1']);
    assert.equal(e.source.origin, 'clip');
    assert.equal(e.source.model, 'openai/clip-vit-base-patch16');
    await assert.rejects(resolveTextEmbeddings(good, ['sadness', 'contempt']), (err: Error) => err.message.includes(good) && /no embedding for class "contempt"/.test(err.message));
    const write = (name: string, body: unknown) => { const p = path.join(dir, name); fs.writeFileSync(p, JSON.stringify(body)); return p; };
    const ragged = write('ragged.json', { classes: ['fear', 'anger'], embeddings: [[1, 2], [3]] });
    await assert.rejects(resolveTextEmbeddings(ragged, ['fear']), /ragged\.json: row 1 has 1 values, row 0 has 2/);
    const nan = write('nan.json', { classes: ['fear'], embeddings: [[1, null]] });
    await assert.rejects(resolveTextEmbeddings(nan, ['fear']), /nan\.json: row 0 value 1 is not finite/);
    const count = write('count.json', { classes: ['fear', 'anger'], embeddings: [[1, 2]] });
    await assert.rejects(resolveTextEmbeddings(count, ['fear']), /2 classes but 1 embedding rows/);
    const dup = write('dup.json', { classes: ['fear', 'afraid'], embeddings: [[1], [2]] });
    await assert.rejects(resolveTextEmbeddings(dup, ['fear']), /appears twice/);
    await assert.rejects(resolveTextEmbeddings(path.join(dir, 'nope.json'), ['fear']), /not found/);
    await assert.rejects(resolveTextEmbeddings('word2vec', ['fear']), /Unknown text embedding source/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('.npy file: names from a sidecar .json, or the caller order when there is none', async () => {
  const dir = tmpDir();
  try {
    const npy = path.join(dir, 'emb.npy');
    fs.writeFileSync(npy, encodeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]));
    const logs: string[] = [];
    const plain = await resolveTextEmbeddings(`file:${npy}`, ['fear', 'anger', 'neutral'], { log: (m) => logs.push(m) });
    assert.deepEqual(Array.from(plain.matrix), [1, 2, 3, 4, 5, 6]);
    assert.equal(plain.source.origin, 'unknown');
    assert.match(logs.join('\n'), /no sidecar \.json/);
    await assert.rejects(resolveTextEmbeddings(npy, ['fear', 'anger']), /3 rows but 2 classes requested/);
    fs.writeFileSync(path.join(dir, 'emb.json'), JSON.stringify({ classes: ['neutral', 'fear', 'anger'], source: { kind: 'clip', model: 'm' } }));
    const named = await resolveTextEmbeddings(npy, ['anger', 'neutral']);
    assert.deepEqual(Array.from(named.matrix), [5, 6, 1, 2]);
    assert.equal(named.source.origin, 'clip');
    // float64 and numpy's own header layout.
    fs.writeFileSync(npy, Buffer.from(NPY_F4, 'base64'));
    fs.writeFileSync(path.join(dir, 'emb.json'), JSON.stringify({ classes: ['a', 'b'] }));
    await assert.rejects(resolveTextEmbeddings(npy, ['fear']), /no embedding for class "fear"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
