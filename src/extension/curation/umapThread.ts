// Starts umapWorker on a worker thread: the bundled dist/umapWorker.js beside the curation worker, or,
// running from the sources (tests), umapWorker.ts through tsx.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { UmapResult } from './umap.js';

function startWorker(runDir: string): Worker {
  const js = path.join(__dirname, 'umapWorker.js');
  if (fs.existsSync(js)) return new Worker(js, { workerData: { runDir } });
  // the sources (tests under tsx): tsx's CommonJS hook compiles the worker in the thread
  const ts = path.join(__dirname, 'umapWorker.ts');
  return new Worker(`require('tsx/cjs'); require(${JSON.stringify(ts)});`, { eval: true, workerData: { runDir } });
}

export function umapInThread(runDir: string): Promise<UmapResult> {
  return new Promise((resolve, reject) => {
    const w = startWorker(runDir);
    let done = false;
    w.once('message', (m: { ok: true; result: UmapResult } | { ok: false; error: string }) => {
      done = true;
      if (m.ok) resolve(m.result);
      else reject(new Error(`UMAP: ${m.error}`));
      void w.terminate();
    });
    w.once('error', (e) => {
      done = true;
      reject(new Error(`UMAP worker failed: ${e.message}`));
    });
    w.once('exit', (code) => {
      if (!done) reject(new Error(`UMAP worker exited (${code})`));
    });
  });
}
