// Checks one image file the way a careful loader would, cheapest test first: empty file, format from the
// magic bytes, dimensions from the header (so a decompression bomb is refused before any pixel is
// allocated), a full decode that must reach the end of the data, and the layout's image size.
import { readFile, stat } from 'node:fs/promises';
import { decode as decodePng } from 'fast-png';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from './pngFastPath.js';
import type { ProblemKind } from './problems.js';

export { MAX_IMAGE_PIXELS };
/** Files over this size are not read into memory at all. */
export const MAX_IMAGE_BYTES = 256 * 1024 * 1024;

const MAGIC: { format: string; test: (b: Buffer) => boolean }[] = [
  { format: 'png', test: (b) => b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a },
  { format: 'jpeg', test: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { format: 'gif', test: (b) => b.length >= 6 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6)) },
  { format: 'bmp', test: (b) => b.length >= 2 && b.toString('latin1', 0, 2) === 'BM' },
  { format: 'webp', test: (b) => b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP' },
  { format: 'tiff', test: (b) => b.length >= 4 && (b.readUInt32BE(0) === 0x49492a00 || b.readUInt32BE(0) === 0x4d4d002a) },
];

/** Image format from the first bytes, or undefined when they are no image format we decode. */
export function sniffFormat(head: Buffer): string | undefined {
  return MAGIC.find((m) => m.test(head))?.format;
}

/** What a file starts with, for a "not an image" message. */
function describeHead(head: Buffer): string {
  const text = head.toString('latin1', 0, Math.min(head.length, 16));
  const printable = [...text].every((c) => c === '\t' || c === '\n' || c === '\r' || (c >= ' ' && c <= '~'));
  return printable ? `text '${text.replace(/\s+/g, ' ').trim()}'` : `bytes ${head.subarray(0, 8).toString('hex')}`;
}

export interface ImageFinding {
  kind: ProblemKind;
  message: string;
}

/**
 * Checks one image file; undefined when it is a readable image of the expected size. `expect` is the size
 * the layout defines, if it defines one.
 */
export async function inspectImageFile(file: string, expect?: { width: number; height: number }): Promise<ImageFinding | undefined> {
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) return { kind: 'missing-file', message: `cannot read image: ${st.code ?? st.message}` };
  if (!st.isFile()) return { kind: 'not-image', message: 'not a file' };
  if (st.size === 0) return { kind: 'empty-image', message: 'empty image file (0 bytes)' };
  if (st.size > MAX_IMAGE_BYTES) return { kind: 'huge-image', message: `image file of ${st.size} bytes is over the ${MAX_IMAGE_BYTES}-byte limit; not read` };
  const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => e);
  if (bytes instanceof Error) return { kind: 'bad-image', message: `cannot read image: ${bytes.code ?? bytes.message}` };
  const format = sniffFormat(bytes);
  if (!format) return { kind: 'not-image', message: `not an image: the file starts with ${describeHead(bytes)}` };
  const png = format === 'png' ? checkPng(bytes) : 'ask-libvips';
  const size = png === 'ask-libvips' ? await checkWithSharp(bytes, format) : png;
  if ('kind' in size) return size;
  // After the decode: a damaged file is reported as damaged whatever its size.
  if (expect && (size.width !== expect.width || size.height !== expect.height)) {
    return { kind: 'wrong-size', message: `image is ${size.width}x${size.height}; this layout's images are ${expect.width}x${expect.height} (spec option ?size=any accepts any size)` };
  }
  return undefined;
}

type Checked = { width: number; height: number } | ImageFinding;

const overBudget = (width: number, height: number, format: string): ImageFinding | undefined =>
  width * height > MAX_IMAGE_PIXELS
    ? { kind: 'huge-image', message: `${width}x${height} ${format} is over the ${MAX_IMAGE_PIXELS / 1e6} megapixel decode limit; not decoded` }
    : undefined;

/**
 * PNGs (FER2013/FERPlus/CK+ are all PNG) are checked with fast-png: its inflate fails on a cut or damaged
 * stream, and it costs a fraction of a libvips call. Size from IHDR first, so a bomb is never inflated.
 */
function checkPng(bytes: Buffer): Checked | 'ask-libvips' {
  if (bytes.length < 24 || bytes.toString('latin1', 12, 16) !== 'IHDR') return { kind: 'bad-image', message: 'corrupt png: no IHDR header' };
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  const huge = overBudget(width, height, 'png');
  if (huge) return huge;
  try {
    decodePng(bytes);
    return { width, height };
  } catch {
    return 'ask-libvips'; // libvips gives the message (and has the last word on PNG features fast-png lacks)
  }
}

/** Other formats: libvips reads the header, refuses a size over the budget before decoding, then decodes. */
async function checkWithSharp(bytes: Buffer, format: string): Promise<Checked> {
  try {
    // failOn 'truncated': real datasets hold JPEGs with harmless warnings, but a cut-off or corrupt file must fail.
    const { info } = await sharp(bytes, { failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS }).raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height };
  } catch (e) {
    const message = (e as Error).message;
    if (/pixel limit/i.test(message)) {
      const meta = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => undefined);
      const huge = meta?.width && meta.height ? overBudget(meta.width, meta.height, format) : undefined;
      return huge ?? { kind: 'huge-image', message: `${format} is over the ${MAX_IMAGE_PIXELS / 1e6} megapixel decode limit; not decoded` };
    }
    return { kind: 'bad-image', message: `truncated or corrupt ${format}: ${message}` };
  }
}
