// Minimal NumPy .npy reader/writer (format versions 1.0-3.0). Written by hand because the format is a
// ~10-line header plus raw data; shared by the text-embedding loader and anything else that needs it.
// Supports little-endian float32/float64/int32/int64/uint8/bool, C order only.
import * as fs from 'node:fs';

export type NpyDtype = '<f4' | '<f8' | '<i4' | '<i8' | '|u1' | '|b1' | '<u1' | '<b1';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** Values converted to float64 (int64 via Number, exact up to 2^53). */
  data: Float64Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** Parses a .npy buffer. `name` is only used in error messages. */
export function parseNpy(buf: Buffer, name = '<npy>'): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new Error(`${name}: not a .npy file (bad magic)`);
  const major = buf[6];
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else {
    throw new Error(`${name}: unsupported .npy version ${major}`);
  }
  const header = buf.subarray(offset, offset + headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`${name}: malformed .npy header: ${header.trim()}`);
  if (fortran === 'True') throw new Error(`${name}: fortran_order arrays are not supported (save with C order)`);
  const shape = shapeStr.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`${name}: bad shape (${shapeStr})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = offset + headerLen;
  const itemSize: Record<string, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<i8': 8, '|u1': 1, '|b1': 1, '<u1': 1, '<b1': 1 };
  const size = itemSize[descr];
  if (size === undefined) throw new Error(`${name}: unsupported dtype '${descr}' (need little-endian float32/float64/int32/int64/uint8/bool)`);
  if (buf.length < dataStart + count * size) {
    throw new Error(`${name}: truncated: ${count} x ${descr} needs ${count * size} bytes, file has ${buf.length - dataStart}`);
  }
  // Copy so the typed-array view is aligned regardless of the header length.
  const raw = buf.subarray(dataStart, dataStart + count * size);
  const bytes = new Uint8Array(raw.length);
  bytes.set(raw);
  const data = new Float64Array(count);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    switch (descr) {
      case '<f4': data[i] = dv.getFloat32(i * 4, true); break;
      case '<f8': data[i] = dv.getFloat64(i * 8, true); break;
      case '<i4': data[i] = dv.getInt32(i * 4, true); break;
      case '<i8': data[i] = Number(dv.getBigInt64(i * 8, true)); break;
      default: data[i] = bytes[i];
    }
  }
  return { dtype: descr as NpyDtype, shape, data };
}

export function readNpy(file: string): NpyArray {
  return parseNpy(fs.readFileSync(file), file);
}

/** Serialises a float32 or float64 C-order array as .npy version 1.0. */
export function encodeNpy(data: Float32Array | Float64Array, shape: number[]): Buffer {
  const descr = data instanceof Float32Array ? '<f4' : '<f8';
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // Pad so the data starts on a 64-byte boundary, as numpy does.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // Typed arrays are platform-endian; every supported Node platform is little-endian.
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}
