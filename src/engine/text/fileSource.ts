// Text embeddings from a file: the project's JSON format (written by writeTextEmbeddingsJson) or a
// NumPy .npy matrix (K, D) with class names from a sidecar .json or, failing that, the caller's list.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalClassName } from '../classes.js';
import { npyToFloat64, readNpy } from '../util/npy.js';
import type { TextEmbeddings, TextSourceInfo } from './types.js';

export const TEXT_EMBEDDINGS_FORMAT = 'kefer-text-embeddings';

interface RawFile {
  classes?: unknown;
  prompts?: unknown;
  embeddings?: unknown;
  source?: unknown;
  model?: unknown;
}

/** Saves embeddings as JSON (atomic: temp file + rename) so they can be shared and reloaded with file:PATH. */
export function writeTextEmbeddingsJson(file: string, emb: TextEmbeddings): void {
  const rows: number[][] = [];
  for (let k = 0; k < emb.classes.length; k++) rows.push(Array.from(emb.matrix.subarray(k * emb.dim, (k + 1) * emb.dim)));
  const { kind, model, description, origin } = emb.source;
  // A reloaded file must still say what produced it, so record the producing kind, not 'file'.
  const producedBy = kind === 'file' ? (origin ?? 'unknown') : kind;
  const body = {
    format: TEXT_EMBEDDINGS_FORMAT,
    version: 1,
    classes: emb.classes,
    prompts: emb.prompts,
    dim: emb.dim,
    source: { kind: producedBy, model, description },
    embeddings: rows,
  };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, JSON.stringify(body));
  fs.renameSync(tmp, file);
}

function normName(n: string): string {
  return canonicalClassName(n) ?? n.trim().toLowerCase();
}

/** Picks/reorders rows so row k belongs to classes[k]; errors name the file and the missing class. */
function mapRows(file: string, fileClasses: string[], rows: Float64Array[], wanted: string[]): Float64Array[] {
  const index = new Map<string, number>();
  fileClasses.forEach((c, i) => {
    const key = normName(c);
    if (index.has(key)) throw new Error(`${file}: class "${c}" appears twice`);
    index.set(key, i);
  });
  return wanted.map((w) => {
    const i = index.get(normName(w));
    if (i === undefined) {
      throw new Error(`${file}: no embedding for class "${w}" (file has: ${fileClasses.join(', ')})`);
    }
    return rows[i];
  });
}

function parseOrigin(raw: RawFile): { origin: TextSourceInfo['origin']; model: string; description: string } {
  const src = raw.source;
  let kind: unknown;
  let model = typeof raw.model === 'string' ? raw.model : '';
  let description = '';
  if (typeof src === 'string') description = src;
  else if (src && typeof src === 'object') {
    const o = src as Record<string, unknown>;
    kind = o.kind;
    if (typeof o.model === 'string') model = o.model;
    if (typeof o.description === 'string') description = o.description;
  }
  const origin = kind === 'clip' || kind === 'standin' ? kind : 'unknown';
  return { origin, model: model || 'unknown model', description };
}

function finish(file: string, classes: string[], prompts: string[], rows: Float64Array[], raw: RawFile): TextEmbeddings {
  const dim = rows[0].length;
  const matrix = new Float32Array(rows.length * dim);
  rows.forEach((r, k) => matrix.set(r, k * dim));
  const { origin, model, description } = parseOrigin(raw);
  const what =
    origin === 'standin'
      ? `stand-in, not CLIP${description ? ` (${description})` : ''}`
      : description || (origin === 'clip' ? model : 'origin not recorded');
  return {
    classes: [...classes],
    prompts,
    matrix,
    dim,
    source: { kind: 'file', model, description: `${what}; loaded from ${file}`, file, origin },
  };
}

function checkRows(file: string, rows: Float64Array[]): void {
  if (rows.length === 0) throw new Error(`${file}: no embeddings`);
  const dim = rows[0].length;
  if (dim === 0) throw new Error(`${file}: embeddings have dimension 0`);
  rows.forEach((r, k) => {
    if (r.length !== dim) throw new Error(`${file}: row ${k} has ${r.length} values, row 0 has ${dim}`);
    const bad = r.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${file}: row ${k} value ${bad} is not finite (${r[bad]})`);
  });
}

function readJsonFile(file: string): RawFile {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RawFile;
  } catch (e) {
    throw new Error(`${file}: cannot read text embeddings JSON: ${(e as Error).message}`);
  }
}

function stringList(file: string, v: unknown, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${file}: "${what}" must be a list of strings`);
  return v as string[];
}

/** Loads embeddings for `classes` (in that order) from a .json or .npy file. */
export function readTextEmbeddingsFile(file: string, classes: string[], log: (m: string) => void = () => {}): TextEmbeddings {
  if (!fs.existsSync(file)) throw new Error(`Text embeddings file not found: ${file}`);
  let fileClasses: string[];
  let filePrompts: string[] | undefined;
  let rows: Float64Array[];
  let raw: RawFile = {};
  if (file.toLowerCase().endsWith('.npy')) {
    const arr = readNpy(file);
    if (arr.shape.length !== 2) throw new Error(`${file}: expected a (K, D) matrix, got shape (${arr.shape.join(', ')})`);
    const [k, d] = arr.shape;
    const data = npyToFloat64(arr, file);
    rows = Array.from({ length: k }, (_, i) => data.slice(i * d, (i + 1) * d));
    const sidecar = [file.replace(/\.npy$/i, '.json'), `${file}.json`].find((p) => fs.existsSync(p));
    if (sidecar) {
      raw = readJsonFile(sidecar);
      fileClasses = stringList(sidecar, raw.classes, 'classes') ?? [];
      filePrompts = stringList(sidecar, raw.prompts, 'prompts');
      if (fileClasses.length !== k) throw new Error(`${sidecar}: lists ${fileClasses.length} classes but ${file} has ${k} rows`);
    } else {
      if (k !== classes.length) {
        throw new Error(`${file}: ${k} rows but ${classes.length} classes requested, and no sidecar .json names the rows`);
      }
      log(`${file}: no sidecar .json with class names; assuming rows are in the order ${classes.join(', ')}`);
      fileClasses = [...classes];
    }
  } else {
    raw = readJsonFile(file);
    fileClasses = stringList(file, raw.classes, 'classes') ?? [];
    filePrompts = stringList(file, raw.prompts, 'prompts');
    const emb = raw.embeddings;
    if (!Array.isArray(emb) || emb.some((r) => !Array.isArray(r))) throw new Error(`${file}: "embeddings" must be a K x D list of lists`);
    rows = (emb as unknown[][]).map((r) => Float64Array.from(r, (v) => (typeof v === 'number' ? v : NaN)));
    if (fileClasses.length !== rows.length) throw new Error(`${file}: ${fileClasses.length} classes but ${rows.length} embedding rows`);
  }
  checkRows(file, rows);
  if (filePrompts && filePrompts.length !== fileClasses.length) throw new Error(`${file}: ${filePrompts.length} prompts for ${fileClasses.length} classes`);
  const picked = mapRows(file, fileClasses, rows, classes);
  const promptOf = new Map(fileClasses.map((c, i) => [normName(c), filePrompts?.[i] ?? '']));
  const prompts = classes.map((c) => promptOf.get(normName(c)) ?? '');
  return finish(file, classes, prompts, picked, raw);
}
