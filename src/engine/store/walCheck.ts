// Reads an SQLite write-ahead log (the store's -wal file) without SQLite, to decide before any
// connection opens the store whether the database file and its log still make a whole database.
// A read-write connection would replay the log and, on close, checkpoint it into the main file: into a
// damaged one too, which then grows and loses its log. Format: https://sqlite.org/fileformat2.html#walformat
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const WAL_MAGIC_LE = 0x377f0682;
const WAL_MAGIC_BE = 0x377f0683;
const WAL_VERSION = 3007000;
const WAL_HEADER = 32;
const FRAME_HEADER = 24;

export interface WalState {
  /** Bytes of the -wal file. */
  size: number;
  /** Frames up to the last valid commit (what a reader sees). */
  committedFrames: number;
  /** Database size in pages after the last valid commit; null when the log holds no commit. */
  dbPages: number | null;
  /** Page numbers the committed frames hold. */
  pages: Set<number>;
}

/** Why the log is unusable (not an SQLite log, or not this database's); the state otherwise. */
export type WalVerdict = { ok: true; wal: WalState } | { ok: false; why: string };

/** SQLite's checksum over 8-byte words (big- or little-endian words per the log's magic), continued from s. */
function checksum(b: Buffer, from: number, to: number, bigEndian: boolean, s: [number, number]): [number, number] {
  let [s0, s1] = s;
  for (let i = from; i < to; i += 8) {
    const x0 = bigEndian ? b.readUInt32BE(i) : b.readUInt32LE(i);
    const x1 = bigEndian ? b.readUInt32BE(i + 4) : b.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * Reads the log at `walPath` for a database of `pageSize`-byte pages: its header (magic, version, page
 * size, header checksum) and its frames, in order, as long as their salts and running checksums hold
 * (SQLite ignores the frames after the first bad one, as this does). An empty file is an empty log.
 */
export function readWal(walPath: string, pageSize: number): WalVerdict {
  const fd = openSync(walPath, 'r');
  try {
    const size = fstatSync(fd).size;
    const empty: WalState = { size, committedFrames: 0, dbPages: null, pages: new Set() };
    if (size === 0) return { ok: true, wal: empty };
    if (size < WAL_HEADER) return { ok: false, why: `its log (-wal) is ${size} bytes: not an SQLite log` };
    const head = Buffer.alloc(WAL_HEADER);
    readSync(fd, head, 0, WAL_HEADER, 0);
    const magic = head.readUInt32BE(0);
    if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) return { ok: false, why: 'its log (-wal) is not an SQLite log (bad magic number)' };
    const bigEndian = magic === WAL_MAGIC_BE;
    if (head.readUInt32BE(4) !== WAL_VERSION) return { ok: false, why: `its log (-wal) has an unknown format version ${head.readUInt32BE(4)}` };
    const walPage = head.readUInt32BE(8);
    if (walPage !== pageSize) return { ok: false, why: `its log (-wal) is for ${walPage}-byte pages, the database has ${pageSize}-byte pages` };
    let sum = checksum(head, 0, 24, bigEndian, [0, 0]);
    if (sum[0] !== head.readUInt32BE(24) || sum[1] !== head.readUInt32BE(28)) return { ok: false, why: 'its log (-wal) header fails its checksum' };
    const salt1 = head.readUInt32BE(16);
    const salt2 = head.readUInt32BE(20);

    const frame = Buffer.alloc(FRAME_HEADER + pageSize);
    const pending: number[] = [];
    const state = empty;
    for (let off = WAL_HEADER, n = 0; off + frame.length <= size; off += frame.length, n++) {
      readSync(fd, frame, 0, frame.length, off);
      if (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break;
      sum = checksum(frame, 0, 8, bigEndian, sum);
      sum = checksum(frame, FRAME_HEADER, frame.length, bigEndian, sum);
      if (sum[0] !== frame.readUInt32BE(16) || sum[1] !== frame.readUInt32BE(20)) break;
      pending.push(frame.readUInt32BE(0));
      const commitSize = frame.readUInt32BE(4);
      if (commitSize !== 0) {
        for (const p of pending) state.pages.add(p);
        pending.length = 0;
        state.committedFrames = n + 1;
        state.dbPages = commitSize;
      }
    }
    return { ok: true, wal: state };
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether a database file of `fileBytes` bytes (`pageSize` pages, header page count `headerPages`, null
 * when the header's count is not valid) and its log make a whole database: every page up to the size the
 * last commit left is in the file or in the log. Returns why not, or undefined.
 */
export function missingPages(fileBytes: number, pageSize: number, headerPages: number | null, wal: WalState | undefined): string | undefined {
  if (fileBytes % pageSize !== 0) return `the store file is damaged: ${fileBytes} bytes is not a whole number of ${pageSize}-byte pages`;
  const filePages = fileBytes / pageSize;
  if (wal?.dbPages == null) {
    // no commit in the log: the file alone is the database
    return headerPages !== null && headerPages > filePages ? `the store file is damaged: cut short (${fileBytes} bytes, its header says ${headerPages * pageSize})` : undefined;
  }
  let missing = 0;
  let first = 0;
  for (let p = filePages + 1; p <= wal.dbPages; p++) {
    if (wal.pages.has(p)) continue;
    missing++;
    first ||= p;
  }
  return missing
    ? `the store file is damaged: cut short (${fileBytes} bytes): ${missing} of the ${wal.dbPages} pages its log's last commit needs are neither in it nor in its log (-wal), the first page ${first}`
    : undefined;
}
