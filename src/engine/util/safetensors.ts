// safetensors reader/writer. Hand-written: the format is an 8-byte little-endian header length,
// a JSON header and raw little-endian tensor bytes, and no maintained npm package implements it
// (the only `safetensors` package on npm is an empty 0.0.1 placeholder).
import { readFile, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';

export type SafeDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  /** Values widened to float32 (integers too; checkpoints hold small counts only). */
  data: Float32Array;
}

export class SafetensorsError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';
const BYTES: Record<SafeDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> bfloat16 bits, round to nearest even (NaN kept NaN). */
export function floatToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if (Number.isNaN(x)) return 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 -> IEEE half bits, round to nearest even, overflow to infinity, subnormals kept. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

let halves: Float32Array | undefined;
/** Every half value, by its bits: an 11M-weight fp16 checkpoint decodes by lookup. */
function halfTable(): Float32Array {
  if (!halves) {
    halves = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halves[h] = halfToFloat(h);
  }
  return halves;
}

function decode(buf: Buffer, dtype: SafeDType, count: number): Float32Array {
  if (dtype === 'F32' && LITTLE_ENDIAN) return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const out = new Float32Array(count);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'F32': out[i] = dv.getFloat32(i * 4, true); break;
      case 'F64': out[i] = dv.getFloat64(i * 8, true); break;
      case 'F16': out[i] = halfTable()[dv.getUint16(i * 2, true)]; break;
      // bfloat16 is the top half of a float32
      case 'BF16': u32[0] = dv.getUint16(i * 2, true) << 16; out[i] = f32[0]; break;
      case 'I64': out[i] = Number(dv.getBigInt64(i * 8, true)); break;
      case 'I32': out[i] = dv.getInt32(i * 4, true); break;
      case 'U8': out[i] = dv.getUint8(i); break;
    }
  }
  return out;
}

export async function readSafetensors(file: string): Promise<{ tensors: Map<string, SafeTensor>; metadata: Record<string, string> }> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new SafetensorsError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (buf.length < 8) throw new SafetensorsError(file, 'truncated: no header');
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || 8 + headerLen > buf.length) throw new SafetensorsError(file, `bad header length ${headerLen}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new SafetensorsError(file, 'header is not valid JSON');
  }
  const base = 8 + headerLen;
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: off } = entry as { dtype: SafeDType; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) throw new SafetensorsError(file, `tensor ${name}: unsupported dtype ${dtype}`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (off[1] - off[0] !== count * BYTES[dtype] || base + off[1] > buf.length) {
      throw new SafetensorsError(file, `tensor ${name}: data size does not match shape [${shape.join(', ')}] (${dtype})`);
    }
    tensors.set(name, { dtype, shape, data: decode(buf.subarray(base + off[0], base + off[1]), dtype, count) });
  }
  return { tensors, metadata };
}

export interface TensorToWrite {
  /** F16 / BF16 round to nearest even (as PyTorch's .half() / .bfloat16() do). */
  dtype: 'F32' | 'I64' | 'F16' | 'BF16';
  shape: number[];
  data: Float32Array | number[];
}

export function encodeSafetensors(tensors: Map<string, TensorToWrite>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Buffer[] = [];
  let offset = 0;
  // Sorted names make the file byte-identical for identical weights.
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name)!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    let chunk: Buffer = Buffer.alloc(count * BYTES[t.dtype]);
    if (t.dtype === 'F32' && LITTLE_ENDIAN && t.data instanceof Float32Array) {
      chunk = Buffer.from(new Float32Array(t.data.subarray(0, count)).buffer);
    } else for (let i = 0; i < count; i++) {
      if (t.dtype === 'F32') chunk.writeFloatLE(t.data[i], i * 4);
      else if (t.dtype === 'F16') chunk.writeUInt16LE(floatToHalf(t.data[i]), i * 2);
      else if (t.dtype === 'BF16') chunk.writeUInt16LE(floatToBf16(t.data[i]), i * 2);
      else chunk.writeBigInt64LE(BigInt(Math.round(t.data[i])), i * 8);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + chunk.length] };
    offset += chunk.length;
    chunks.push(chunk);
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([head, Buffer.from(json, 'utf8'), ...chunks]);
}

export async function writeSafetensors(file: string, tensors: Map<string, TensorToWrite>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFile(file, encodeSafetensors(tensors, metadata));
}
