// Downloads a CLIP text encoder (ONNX) + tokenizer files from a Hugging Face hub layout into a local
// cache. Needed because no npm package or reachable mirror ships CLIP weights; a user downloads once.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The paper's text encoder, CLIP ViT-B/16, as an ONNX export with the projection (text_embeds). */
export const DEFAULT_CLIP_MODEL = 'Xenova/clip-vit-base-patch16';
export const HF_ENDPOINT = 'https://huggingface.co';

export interface HubFile {
  path: string;
  required: boolean;
  /** Expected size / sha256 when known in advance; otherwise taken from the hub's LFS headers. */
  size?: number;
  sha256?: string;
}

export const CLIP_TEXT_FILES: HubFile[] = [
  { path: 'onnx/text_model.onnx', required: true },
  { path: 'tokenizer.json', required: true },
  { path: 'tokenizer_config.json', required: false },
  { path: 'config.json', required: false },
];

/** Marker written last: its presence means every required file arrived and was checked. */
export const COMPLETE_MARKER = '.kefer-complete.json';

export interface DownloadProgress {
  file: string;
  received: number;
  /** Total bytes when the server said so. */
  total?: number;
}

export interface DownloadOptions {
  onProgress?: (p: DownloadProgress) => void;
  files?: HubFile[];
  revision?: string;
  endpoint?: string;
  log?: (m: string) => void;
}

export type FetchLike = (url: string, init?: { signal?: AbortSignal }) => Promise<Response>;

/** ~/.cache/kefer/clip (honours XDG_CACHE_HOME). */
export function defaultClipCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'kefer', 'clip');
}

/** Where a hub model id lives inside the cache ("owner/name" -> "owner--name"). */
export function modelCacheDir(cacheDir: string, modelId: string): string {
  return path.join(cacheDir, modelId.replace(/[\\/]/g, '--'));
}

export function isModelComplete(dir: string): boolean {
  return fs.existsSync(path.join(dir, COMPLETE_MARKER));
}

function offlineError(url: string, e: unknown): Error {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  const why = cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
  return new Error(
    `Cannot download ${url}: the network is unreachable (${why}). The CLIP text encoder must be ` +
      `downloaded once on a machine with internet access (it is then cached), or pass a local model ` +
      `directory (clip:/path/to/model), precomputed embeddings (file:emb.json) or 'standin' (not CLIP).`,
  );
}

function expectedFromHeaders(res: Response): { size?: number; sha256?: string } {
  // The hub puts the LFS object's sha256 and size in x-linked-* headers (the plain etag may be a git hash).
  const etag = (res.headers.get('x-linked-etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  const linkedSize = Number(res.headers.get('x-linked-size'));
  const length = Number(res.headers.get('content-length'));
  return {
    sha256: /^[0-9a-f]{64}$/.test(etag) ? etag : undefined,
    size: linkedSize > 0 ? linkedSize : length > 0 ? length : undefined,
  };
}

async function fetchOne(
  url: string,
  dest: string,
  file: HubFile,
  fetchImpl: FetchLike,
  onProgress?: (p: DownloadProgress) => void,
): Promise<'ok' | 'missing'> {
  let res: Response;
  try {
    res = await fetchImpl(url);
  } catch (e) {
    throw offlineError(url, e);
  }
  if (res.status === 404 && !file.required) return 'missing';
  if (!res.ok || !res.body) throw new Error(`Download failed: ${url}: HTTP ${res.status} ${res.statusText}`);
  const hdr = expectedFromHeaders(res);
  const size = file.size ?? hdr.size;
  const sha = file.sha256 ?? hdr.sha256;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  // Atomic: stream into a temp file in the same folder, rename only after every check passed.
  const tmp = `${dest}.part-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = fs.openSync(tmp, 'w');
  const hash = createHash('sha256');
  let received = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new Error(`Download of ${url} broke off after ${received} bytes: ${(e as Error).message}`);
      }
      if (chunk.done) break;
      fs.writeSync(fd, chunk.value);
      hash.update(chunk.value);
      received += chunk.value.length;
      onProgress?.({ file: file.path, received, total: size });
    }
    fs.closeSync(fd);
    if (size !== undefined && received !== size) throw new Error(`Download of ${url} is incomplete: ${received} of ${size} bytes`);
    const got = hash.digest('hex');
    if (sha && got !== sha) throw new Error(`Download of ${url} is corrupt: sha256 ${got}, expected ${sha}`);
    fs.renameSync(tmp, dest);
    return 'ok';
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Downloads the ONNX text model + tokenizer files of `modelId` into cacheDir/<owner--name>/ and
 * returns that directory. A completed download is reused without touching the network.
 */
export async function downloadClipModel(
  modelId: string,
  cacheDir: string,
  fetchImpl: FetchLike = fetch,
  opts: DownloadOptions = {},
): Promise<string> {
  const dir = modelCacheDir(cacheDir, modelId);
  if (isModelComplete(dir)) return dir;
  const files = opts.files ?? CLIP_TEXT_FILES;
  const endpoint = (opts.endpoint ?? HF_ENDPOINT).replace(/\/$/, '');
  const revision = opts.revision ?? 'main';
  const got: Record<string, number> = {};
  for (const f of files) {
    const dest = path.join(dir, f.path);
    if (fs.existsSync(dest)) {
      // Left from an interrupted run: files only appear after their checks passed (atomic rename).
      got[f.path] = fs.statSync(dest).size;
      continue;
    }
    const url = `${endpoint}/${modelId}/resolve/${revision}/${f.path}`;
    opts.log?.(`Downloading ${url}`);
    if ((await fetchOne(url, dest, f, fetchImpl, opts.onProgress)) === 'ok') got[f.path] = fs.statSync(dest).size;
  }
  fs.writeFileSync(path.join(dir, COMPLETE_MARKER), JSON.stringify({ modelId, revision, files: got }, null, 1));
  return dir;
}
