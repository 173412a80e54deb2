// Per-run prediction vectors: (sample keys, labels, preds) of all a run's records packed in three
// BLOBs, sorted by sample key. Run comparison merges two of these in JS in a few milliseconds,
// where a SQL self-join of two 300k-record runs costs hundreds. Rebuilt whenever a run's records
// are (re)imported, the only time they change.
import type { Db } from './db.js';

export interface RunVector {
  samples: Int32Array;
  labels: Uint8Array;
  preds: Uint8Array;
}

export function buildRunVector(db: Db, rk: number): void {
  const n = (db.prepare('SELECT count(*) AS n FROM records WHERE run = ?').get(rk) as { n: number }).n;
  const samples = new Int32Array(n);
  const labels = new Uint8Array(n);
  const preds = new Uint8Array(n);
  let i = 0;
  for (const [s, l, p] of db.prepare('SELECT sample, label, pred FROM records WHERE run = ? ORDER BY sample').raw().iterate(rk) as Iterable<[number, number, number]>) {
    samples[i] = s;
    labels[i] = l;
    preds[i] = p;
    i++;
  }
  db.prepare('INSERT OR REPLACE INTO run_vectors (run, samples, labels, preds) VALUES (?, ?, ?, ?)').run(
    rk,
    Buffer.from(samples.buffer, 0, samples.byteLength),
    Buffer.from(labels.buffer, 0, labels.byteLength),
    Buffer.from(preds.buffer, 0, preds.byteLength),
  );
}

export function readRunVector(db: Db, rk: number): RunVector | undefined {
  const r = db.prepare('SELECT samples, labels, preds FROM run_vectors WHERE run = ?').get(rk) as
    | { samples: Buffer; labels: Buffer; preds: Buffer }
    | undefined;
  if (!r) return undefined;
  // An Int32Array view needs 4-byte alignment; large blobs come back unpooled (offset 0), else copy.
  let samples: Int32Array;
  if (r.samples.byteOffset % 4 === 0) samples = new Int32Array(r.samples.buffer, r.samples.byteOffset, r.samples.byteLength / 4);
  else {
    const s = new Uint8Array(r.samples.byteLength);
    s.set(r.samples);
    samples = new Int32Array(s.buffer);
  }
  return { samples, labels: r.labels, preds: r.preds };
}
