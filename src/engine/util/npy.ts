// The project's one NumPy .npy reader/writer (format versions 1-3): AffectNet's per-image annotation
// scalars and .npy text-embedding matrices. Written by hand because the format is a short header plus
// raw data, and the npm alternatives pull in far more than we need.
import * as fs from 'node:fs';

export type NpyValue = number | bigint | string;

export interface NpyArray {
  /** NumPy dtype string, e.g. "<i8", "|u1", "<U1", "|S1". */
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  values: NpyValue[];
}

export class NpyError extends Error {
  constructor(message: string, name?: string) {
    super(name ? `${name}: ${message}` : message);
    this.name = 'NpyError';
  }
}

function headerField(header: string, key: string, name?: string): string {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*`).exec(header);
  if (!m) throw new NpyError(`npy header has no '${key}'`, name);
  return header.slice(m.index + m[0].length);
}

/** Parses a .npy buffer; `name` (a file) prefixes error messages. */
export function parseNpy(buf: Uint8Array, name?: string): NpyArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || b[0] !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') throw new NpyError('not a .npy file (bad magic)', name);
  const major = b[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (b.length < 12) throw new NpyError('truncated .npy header', name);
    headerLen = b.readUInt32LE(8);
    start = 12;
  } else throw new NpyError(`unsupported .npy version ${major}`, name);
  if (b.length < start + headerLen) throw new NpyError('truncated .npy header', name);
  const header = b.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /^['"]([^'"]+)['"]/.exec(headerField(header, 'descr', name))?.[1];
  if (!descr) throw new NpyError(`cannot read dtype from header ${header.trim()}`, name);
  const fortranOrder = /^True/.test(headerField(header, 'fortran_order', name));
  const shapeText = /^\(([^)]*)\)/.exec(headerField(header, 'shape', name))?.[1];
  if (shapeText === undefined) throw new NpyError(`cannot read shape from header ${header.trim()}`, name);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, n) => a * n, 1);
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) throw new NpyError(`unsupported dtype '${descr}'`, name);
  const little = m[1] !== '>';
  const kind = m[2];
  const size = Number(m[3]);
  const data = b.subarray(start + headerLen);
  const itemBytes = kind === 'U' ? size * 4 : size;
  if (data.length < count * itemBytes) throw new NpyError(`truncated .npy data: need ${count * itemBytes} bytes, have ${data.length}`, name);
  const values: NpyValue[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * itemBytes;
    values.push(readItem(data, o, kind, size, little, descr));
  }
  return { dtype: descr, shape, fortranOrder, values };
}

function readItem(d: Buffer, o: number, kind: string, size: number, le: boolean, descr: string): NpyValue {
  switch (kind) {
    case 'b':
      if (size === 1) return d[o];
      break;
    case 'i':
      if (size === 1) return d.readInt8(o);
      if (size === 2) return le ? d.readInt16LE(o) : d.readInt16BE(o);
      if (size === 4) return le ? d.readInt32LE(o) : d.readInt32BE(o);
      if (size === 8) return le ? d.readBigInt64LE(o) : d.readBigInt64BE(o);
      break;
    case 'u':
      if (size === 1) return d.readUInt8(o);
      if (size === 2) return le ? d.readUInt16LE(o) : d.readUInt16BE(o);
      if (size === 4) return le ? d.readUInt32LE(o) : d.readUInt32BE(o);
      if (size === 8) return le ? d.readBigUInt64LE(o) : d.readBigUInt64BE(o);
      break;
    case 'f':
      if (size === 4) return le ? d.readFloatLE(o) : d.readFloatBE(o);
      if (size === 8) return le ? d.readDoubleLE(o) : d.readDoubleBE(o);
      break;
    case 'S': {
      const end = d.indexOf(0, o);
      return d.toString('latin1', o, end >= 0 && end < o + size ? end : o + size);
    }
    case 'U': {
      let s = '';
      for (let k = 0; k < size; k++) {
        const cp = le ? d.readUInt32LE(o + 4 * k) : d.readUInt32BE(o + 4 * k);
        if (cp === 0) break;
        s += String.fromCodePoint(cp);
      }
      return s;
    }
  }
  throw new NpyError(`unsupported dtype '${descr}'`);
}

/** The single value of a scalar (shape () or (1,)) as an integer string, like Python's int(np.load(f)). */
export function npyScalarCode(arr: NpyArray): string {
  if (arr.values.length !== 1) throw new NpyError(`expected a scalar, got shape (${arr.shape.join(', ')})`);
  const v = arr.values[0];
  const s = typeof v === 'string' ? v.trim() : String(v);
  if (typeof v === 'number' && !Number.isInteger(v)) throw new NpyError(`expected an integer code, got ${v}`);
  return s;
}

export function readNpy(file: string): NpyArray {
  return parseNpy(fs.readFileSync(file), file);
}

/** A numeric C-order array as float64 (int64 via Number, exact up to 2^53). */
export function npyToFloat64(arr: NpyArray, name?: string): Float64Array {
  if (arr.fortranOrder) throw new NpyError('fortran_order arrays are not supported (save with C order)', name);
  const out = new Float64Array(arr.values.length);
  for (let i = 0; i < out.length; i++) {
    const v = arr.values[i];
    if (typeof v === 'string') throw new NpyError(`dtype '${arr.dtype}' is not numeric`, name);
    out[i] = Number(v);
  }
  return out;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

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
