// Frozen-encoder features v for a whole dataset, computed once with onnxruntime and cached on disk.
// Cache key: sha256 of the checkpoint's model.safetensors (one file per checkpoint) and, per row, a
// content hash of the image bytes, so moved or renamed files stay hits and edited images are recomputed.
// File: <cacheDir>/<ckpt sha256[:16]>.feat = u32 header length | JSON {dim, hashes[]} | float32 rows.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createImageCache, mapLimit } from '../data/decode.js';
import type { Dataset, Sample } from '../data/types.js';
import { evalBatches } from '../data/batches.js';
import { openOnnxCheckpoint, runBatch, type SessionOptions } from './runtime.js';

export interface FeatureOptions extends SessionOptions {
  /** Default: <checkpointDir>/feature-cache. */
  cacheDir?: string;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface FeatureResult {
  /** [N, dim] in dataset order. */
  features: Float32Array;
  dim: number;
  checkpointSha256: string;
  /** Rows served from the cache / computed now. */
  hits: number;
  computed: number;
  cacheFile: string;
}

const HASH_BYTES = 16; // 128-bit content hashes: collisions are not a practical concern at 1e6 images

/** Content hash of a sample's image (file bytes, or the in-memory pixels for csv-backed formats). */
export async function sampleHash(dataset: Dataset, sample: Sample): Promise<string> {
  const h = createHash('sha256');
  if (sample.pixels) h.update(`${sample.pixels.width}x${sample.pixels.height}x${sample.pixels.channels}:`).update(sample.pixels.data);
  else h.update(await readFile(path.join(dataset.root, sample.path)));
  return h.digest('hex').slice(0, HASH_BYTES * 2);
}

interface CacheContents {
  dim: number;
  rows: Map<string, Float32Array>;
}

async function readCache(file: string): Promise<CacheContents | null> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return null;
  }
  try {
    const hl = buf.readUInt32LE(0);
    const head = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as { dim: number; hashes: string[] };
    const off = 4 + hl;
    // Copy to an aligned buffer: a Float32Array view needs a 4-byte-aligned offset.
    const all = new Float32Array(head.hashes.length * head.dim);
    if (buf.length !== off + all.byteLength) return null;
    new Uint8Array(all.buffer).set(buf.subarray(off, off + all.byteLength));
    const rows = new Map<string, Float32Array>();
    head.hashes.forEach((h, i) => rows.set(h, all.subarray(i * head.dim, (i + 1) * head.dim)));
    return { dim: head.dim, rows };
  } catch {
    return null; // a corrupt cache is recomputed, never trusted
  }
}

async function writeCache(file: string, dim: number, rows: Map<string, Float32Array>): Promise<void> {
  const hashes = [...rows.keys()];
  const head = Buffer.from(JSON.stringify({ dim, hashes }), 'utf8');
  const data = new Float32Array(hashes.length * dim);
  hashes.forEach((h, i) => data.set(rows.get(h)!, i * dim));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(head.length, 0);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, Buffer.concat([len, head, Buffer.from(data.buffer)]));
  await rename(tmp, file);
}

/** Features v of every sample (dataset order), computing only the images the cache does not hold. */
export async function computeFeatures(checkpointDir: string, dataset: Dataset, opts: FeatureOptions = {}): Promise<FeatureResult> {
  const ck = await openOnnxCheckpoint(checkpointDir, opts);
  try {
    const dim = ck.config.featureDim ?? 512;
    const cacheFile = path.join(opts.cacheDir ?? path.join(checkpointDir, 'feature-cache'), `${ck.checkpointSha256.slice(0, 16)}.feat`);
    const hashes = await mapLimit(dataset.samples, 16, (s) => sampleHash(dataset, s));
    const cache = (await readCache(cacheFile)) ?? { dim, rows: new Map<string, Float32Array>() };
    if (cache.dim !== dim) cache.rows.clear();
    const missing = dataset.samples.map((_, i) => i).filter((i) => !cache.rows.has(hashes[i]));
    const N = dataset.samples.length;
    const hits = N - missing.length;
    if (missing.length > 0) {
      const sub: Dataset = { ...dataset, samples: missing.map((i) => dataset.samples[i]) };
      const images = createImageCache(sub, ck.config.inputSize, { maxBytes: 0, concurrency: 8 });
      for await (const b of evalBatches(sub, images, { mean: ck.config.mean, std: ck.config.std }, opts.batchSize ?? 64, opts.signal)) {
        const { v } = await runBatch(ck.session.session, b.x, b.indices.length, ck.config.inputSize);
        b.indices.forEach((j, r) => cache.rows.set(hashes[missing[j]], v.slice(r * dim, (r + 1) * dim)));
        opts.onProgress?.(hits + b.start + b.indices.length, N);
      }
      await writeCache(cacheFile, dim, cache.rows);
    } else {
      opts.onProgress?.(N, N);
    }
    const features = new Float32Array(N * dim);
    hashes.forEach((h, i) => features.set(cache.rows.get(h)!, i * dim));
    return { features, dim, checkpointSha256: ck.checkpointSha256, hits, computed: missing.length, cacheFile };
  } finally {
    await ck.release();
  }
}
