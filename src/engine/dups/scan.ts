// The image scan behind the exact and near tiers: every image decoded once, its pixels hashed and (for the
// near tier) its views hashed into the near tables, then the near index searched. With enough images this
// runs on worker threads (pool.ts): PNGs are decoded there (fast-png), anything else (JPEG, unusual PNGs,
// in-memory pixels) here, through sharp. Threads or not, the hashes and pairs are the same.
import path from 'node:path';
import { MAX_IMAGE_PIXELS } from '../data/imageCheck.js';
import { mapLimit } from '../data/decode.js';
import type { Dataset } from '../data/types.js';
import { exactFingerprint, fingerprint } from './fingerprint.js';
import { fillTables, mergeCandidates, NEAR_DEFAULTS, nearIndex, nearTables, searchRange, type NearOptions } from './near.js';
import { defaultThreads, ScanPool } from './pool.js';
import type { DupPair } from './types.js';

export interface ScanOptions {
  /** Fill the near tables and search them (else only the exact hashes). */
  near: boolean;
  nearOptions?: NearOptions;
  /** Worker threads (default: the machine's cores, at most 8, from POOL_MIN images up; 1: this thread only). */
  threads?: number;
  /** Images sharp decodes at once on this thread. */
  concurrency?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface ScanResult {
  /** sha1 of each sample's decoded pixels (dataset order). */
  hashes: string[];
  /** The near tier's pairs (exact copies among them) when `near`. */
  nearPairs?: DupPair[];
  fingerprintSeconds: number;
  nearSeconds: number;
  /** Threads the scan ran on (1: this one). */
  threads: number;
}

/** Below this many images threads cost more to start (each loads its modules) than they save. */
export const POOL_MIN = 2000;
/** Images a thread takes at a time: small enough to balance threads that other processes slow down. */
const FINGERPRINT_TASK = 256;
const SEARCH_TASK = 512;

const now = () => performance.now() / 1000;

export async function scanImages(dataset: Dataset, opts: ScanOptions): Promise<ScanResult> {
  const samples = dataset.samples;
  const n = samples.length;
  const wanted = opts.threads ?? (n >= POOL_MIN ? defaultThreads() : 1);
  const tables = opts.near ? nearTables(n, wanted > 1 ? (b) => new SharedArrayBuffer(b) : undefined) : undefined;
  const pool = wanted > 1 ? ScanPool.start(wanted, tables ?? null) : null;
  try {
    const t0 = now();
    const hashes = new Array<string>(n);
    let done = 0;
    const advance = (k: number) => {
      const before = done;
      done += k;
      if (Math.floor(done / 1024) > Math.floor(before / 1024) || done === n) opts.onProgress?.('fingerprints', done, n);
    };
    const here = async (i: number) => {
      if (tables) {
        const f = await fingerprint(dataset, samples[i]);
        hashes[i] = f.exact;
        fillTables(tables, () => f.grey, i, i + 1);
      } else hashes[i] = await exactFingerprint(dataset, samples[i]);
      advance(1);
    };
    const concurrency = opts.concurrency ?? 4;
    if (pool) {
      const png: number[] = [], other: number[] = [];
      samples.forEach((s, i) => (!s.pixels && path.extname(s.path).toLowerCase() === '.png' ? png : other).push(i));
      const retry: number[] = [];
      const tasks: Promise<void>[] = [];
      for (let t = 0; t < png.length; t += FINGERPRINT_TASK) {
        const rows = png.slice(t, t + FINGERPRINT_TASK);
        const files = rows.map((i) => path.join(dataset.root, samples[i].path));
        tasks.push(pool.run({ kind: 'fingerprint', rows, files, maxPixels: MAX_IMAGE_PIXELS, near: !!tables }).then((r) => {
          r.hashes.forEach((h, k) => (h === null ? retry.push(rows[k]) : (hashes[rows[k]] = h)));
          advance(rows.length - r.hashes.filter((h) => h === null).length);
        }));
      }
      tasks.push(mapLimit(other, concurrency, here).then(() => undefined));
      await Promise.all(tasks);
      await mapLimit(retry.sort((a, b) => a - b), concurrency, here);
    } else {
      await mapLimit(samples, concurrency, (_, i) => here(i));
    }
    const fingerprintSeconds = now() - t0;
    if (!tables) return { hashes, fingerprintSeconds, nearSeconds: 0, threads: pool?.size ?? 1 };

    const t1 = now();
    const radius = opts.nearOptions?.radius ?? NEAR_DEFAULTS.radius;
    const threshold = opts.nearOptions?.threshold ?? NEAR_DEFAULTS.threshold;
    const ranges: [number, number][] = [];
    for (let i = 0; i < n; i += SEARCH_TASK) ranges.push([i, Math.min(n, i + SEARCH_TASK)]);
    let searched = 0;
    const report = (k: number) => {
      searched += k;
      opts.onProgress?.('near', searched, n);
      opts.nearOptions?.onProgress?.(searched, n);
    };
    let parts;
    if (pool) {
      parts = await Promise.all(ranges.map(([from, to]) => pool.run({ kind: 'search', from, to, radius, threshold }).then((r) => (report(to - from), r))));
    } else {
      const index = nearIndex(tables);
      parts = [];
      for (const [from, to] of ranges) {
        parts.push(searchRange(tables, index, from, to, radius, threshold));
        report(to - from);
      }
    }
    return { hashes, nearPairs: mergeCandidates(n, parts), fingerprintSeconds, nearSeconds: now() - t1, threads: pool?.size ?? 1 };
  } finally {
    await pool?.close();
  }
}

