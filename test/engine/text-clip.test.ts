// CLIP path end to end on a TINY text encoder the test writes itself (no CLIP weights exist here):
// token embedding (Gather) + position embedding + LayerNorm + gather at argmax(input_ids) (the EOT
// token, highest id) + projection, exported with onnx-proto and run by the real onnxruntime-node code.
// Also the downloader, against a fake fetch serving those tiny files.
import { test } from 'node:test';
import { Rng } from '../../src/engine/util/rng.js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { resolveTextEmbeddings } from '../../src/engine/text/index.js';
import { promptFor } from '../../src/engine/text/prompts.js';
import { COMPLETE_MARKER, downloadClipModel, modelCacheDir, type DownloadProgress, type FetchLike } from '../../src/engine/text/download.js';
import { CLIP_CONTEXT_LENGTH, clipTokenizerFromBpeGz, clipTokenizerJson, readClipBpeMerges, sharedClipBpePath } from '../../src/engine/text/tokenizer.js';

const VOCAB = 49408;
const WIDTH = 8;
const DIM = 6;
const CLASSES = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];
const gz = sharedClipBpePath();
const skip = gz ? false : 'CLIP vocab not found ($KEFER_SHARED_DATA/clip/bpe_simple_vocab_16e6.txt.gz)';

/** Uniform in [-1, 1) from the project's seeded PRNG. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next() * 2 - 1;
}

interface Tiny {
  tok: Float32Array;
  pos: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  proj: Float32Array;
}

function tinyWeights(seed: number): Tiny {
  const r = rng(seed);
  const fill = (n: number, s = 1) => Float32Array.from({ length: n }, () => r() * s);
  return { tok: fill(VOCAB * WIDTH), pos: fill(CLIP_CONTEXT_LENGTH * WIDTH, 0.5), gamma: fill(WIDTH), beta: fill(WIDTH, 0.1), proj: fill(WIDTH * DIM) };
}

function tinyOnnx(w: Tiny): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const I64 = onnx.TensorProto.DataType.INT64;
  const init = (name: string, dims: number[], data: Float32Array) => ({ name, dims, dataType: F, rawData: new Uint8Array(data.buffer.slice(0)) });
  const vi = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const graph = onnx.GraphProto.create({
    name: 'tiny_clip_text',
    input: [vi('input_ids', I64, ['batch', CLIP_CONTEXT_LENGTH])],
    output: [vi('text_embeds', F, ['batch', DIM])],
    initializer: [
      init('tok_emb', [VOCAB, WIDTH], w.tok),
      init('pos_emb', [CLIP_CONTEXT_LENGTH, WIDTH], w.pos),
      init('ln_g', [WIDTH], w.gamma),
      init('ln_b', [WIDTH], w.beta),
      init('proj', [WIDTH, DIM], w.proj),
      { name: 'axes1', dims: [1], dataType: I64, int64Data: [1] },
    ],
    node: [
      { opType: 'Gather', input: ['tok_emb', 'input_ids'], output: ['x0'] },
      { opType: 'Add', input: ['x0', 'pos_emb'], output: ['x1'] },
      {
        opType: 'LayerNormalization', input: ['x1', 'ln_g', 'ln_b'], output: ['x2'],
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }, { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1e-5 }],
      },
      { opType: 'ArgMax', input: ['input_ids'], output: ['eot'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }, { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
      { opType: 'Unsqueeze', input: ['eot', 'axes1'], output: ['eot2'] },
      { opType: 'GatherND', input: ['x2', 'eot2'], output: ['x3'], attribute: [{ name: 'batch_dims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      { opType: 'MatMul', input: ['x3', 'proj'], output: ['text_embeds'] },
    ],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 'kefer-test', graph });
  return onnx.ModelProto.encode(model).finish();
}

/** The same tiny network in plain JS, on token ids, for the comparison. */
function tinyForward(w: Tiny, ids: number[]): Float64Array {
  let eot = 0;
  ids.forEach((v, i) => { if (v > ids[eot]) eot = i; });
  const x = Array.from({ length: WIDTH }, (_, c) => w.tok[ids[eot] * WIDTH + c] + w.pos[eot * WIDTH + c]);
  const mean = x.reduce((a, b) => a + b, 0) / WIDTH;
  const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / WIDTH;
  const y = x.map((xc, c) => ((xc - mean) / Math.sqrt(v + 1e-5)) * w.gamma[c] + w.beta[c]);
  const out = new Float64Array(DIM);
  for (let d = 0; d < DIM; d++) for (let c = 0; c < WIDTH; c++) out[d] += y[c] * w.proj[c * DIM + d];
  return out;
}

/** Writes a hub-layout model dir: onnx/text_model.onnx + tokenizer.json. */
function writeTinyModelDir(dir: string, w: Tiny): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {
    'onnx/text_model.onnx': tinyOnnx(w),
    // Without the shared vocab only byte transfer is tested, so a placeholder tokenizer.json will do.
    'tokenizer.json': Buffer.from(gz ? JSON.stringify(clipTokenizerJson(readClipBpeMerges(gz))) : '{}'),
  };
  for (const [p, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), data);
  }
  return files;
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

test('clip:<dir> runs the ONNX text encoder and matches an independent JS forward pass to 1e-5', { skip }, async () => {
  const dir = tmp('kefer-clip-');
  try {
    const w = tinyWeights(7);
    writeTinyModelDir(dir, w);
    const logs: string[] = [];
    const emb = await resolveTextEmbeddings(`clip:${dir}`, CLASSES, { log: (m) => logs.push(m) });
    assert.equal(emb.source.kind, 'clip');
    assert.equal(emb.dim, DIM);
    assert.deepEqual(emb.prompts, CLASSES.map(promptFor));
    const tok = clipTokenizerFromBpeGz(gz!);
    CLASSES.forEach((c, k) => {
      const want = tinyForward(w, tok.encode(promptFor(c)).concat(Array(77).fill(0)).slice(0, 77));
      for (let d = 0; d < DIM; d++) assert.ok(Math.abs(emb.matrix[k * DIM + d] - want[d]) < 1e-5, `${c}[${d}]: ${emb.matrix[k * DIM + d]} vs ${want[d]}`);
    });
    // Computed once and cached next to the model; the second call reads the cache.
    assert.ok(emb.source.file && fs.existsSync(emb.source.file));
    assert.ok(emb.source.file.startsWith(path.join(dir, 'kefer-text-embeddings')));
    const again = await resolveTextEmbeddings(`clip:${dir}`, CLASSES, { log: (m) => logs.push(m) });
    assert.equal(again.source.kind, 'clip');
    assert.deepEqual(Array.from(again.matrix), Array.from(emb.matrix));
    assert.match(logs.at(-1)!, /cached in/);
    // A different class set (different prompts) is a different cache entry, in the requested order.
    const sub = await resolveTextEmbeddings(`clip:${dir}`, ['neutral', 'anger'], {});
    assert.deepEqual(Array.from(sub.matrix.subarray(0, DIM)), Array.from(emb.matrix.subarray(6 * DIM, 7 * DIM)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- downloader with a fake fetch -------------------------------------------------------------------

function fakeFetch(files: Record<string, Uint8Array>, opts: { failFile?: string; chunk?: number } = {}) {
  const calls: string[] = [];
  const impl: FetchLike = async (url) => {
    calls.push(url);
    const rel = url.split('/resolve/main/')[1];
    const data = files[rel];
    if (!data) return new Response('not found', { status: 404, statusText: 'Not Found' });
    const chunk = opts.chunk ?? 4096;
    let off = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (rel === opts.failFile && off > 0) return ctrl.error(new Error('connection reset'));
        if (off >= data.length) return ctrl.close();
        ctrl.enqueue(data.slice(off, off + chunk));
        off += chunk;
      },
    });
    return new Response(body, { status: 200, headers: { 'content-length': String(data.length) } });
  };
  return { impl, calls };
}

test('downloadClipModel: hub layout, progress, atomic files, cache hit without network', { skip }, async () => {
  const src = tmp('kefer-hub-');
  const cache = tmp('kefer-cache-');
  try {
    const files = writeTinyModelDir(src, tinyWeights(11));
    const { impl, calls } = fakeFetch(files);
    const progress: DownloadProgress[] = [];
    const dir = await downloadClipModel('tiny/clip-text', cache, impl, { onProgress: (p) => progress.push(p) });
    assert.equal(dir, modelCacheDir(cache, 'tiny/clip-text'));
    assert.ok(calls.every((u) => u.startsWith('https://huggingface.co/tiny/clip-text/resolve/main/')));
    for (const [p, data] of Object.entries(files)) assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(dir, p))), new Uint8Array(data));
    assert.ok(fs.existsSync(path.join(dir, COMPLETE_MARKER)));
    const onnxProg = progress.filter((p) => p.file === 'onnx/text_model.onnx');
    assert.ok(onnxProg.length > 1);
    assert.equal(onnxProg.at(-1)!.received, files['onnx/text_model.onnx'].length);
    assert.equal(onnxProg.at(-1)!.total, files['onnx/text_model.onnx'].length);
    // Optional files that the hub lacks (404) are skipped, not errors.
    assert.ok(calls.some((u) => u.endsWith('tokenizer_config.json')));
    const n = calls.length;
    await downloadClipModel('tiny/clip-text', cache, impl);
    assert.equal(calls.length, n, 'second call must not fetch');
    // And the whole resolve path works from the cache (model id -> cache dir), with no fetch at all.
    const noNet: FetchLike = async () => { throw new Error('must not fetch'); };
    const emb = await resolveTextEmbeddings('clip:tiny/clip-text', CLASSES, { cacheDir: cache, fetchImpl: noNet });
    assert.equal(emb.source.kind, 'clip');
    assert.match(emb.source.model, /tiny\/clip-text/);
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('downloadClipModel: a fetch failing midway leaves no partial file; the retry completes', async () => {
  const src = tmp('kefer-hub-');
  const cache = tmp('kefer-cache-');
  try {
    const files = writeTinyModelDir(src, tinyWeights(12));
    const bad = fakeFetch(files, { failFile: 'onnx/text_model.onnx' });
    await assert.rejects(downloadClipModel('tiny/m', cache, bad.impl), /broke off after 4096 bytes.*connection reset/);
    const dir = modelCacheDir(cache, 'tiny/m');
    const left = fs.existsSync(path.join(dir, 'onnx')) ? fs.readdirSync(path.join(dir, 'onnx')) : [];
    assert.deepEqual(left, [], 'no text_model.onnx and no .part file');
    assert.ok(!fs.existsSync(path.join(dir, COMPLETE_MARKER)));
    const good = fakeFetch(files);
    await downloadClipModel('tiny/m', cache, good.impl);
    assert.equal(fs.statSync(path.join(dir, 'onnx/text_model.onnx')).size, files['onnx/text_model.onnx'].length);
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('downloadClipModel: truncated body and sha256 mismatch are rejected', async () => {
  const cache = tmp('kefer-cache-');
  try {
    const data = new Uint8Array(10000).fill(3);
    const short: FetchLike = async () => new Response(data.slice(0, 5000), { headers: { 'x-linked-size': '10000' } });
    await assert.rejects(downloadClipModel('t/a', cache, short, { files: [{ path: 'x.bin', required: true }] }), /incomplete: 5000 of 10000/);
    const wrongSha: FetchLike = async () => new Response(data, { headers: { 'x-linked-etag': `"${'0'.repeat(64)}"` } });
    await assert.rejects(downloadClipModel('t/b', cache, wrongSha, { files: [{ path: 'x.bin', required: true }] }), /corrupt: sha256/);
    assert.ok(!fs.existsSync(path.join(modelCacheDir(cache, 't/b'), 'x.bin')));
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('offline: a clear error that says what to do instead', async () => {
  const cache = tmp('kefer-cache-');
  try {
    const offline: FetchLike = async () => { throw new TypeError('fetch failed', { cause: { code: 'ENOTFOUND' } }); };
    await assert.rejects(
      resolveTextEmbeddings('clip', CLASSES, { cacheDir: cache, fetchImpl: offline }),
      (e: Error) => /network is unreachable \(ENOTFOUND\)/.test(e.message) && /standin/.test(e.message) && /file:/.test(e.message),
    );
    // 'auto' never downloads: with nothing cached it falls back to the labelled stand-in.
    const logs: string[] = [];
    const emb = await resolveTextEmbeddings('auto', CLASSES, { cacheDir: cache, fetchImpl: offline, log: (m) => logs.push(m) });
    assert.equal(emb.source.kind, 'standin');
    assert.match(logs.join('\n'), /WARNING: no CLIP model cached/);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
