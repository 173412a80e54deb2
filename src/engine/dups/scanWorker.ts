// One thread of the duplicate finder's image scan (pool.ts starts it): decodes and hashes PNGs and fills
// their rows of the shared near tables, or searches the near index for a range of pictures. Loads no
// native decoder: what fast-png cannot read goes back to the main thread as null.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeSimplePng } from '../data/pngFastPath.js';
import type { HammingIndex } from './hammingIndex.js';
import { fillTables, nearIndex, searchRange } from './near.js';
import { canonicalPixels, exactHash, greyOf } from './pixels.js';
import type { ScanReply, ScanTask, ScanWorkerData } from './pool.js';

const { tables } = workerData as ScanWorkerData;
let index: HammingIndex | undefined;

function fingerprintPng(file: string, maxPixels: number, near: boolean, row: number): string | null {
  let png;
  try {
    png = decodeSimplePng(readFileSync(file), maxPixels);
  } catch {
    return null; // unreadable or corrupt: the main thread's decoder says why
  }
  if (!png) return null;
  const px = canonicalPixels(png);
  if (near) {
    if (!tables) throw new Error('near tables were not shared with this thread');
    fillTables(tables, () => greyOf(px), row, row + 1);
  }
  return exactHash(px);
}

function run(task: ScanTask): { reply: ScanReply; transfer: ArrayBuffer[] } {
  if (task.kind === 'fingerprint') {
    return { reply: { kind: 'fingerprint', hashes: task.files.map((f, k) => fingerprintPng(f, task.maxPixels, task.near, task.rows[k])) }, transfer: [] };
  }
  if (!tables) throw new Error('near tables were not shared with this thread');
  index ??= nearIndex(tables);
  const { keys, scores } = searchRange(tables, index, task.from, task.to, task.radius, task.threshold);
  return { reply: { kind: 'search', keys, scores }, transfer: [keys.buffer as ArrayBuffer, scores.buffer as ArrayBuffer] };
}

parentPort!.on('message', (task: ScanTask) => {
  try {
    const { reply, transfer } = run(task);
    parentPort!.postMessage(reply, transfer);
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).stack ?? String(e) });
  }
});
