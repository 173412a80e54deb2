// A worker thread of the curation worker: computes one run's UMAP (umap.ts) so the store queries the
// panel waits on keep answering meanwhile (a UMAP of 4,000 points takes seconds).
import { parentPort, workerData } from 'node:worker_threads';
import { umapOfRun } from './umap.js';

const { runDir } = workerData as { runDir: string };
try {
  parentPort!.postMessage({ ok: true, result: umapOfRun(runDir) });
} catch (err) {
  parentPort!.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
}
