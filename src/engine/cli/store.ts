// Shared plumbing of the store commands (relabel, labels): the global --store/--data flags,
// opening the store and finding the dataset.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { canonicalClassName, classIndex } from '../classes.js';
import { DEFAULT_STORE, openStore, resolveDataset, upsertDataset, type DatasetRow, type Store } from '../store/index.js';
import { UserError } from './errors.js';

/** parseArgs option specs every store command accepts. */
export const STORE_OPTIONS = {
  store: { type: 'string' },
  data: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function storePath(flag: string | undefined): string {
  return resolve(flag ?? DEFAULT_STORE);
}

/** Opens the store; commands that only read refuse to create an empty one. */
export function openCliStore(flag: string | undefined, opts: { create?: boolean } = {}): Store {
  const path = storePath(flag);
  if (!opts.create && !existsSync(path)) throw new UserError(`no store at ${path} (evaluate a run first, or pass --store PATH)`);
  return openStore(path);
}

/**
 * The dataset a command works on: --data SPEC as stored, else the store's only dataset. A spec the
 * store does not know yet is loaded through the dataset readers (when present) and stored.
 */
export async function cliDataset(store: Store, spec: string | undefined): Promise<DatasetRow> {
  try {
    return resolveDataset(store, spec);
  } catch (err) {
    if (!spec) throw err;
    // A literal specifier, so the bundle (dist/cli.js) carries the readers: loaded only when needed.
    const { loadDataset } = await import('../data/index.js');
    return upsertDataset(store, await loadDataset(spec), { spec });
  }
}

/** A class given as a name (any usual spelling) or a canonical index, checked against the dataset. */
export function parseLabel(text: string, d: DatasetRow): number {
  let idx: number;
  if (/^\d+$/.test(text)) idx = Number(text);
  else {
    const name = canonicalClassName(text);
    if (!name) throw new UserError(`unknown class '${text}' (one of ${d.classes.join(', ')}, or an index 0..${d.classes.length - 1})`);
    idx = classIndex(name);
  }
  if (idx >= d.classes.length) throw new UserError(`class ${text} is not in this ${d.classes.length}-class dataset (${d.classes.join(', ')})`);
  return idx;
}

/** Runs a command body: usage problems exit 2, other errors reach main.ts (one line, exit 1). */
export async function runCommand(usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      console.error(`kefer: ${(err as Error).message}\n${usage}`);
      return 2;
    }
    throw err;
  }
}
