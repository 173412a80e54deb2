// Curation worker: a child process (system Node) serving CurationService over JSON lines on stdio.
// Request {id, method, params[]} -> response {id, result} | {id, error}. One process per workspace.
// Store queries answer at once, in request order; thumbnails (a promise) answer when made.
import * as readline from 'node:readline';
import { describeStoreError } from '../../engine/store/damage.js';
import { CurationService } from './service.js';

const [storePath, thumbDir] = process.argv.slice(2);
if (!storePath) {
  process.stderr.write('usage: worker STORE_PATH (.kefer/kefer.db) [THUMBNAIL_DIR]\n');
  process.exit(2);
}
const service = new CurationService(storePath, thumbDir);
// the client copies stderr to the KE-FER output channel
service.onBackgroundError = (m) => void process.stderr.write(`${m}\n`);
type Method = (...args: unknown[]) => unknown;

const rl = readline.createInterface({ input: process.stdin });
const answer = (id: number | undefined, result: unknown): void => void process.stdout.write(JSON.stringify({ id, result: result ?? null }) + '\n');
const fail = (id: number | undefined, err: unknown): void =>
  void process.stdout.write(JSON.stringify({ id, error: describeStoreError(err) ?? (err instanceof Error ? err.message : String(err)) }) + '\n');

rl.on('line', (line) => {
  let id: number | undefined;
  try {
    const req = JSON.parse(line) as { id: number; method: string; params: unknown[] };
    id = req.id;
    const fn = (service as unknown as Record<string, Method>)[req.method];
    if (typeof fn !== 'function' || req.method.startsWith('_')) throw new Error(`unknown method ${req.method}`);
    const result = fn.apply(service, req.params);
    const rid = id;
    if (result instanceof Promise) result.then((r) => answer(rid, r), (e: unknown) => fail(rid, e));
    else answer(id, result);
  } catch (err) {
    fail(id, err);
  }
});
rl.on('close', () => {
  service.close();
  process.exit(0);
});
