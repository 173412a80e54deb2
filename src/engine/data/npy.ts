// Minimal NumPy .npy reader (format versions 1-3), enough for AffectNet's per-image annotation scalars.
// Written by hand because the format is tiny and the npm alternatives pull in far more than we need.

export type NpyValue = number | bigint | string;

export interface NpyArray {
  /** NumPy dtype string, e.g. "<i8", "|u1", "<U1", "|S1". */
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  values: NpyValue[];
}

export class NpyError extends Error {}

function headerField(header: string, key: string): string {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*`).exec(header);
  if (!m) throw new NpyError(`npy header has no '${key}'`);
  return header.slice(m.index + m[0].length);
}

export function parseNpy(buf: Uint8Array): NpyArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || b[0] !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') throw new NpyError('not a .npy file (bad magic)');
  const major = b[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (b.length < 12) throw new NpyError('truncated .npy header');
    headerLen = b.readUInt32LE(8);
    start = 12;
  } else throw new NpyError(`unsupported .npy version ${major}`);
  if (b.length < start + headerLen) throw new NpyError('truncated .npy header');
  const header = b.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /^['"]([^'"]+)['"]/.exec(headerField(header, 'descr'))?.[1];
  if (!descr) throw new NpyError(`cannot read dtype from header ${header.trim()}`);
  const fortranOrder = /^True/.test(headerField(header, 'fortran_order'));
  const shapeText = /^\(([^)]*)\)/.exec(headerField(header, 'shape'))?.[1];
  if (shapeText === undefined) throw new NpyError(`cannot read shape from header ${header.trim()}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, n) => a * n, 1);
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) throw new NpyError(`unsupported dtype '${descr}'`);
  const little = m[1] !== '>';
  const kind = m[2];
  const size = Number(m[3]);
  const data = b.subarray(start + headerLen);
  const itemBytes = kind === 'U' ? size * 4 : size;
  if (data.length < count * itemBytes) throw new NpyError(`truncated .npy data: need ${count * itemBytes} bytes, have ${data.length}`);
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
