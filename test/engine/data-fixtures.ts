// Builders for tiny on-disk datasets used by the data tests (images are generated with sharp).
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';

/** One PNG chunk: length, type, data, CRC (for PNGs the tests build byte by byte). */
export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

export async function tempDir(prefix = 'kefer-data-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A w x h grey image of one level, PNG or JPEG by extension. */
export async function writeGrey(file: string, level = 128, w = 8, h = 8): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const img = sharp(Buffer.alloc(w * h, level), { raw: { width: w, height: h, channels: 1 } });
  await (file.endsWith('.png') ? img.png() : img.jpeg()).toFile(file);
}

/** A valid PNG cut in half: sharp must refuse to decode it. */
export async function writeTruncated(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const png = await sharp(Buffer.alloc(32 * 32 * 3, 90), { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer();
  await writeFile(file, png.subarray(0, Math.floor(png.length / 2)));
}

export async function writeText(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

/** .npy bytes of a scalar (shape ()), version 1 or 2 header, for the given dtype. */
export function npyScalar(dtype: string, value: number | string, version: 1 | 2 = 1): Buffer {
  let body: Buffer;
  if (dtype === '<i8') {
    body = Buffer.alloc(8);
    body.writeBigInt64LE(BigInt(value));
  } else if (dtype === '|u1' || dtype === '<u1') body = Buffer.from([Number(value)]);
  else if (dtype === '<i4') {
    body = Buffer.alloc(4);
    body.writeInt32LE(Number(value));
  } else if (/^\|S\d+$/.test(dtype)) body = Buffer.from(String(value).padEnd(Number(dtype.slice(2)), '\0'), 'latin1');
  else if (/^<U\d+$/.test(dtype)) {
    const n = Number(dtype.slice(2));
    body = Buffer.alloc(4 * n);
    [...String(value)].forEach((ch, i) => body.writeUInt32LE(ch.codePointAt(0)!, 4 * i));
  } else throw new Error(`fixture dtype ${dtype}`);
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (), }`;
  const pre = version === 1 ? 10 : 12;
  header += ' '.repeat(63 - ((pre + header.length) % 64)) + '\n'; // pad to a multiple of 64 like numpy
  const head = Buffer.alloc(pre);
  head[0] = 0x93;
  head.write('NUMPY', 1, 'latin1');
  head[6] = version;
  head[7] = 0;
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}
