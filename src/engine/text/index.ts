// Resolves the class text embeddings t_k for a run. Sources:
//   file:PATH | PATH.json | PATH.npy   precomputed embeddings
//   clip | clip:MODEL_ID | clip:DIR     CLIP text encoder (ONNX); downloads MODEL_ID once into the cache
//   standin                             Warriner VAD stand-in (never described as CLIP)
//   auto (default)                      clip if a CLIP model is already cached, else standin + warning
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findTextModel, loadClipTextEncoder } from './clipOnnx.js';
import { DEFAULT_CLIP_MODEL, defaultClipCacheDir, downloadClipModel, isModelComplete, modelCacheDir, type FetchLike } from './download.js';
import { readTextEmbeddingsFile, writeTextEmbeddingsJson } from './fileSource.js';
import { promptFor } from './prompts.js';
import { standinTextEmbeddings } from './standin.js';
import { loadClipTokenizer, sharedClipBpePath } from './tokenizer.js';
import type { TextEmbeddings } from './types.js';

export type { TextEmbeddings, TextSourceInfo } from './types.js';
export { writeTextEmbeddingsJson, readTextEmbeddingsFile } from './fileSource.js';
export { downloadClipModel, DEFAULT_CLIP_MODEL, defaultClipCacheDir } from './download.js';
export { standinTextEmbeddings } from './standin.js';
export { promptFor, PROMPT_TEMPLATE } from './prompts.js';


export interface ResolveOptions {
  /** CLIP model cache (default ~/.cache/kefer/clip). */
  cacheDir?: string;
  log?: (m: string) => void;
  /** Test seam for the downloader. */
  fetchImpl?: FetchLike;
}

/** Cache key: the model file (size + mtime, cheap for a ~250 MB file) and the exact prompts. */
function embeddingCachePath(modelDir: string, onnxPath: string, prompts: string[]): string {
  const st = fs.statSync(onnxPath);
  const key = createHash('sha256').update(JSON.stringify({ onnx: path.relative(modelDir, onnxPath), size: st.size, mtime: st.mtimeMs, prompts })).digest('hex');
  return path.join(modelDir, 'kefer-text-embeddings', `${key.slice(0, 16)}.json`);
}

async function clipEmbeddings(modelDir: string, label: string, classes: string[], log: (m: string) => void): Promise<TextEmbeddings> {
  const onnxPath = findTextModel(modelDir);
  if (!onnxPath) throw new Error(`No ONNX text model in ${modelDir} (looked for onnx/text_model.onnx, text_model.onnx, model.onnx)`);
  const prompts = classes.map(promptFor);
  const cached = embeddingCachePath(modelDir, onnxPath, prompts);
  const model = `${label} (ONNX)`;
  if (fs.existsSync(cached)) {
    const emb = readTextEmbeddingsFile(cached, classes);
    log(`Text embeddings: CLIP ${label}, cached in ${cached}`);
    return { ...emb, source: { kind: 'clip', model, description: `CLIP text encoder ${label}, computed once and cached`, file: cached } };
  }
  const tokenizer = loadClipTokenizer(modelDir, sharedClipBpePath());
  const ids = tokenizer.encodeBatch(prompts);
  const encoder = await loadClipTextEncoder(onnxPath);
  try {
    const { embeds, dim } = await encoder.encode(ids, prompts.length);
    const emb: TextEmbeddings = {
      classes: [...classes],
      prompts,
      matrix: embeds,
      dim,
      source: { kind: 'clip', model, description: `CLIP text encoder ${label}`, file: cached },
    };
    for (const v of embeds) if (!Number.isFinite(v)) throw new Error(`${onnxPath}: text encoder produced non-finite values`);
    writeTextEmbeddingsJson(cached, emb);
    log(`Text embeddings: CLIP ${label}, ${classes.length} x ${dim}, cached in ${cached}`);
    return emb;
  } finally {
    await encoder.release();
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Resolves `source` (see the header) to embeddings for `classes`, in that order. */
export async function resolveTextEmbeddings(
  source: string,
  classes: string[],
  opts: ResolveOptions = {},
): Promise<TextEmbeddings> {
  const log = opts.log ?? (() => {});
  const cacheDir = opts.cacheDir ?? defaultClipCacheDir();
  const src = source.trim() || 'auto';
  if (classes.length === 0) throw new Error('resolveTextEmbeddings: no classes');

  if (src.startsWith('file:') || /\.(json|npy)$/i.test(src)) {
    const file = src.startsWith('file:') ? src.slice(5) : src;
    const emb = readTextEmbeddingsFile(file, classes, log);
    log(`Text embeddings: ${emb.source.description}`);
    return emb;
  }
  if (src === 'standin') {
    const emb = standinTextEmbeddings(classes, classes.map(promptFor));
    log(`Text embeddings: ${emb.source.description}`);
    return emb;
  }
  if (src === 'auto') {
    const dir = modelCacheDir(cacheDir, DEFAULT_CLIP_MODEL);
    if (isModelComplete(dir) && findTextModel(dir)) return clipEmbeddings(dir, DEFAULT_CLIP_MODEL, classes, log);
    const emb = standinTextEmbeddings(classes, classes.map(promptFor));
    log(
      `WARNING: no CLIP model cached in ${cacheDir}; using ${emb.source.description}. ` +
        `Run with --text clip (downloads ${DEFAULT_CLIP_MODEL} once) for the paper's text embeddings.`,
    );
    return emb;
  }
  if (src === 'clip' || src.startsWith('clip:')) {
    const target = src === 'clip' ? DEFAULT_CLIP_MODEL : src.slice(5);
    if (isDir(target)) return clipEmbeddings(target, path.resolve(target), classes, log);
    const dir = await downloadClipModel(target, cacheDir, opts.fetchImpl ?? fetch, {
      log,
      onProgress: (() => {
        let lastPct = -10;
        return (p) => {
          if (!p.total) return;
          const pct = Math.floor((100 * p.received) / p.total);
          if (pct >= lastPct + 10) {
            lastPct = pct;
            log(`  ${p.file}: ${pct}%`);
          }
        };
      })(),
    });
    return clipEmbeddings(dir, target, classes, log);
  }
  throw new Error(`Unknown text embedding source "${source}" (use auto, clip, clip:MODEL_OR_DIR, standin, file:PATH)`);
}
