// Planted-fault generator for the data-check suite: writes a small dataset of any layout the readers
// accept, with faults planted on purpose, and says exactly which problems a check must report (kind,
// file, line) and which samples it must keep. Each fault gets its own fresh sample, so faults never mask
// one another by construction; what is under test is whether the reader lets one hide another.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import type { ClassName } from '../../src/engine/classes.js';
import { CODE_TABLES, FERPLUS_VOTE_COLUMNS } from '../../src/engine/data/codes.js';
import type { ProblemKind } from '../../src/engine/data/problems.js';
import { Rng } from '../../src/engine/util/rng.js';
import { pngChunk } from './data-fixtures.js';

export const FAULTS = [
  'missing-file',
  'unknown-code',
  'empty-image',
  'truncated-png',
  'truncated-jpeg',
  'corrupt-png',
  'corrupt-jpeg',
  'not-image',
  'duplicate-id',
  'conflicting-label',
  'line-endings',
  'header-variant',
  'non-utf8-name',
  'path-escape',
  'symlink-escape',
  'huge-image',
  'wrong-size',
  'vote-arity',
  'bad-pixels',
] as const;
export type Fault = (typeof FAULTS)[number];

/** What a check must call each fault; undefined = an accepted variant that must produce no problem. */
export const REPORTED_AS: Record<Fault, ProblemKind | undefined> = {
  'missing-file': 'missing-file',
  'unknown-code': 'unknown-code',
  'empty-image': 'empty-image',
  'truncated-png': 'bad-image',
  'truncated-jpeg': 'bad-image',
  'corrupt-png': 'bad-image',
  'corrupt-jpeg': 'bad-image',
  'not-image': 'not-image',
  'duplicate-id': 'duplicate-id',
  'conflicting-label': 'conflicting-label',
  'line-endings': undefined,
  'header-variant': undefined,
  'non-utf8-name': 'bad-encoding',
  'path-escape': 'escapes-root',
  'symlink-escape': 'escapes-root',
  'huge-image': 'huge-image',
  'wrong-size': 'wrong-size',
  'vote-arity': 'bad-line',
  'bad-pixels': 'bad-image',
};

/** How each fault is planted (for the docs table). */
export const FAULT_DESCRIPTIONS: Record<Fault, string> = {
  'missing-file': 'a listed image that is not on disk',
  'unknown-code': 'a label code outside the layout\'s table (RAF-DB 0/8..12, FER2013 7, AffectNet 11+, ...), an unknown class folder, or a FER+ vote count over 10',
  'empty-image': 'a zero-byte image file (FER2013 csv: an empty pixels field)',
  'truncated-png': 'a PNG cut in half',
  'truncated-jpeg': 'a JPEG cut at 60%',
  'corrupt-png': 'a PNG with scrambled IDAT bytes',
  'corrupt-jpeg': 'a JPEG with a destroyed Huffman table',
  'not-image': 'an HTML error page saved under an image name',
  'duplicate-id': 'the same id listed twice with the same label',
  'conflicting-label': 'the same id listed twice with two labels',
  'line-endings': 'CRLF line endings, a UTF-8 BOM and trailing spaces/tabs on every line (must be accepted)',
  'header-variant': 'the header spelled another way: case, quotes, spaces, column order, absent (must be accepted)',
  'non-utf8-name': 'a file name or label line with a Latin-1 byte (0xE9)',
  'path-escape': 'a listed path leading outside the dataset root (../ or absolute)',
  'symlink-escape': 'an image that is a symlink to a file outside the dataset root',
  'huge-image': 'a valid 10000x10000 PNG (100 MP, 12 KB compressed): refused from its header, never decoded',
  'wrong-size': 'an image (or pixels row) of another size than the layout defines',
  'vote-arity': 'a FER+ row with 9 or 11 vote counts',
  'bad-pixels': 'a FER2013 pixels field with a value that is no grey level (300, x)',
};

type At = 'line' | 'image' | 'folder' | 'annotation';
type Content = { bytes: Buffer } | { missing: true } | { link: string };

export interface Entry {
  /** Unique number; every name derives from it. */
  n: number;
  cls: ClassName;
  split: string;
  ext: 'png' | 'jpg';
  content: Content;
  badName?: boolean;
  /** Label code written instead of the class's (unknown-code). */
  code?: string;
  /** Path written instead of its own (path-escape). */
  escapePath?: string;
  /** FER+ vote cells written instead of the class's. */
  votes?: string[];
  /** FER2013 pixels field written instead. */
  pixels?: string;
  /** Class folder written instead (unknown class folder). */
  folder?: string;
  /** This entry lists `twin.n` a second time (duplicate or conflict). */
  twin?: Entry;
  /** The problem this entry must produce, if any (for twins: decided after writing). */
  expect?: { kind: ProblemKind; at: At };
  /** Whether the check must keep its sample. */
  kept: boolean;
}

export interface WriteOpts {
  crlf: boolean;
  bom: boolean;
  trailing: boolean;
  /** Index into the layout's header variants (0 = the usual header). */
  header: number;
  /** Folder holding files outside the root (path and symlink escapes point there). */
  outside: string;
}

export interface Written {
  /** Where a problem about `e` is reported. */
  where(e: Entry, at: At): { file: string; line?: number };
  /** Reading order of an entry's listing (a later listing of an id is the one reported). */
  order(e: Entry): number;
  /** The sample id the reader gives the entry. */
  id(e: Entry): string;
}

export interface Layout {
  /** Row name in the table. */
  name: string;
  /** Expected `layout.name` verdict of the reader. */
  verdict: string;
  spec(root: string): string;
  splits: string[];
  classes: ClassName[];
  /** Image side the layout defines (clean images use it; wrong-size uses another). */
  side: number;
  ext: 'png' | 'jpg';
  /** Where problems found while reading the labels are reported. */
  labelAt: At;
  /** Where image problems are reported. */
  imageAt: At;
  /** Faults that do not apply, with the reason. */
  na: Partial<Record<Fault, string>>;
  /** Codes that are not labels in this layout. */
  unknownCodes: string[];
  /** Header variants (index 0 = the usual one); empty when the format has no header. */
  headers: string[];
  write(root: string, entries: Entry[], opts: WriteOpts): Promise<Written>;
}

// ---------- image bytes ----------

const imageCache = new Map<string, Promise<Buffer>>();

/** A valid grey image (cached): smooth content so JPEG and PNG stay small. */
export function okImage(ext: 'png' | 'jpg', w: number, h = w): Promise<Buffer> {
  const key = `${ext}:${w}x${h}`;
  let p = imageCache.get(key);
  if (!p) {
    const px = Buffer.alloc(w * h);
    for (let i = 0; i < px.length; i++) px[i] = ((i % w) * 5 + Math.floor(i / w) * 3) % 256;
    const img = sharp(px, { raw: { width: w, height: h, channels: 1 } });
    p = (ext === 'png' ? img.png() : img.jpeg()).toBuffer();
    imageCache.set(key, p);
  }
  return p;
}

async function noisy(ext: 'png' | 'jpg'): Promise<Buffer> {
  const px = Buffer.alloc(32 * 32 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7919) % 251;
  const img = sharp(px, { raw: { width: 32, height: 32, channels: 3 } });
  return (ext === 'png' ? img.png() : img.jpeg()).toBuffer();
}

export async function truncatedPng(): Promise<Buffer> {
  const png = await noisy('png');
  return png.subarray(0, png.length >> 1);
}

export async function truncatedJpeg(): Promise<Buffer> {
  const jpg = await noisy('jpg');
  return jpg.subarray(0, Math.floor(jpg.length * 0.6));
}

export async function corruptPng(): Promise<Buffer> {
  const png = Buffer.from(await noisy('png'));
  const idat = png.indexOf('IDAT');
  for (let i = idat + 8; i < idat + 40; i++) png[i] ^= 0x5a;
  return png;
}

export async function corruptJpeg(): Promise<Buffer> {
  const jpg = Buffer.from(await noisy('jpg'));
  const dht = jpg.indexOf(Buffer.from([0xff, 0xc4]));
  for (let i = dht + 5; i < dht + 21; i++) jpg[i] = 0xff;
  return jpg;
}

export const NOT_AN_IMAGE = Buffer.from('<html><body><h1>404 Not Found</h1></body></html>\n');

let bomb: Buffer | undefined;
/** A valid 1-bit 10000x10000 PNG: 100 megapixels in ~12 KB, the classic decompression bomb shape. */
export function hugePng(side = 10000): Buffer {
  if (bomb && side === 10000) return bomb;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grey
  const raw = Buffer.alloc(side * (1 + Math.ceil(side / 8))); // filter byte 0 + zero bits per row
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
  if (side === 10000) bomb = png;
  return png;
}

// ---------- writing helpers ----------

const LATIN1_E = Buffer.from([0xe9]);

/** A name with one Latin-1 byte in it (not UTF-8). */
function badNameBytes(prefix: string, rest: string): Buffer {
  return Buffer.concat([Buffer.from(prefix), LATIN1_E, Buffer.from(rest)]);
}

/** `dir/name` as bytes when the name is not UTF-8. */
function filePath(dir: string, name: string | Buffer): string | Buffer {
  return typeof name === 'string' ? path.join(dir, name) : Buffer.concat([Buffer.from(dir + path.sep), name]);
}

/** How a reader shows a non-UTF-8 name (lossy decode). */
function shown(dir: string, name: string | Buffer): string {
  return path.join(dir, typeof name === 'string' ? name : name.toString('utf8'));
}

async function writeContent(file: string | Buffer, c: Content): Promise<void> {
  await mkdir(path.dirname(typeof file === 'string' ? file : file.toString('latin1')), { recursive: true });
  if ('missing' in c) return;
  if ('link' in c) return symlink(c.link, file);
  await writeFile(file, c.bytes);
}

/** Label-file bytes from lines, with the line-ending variants of `opts`. */
function labelBytes(lines: (string | Buffer)[], opts: WriteOpts): Buffer {
  const eol = Buffer.from(opts.crlf ? '\r\n' : '\n');
  const trail = Buffer.from(opts.trailing ? ' \t ' : '');
  const parts: Buffer[] = opts.bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
  for (const l of lines) parts.push(typeof l === 'string' ? Buffer.from(l) : l, trail, eol);
  return Buffer.concat(parts);
}

/** Concatenates string/bytes parts; bytes only when one part is bytes. */
function join(...parts: (string | Buffer)[]): string | Buffer {
  return parts.every((p) => typeof p === 'string') ? parts.join('') : Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');
const code = (table: readonly (string | null)[], cls: ClassName) => String((table as readonly string[]).indexOf(cls));

/** Line-based bookkeeping shared by layouts with label files. */
class LineBook implements Written {
  readonly lines = new Map<Entry, { file: string; line: number; order: number }>();
  readonly images = new Map<number, string>();
  readonly folders = new Map<Entry, string>();
  readonly annotations = new Map<number, string>();
  readonly ids = new Map<Entry, string>();
  private next = 0;
  listed(e: Entry, file: string, line: number, id: string) {
    this.lines.set(e, { file, line, order: this.next++ });
    this.ids.set(e, id);
  }
  where(e: Entry, at: At) {
    if (at === 'line') {
      const l = this.lines.get(e)!;
      return { file: l.file, line: l.line };
    }
    if (at === 'image') return { file: this.images.get(e.n)! };
    if (at === 'folder') return { file: this.folders.get(e)! };
    return { file: this.annotations.get(e.n)! };
  }
  order(e: Entry) {
    return this.lines.get(e)?.order ?? 0;
  }
  id(e: Entry) {
    return this.ids.get(e)!;
  }
}

function outsideFile(opts: WriteOpts, e: Entry): string {
  return path.join(opts.outside, `outside_${e.n}.png`);
}

// ---------- layouts ----------

const SEVEN: ClassName[] = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];

const NO_LABEL_FILE = 'no label text file: the folders are the labels';
const IDS_ARE_PATHS = 'ids are paths: a file cannot be listed twice, and one name in two class folders is two images';
const NO_LISTED_PATHS = 'no listed paths; only a symlink can lead out (symlink-escape)';
const FERPLUS_ONLY = 'FER+ vote rows only';
const CSV_ONLY = 'FER2013 csv pixels only';
const SIZES_VARY = 'the layout defines no image size (any size is resized at decode)';

const rafdb: Layout = {
  name: 'rafdb-basic',
  verdict: 'rafdb-basic',
  spec: (root) => `rafdb:${root}`,
  splits: ['train', 'test'],
  classes: SEVEN,
  side: 100,
  ext: 'jpg',
  labelAt: 'line',
  imageAt: 'image',
  na: {
    'header-variant': 'list_patition_label.txt has no header',
    'path-escape': 'names must be train_NNNNN.jpg / test_NNNN.jpg: a path cannot be written (it is a bad line)',
    'vote-arity': FERPLUS_ONLY,
    'bad-pixels': CSV_ONLY,
  },
  unknownCodes: ['0', '8', '9', '10', '11', '12', 'x'],
  headers: [],
  async write(root, entries, opts) {
    const book = new LineBook();
    const labelFile = path.join(root, 'EmoLabel', 'list_patition_label.txt');
    const imageDir = path.join(root, 'Image', 'aligned');
    await mkdir(imageDir, { recursive: true });
    const lines: (string | Buffer)[] = [];
    for (const e of entries) {
      const digits = e.split === 'train' ? 5 : 4;
      const stem = e.badName ? badNameBytes(`${e.split}_`, pad(e.n, digits - 1)) : `${e.split}_${pad(e.n, digits)}`;
      lines.push(join(stem, `.jpg ${e.code ?? code(CODE_TABLES.rafdb, e.cls)}`));
      book.listed(e, labelFile, lines.length, String(stem));
      if (e.twin) continue;
      const img = join(stem, '_aligned.jpg');
      book.images.set(e.n, shown(imageDir, img));
      await writeContent(filePath(imageDir, img), e.content);
    }
    await mkdir(path.dirname(labelFile), { recursive: true });
    await writeFile(labelFile, labelBytes(lines, opts));
    return book;
  },
};

const ferplus: Layout = {
  name: 'ferplus',
  verdict: 'ferplus',
  spec: (root) => `ferplus:${root}`,
  splits: ['train', 'valid', 'test'],
  classes: SEVEN,
  side: 48,
  ext: 'png',
  labelAt: 'line',
  imageAt: 'image',
  na: { 'bad-pixels': CSV_ONLY },
  unknownCodes: [],
  headers: ['', 'Image name,Face box,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF', '"Image name","box","Neutral","Happiness","Surprise","Sadness","Anger","Disgust","Fear","Contempt","Unknown","NF"'],
  async write(root, entries, opts) {
    const book = new LineBook();
    const folders: Record<string, string> = { train: 'FER2013Train', valid: 'FER2013Valid', test: 'FER2013Test' };
    for (const [split, folderName] of Object.entries(folders)) {
      const folder = path.join(root, 'data', folderName);
      await mkdir(folder, { recursive: true });
      const labelFile = path.join(folder, 'label.csv');
      const lines: (string | Buffer)[] = opts.header ? [this.headers[opts.header]] : [];
      for (const e of entries.filter((x) => x.split === split)) {
        const name = e.badName ? badNameBytes('fer', `${pad(e.n, 6)}.png`) : `fer${pad(e.n, 7)}.png`;
        const votes = e.votes ?? FERPLUS_VOTE_COLUMNS.map((c) => (c === e.cls ? '10' : '0'));
        const listedName = e.escapePath ? path.relative(folder, e.escapePath) : name;
        lines.push(join(listedName, `,"(0, 0, 48, 48)",${votes.join(',')}`));
        book.listed(e, labelFile, lines.length, `${folderName}/${String(name)}`);
        if (e.twin || e.escapePath) continue;
        book.images.set(e.n, shown(folder, name));
        await writeContent(filePath(folder, name), e.content);
      }
      await writeFile(labelFile, labelBytes(lines, opts));
    }
    return book;
  },
};

const USAGE: Record<string, string> = { train: 'Training', valid: 'PublicTest', test: 'PrivateTest' };

/** FER2013 csv pixels of one 48x48 image (or `count` values). */
export function pixelsField(n: number, count = 2304): string {
  return Array.from({ length: count }, (_, i) => (i * 3 + n * 13) % 256).join(' ');
}

const fer2013csv: Layout = {
  name: 'fer2013-csv',
  verdict: 'fer2013-csv',
  spec: (root) => `fer2013:${path.join(root, 'fer2013.csv')}`,
  splits: ['train', 'valid', 'test'],
  classes: SEVEN,
  side: 48,
  ext: 'png',
  labelAt: 'line',
  imageAt: 'line',
  na: {
    'missing-file': 'no image files: pixels are inline',
    'truncated-png': 'no image files: a cut pixels row is wrong-size',
    'truncated-jpeg': 'no image files: a cut pixels row is wrong-size',
    'corrupt-png': 'no image files: a damaged pixels value is bad-pixels',
    'corrupt-jpeg': 'no image files: a damaged pixels value is bad-pixels',
    'not-image': 'no image files: pixels are inline',
    'duplicate-id': 'ids are row numbers: no row can repeat one',
    'conflicting-label': 'ids are row numbers: no row can repeat one',
    'non-utf8-name': 'no names in the file',
    'path-escape': 'no paths in the file',
    'symlink-escape': 'no image files',
    'huge-image': 'no image files: a row of any other length is wrong-size',
    'vote-arity': FERPLUS_ONLY,
  },
  unknownCodes: ['7', '9', '-1', 'x'],
  // Column orders are given by the header; index 5 has no Usage, 6 no header at all.
  headers: ['emotion,pixels,Usage', 'Emotion,Pixels,Usage', '"emotion","pixels","Usage"', ' emotion , pixels , Usage ', 'Usage,pixels,emotion', 'emotion,pixels', ''],
  async write(root, entries, opts) {
    const book = new LineBook();
    const csv = path.join(root, 'fer2013.csv');
    const header = this.headers[opts.header];
    const cols = header ? header.split(',').map((h) => h.replace(/"/g, '').trim().toLowerCase()) : ['emotion', 'pixels', 'usage'];
    const lines: string[] = header ? [header] : [];
    let row = 0;
    for (const e of entries) {
      const cell: Record<string, string> = {
        emotion: e.code ?? code(CODE_TABLES.fer2013, e.cls),
        pixels: e.pixels ?? pixelsField(e.n),
        usage: USAGE[e.split],
      };
      lines.push(cols.map((c) => cell[c]).join(','));
      book.listed(e, csv, lines.length, `fer${pad(row++, 7)}`);
    }
    await mkdir(root, { recursive: true });
    await writeFile(csv, labelBytes(lines, opts));
    return book;
  },
};

/** Class-folder layouts: root/{split}/{class}/file or root/{class}/file. */
function folderLayout(o: {
  name: string;
  verdict: string;
  spec: (root: string) => string;
  splitDirs?: Record<string, string>;
  folderOf: (cls: ClassName) => string;
  fileName: (e: Entry) => string | Buffer;
  side: number;
  ext: 'png' | 'jpg';
  classes: ClassName[];
  unknownFolders: string[];
  na: Partial<Record<Fault, string>>;
  /** Sample id from the file's path relative to the root (default: that path). */
  idOf?: (rel: string) => string;
}): Layout {
  return {
    name: o.name,
    verdict: o.verdict,
    spec: o.spec,
    splits: o.splitDirs ? Object.keys(o.splitDirs) : ['all'],
    classes: o.classes,
    side: o.side,
    ext: o.ext,
    labelAt: 'image',
    imageAt: 'image',
    na: {
      'line-endings': NO_LABEL_FILE,
      'header-variant': NO_LABEL_FILE,
      'path-escape': NO_LISTED_PATHS,
      'vote-arity': FERPLUS_ONLY,
      'bad-pixels': CSV_ONLY,
      ...o.na,
    },
    unknownCodes: o.unknownFolders,
    headers: [],
    async write(root, entries) {
      const images = new Map<Entry, string>();
      const folders = new Map<Entry, string>();
      for (const e of entries) {
        const base = o.splitDirs ? path.join(root, o.splitDirs[e.split]) : root;
        const folder = path.join(base, e.folder ?? o.folderOf(e.cls));
        const name = o.fileName(e);
        images.set(e, shown(folder, name));
        folders.set(e, folder);
        await writeContent(filePath(folder, name), e.content);
      }
      // Reading order: folders and files sorted by name, as the scan lists them.
      const sorted = [...images.entries()].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
      const order = new Map(sorted.map(([e], i) => [e, i]));
      const rel = (e: Entry) => path.relative(root, images.get(e)!).split(path.sep).join('/');
      return {
        where: (e: Entry, at: At) => ({ file: at === 'folder' ? folders.get(e)! : images.get(e)! }),
        order: (e: Entry) => order.get(e) ?? 0,
        id: (e: Entry) => (o.idOf ? o.idOf(rel(e)) : rel(e)),
      };
    },
  };
}

const MSAMBARE: Record<string, string> = { anger: 'angry', disgust: 'disgust', fear: 'fear', happiness: 'happy', neutral: 'neutral', sadness: 'sad', surprise: 'surprise' };
const VARIANTS: Record<string, string> = { anger: 'angry', disgust: 'disgusted', fear: 'fearful', happiness: 'happy', neutral: 'neutral', sadness: 'sad', surprise: 'surprised' };
const CKPLUS: Record<string, string> = { anger: 'anger', contempt: 'contempt', disgust: 'disgust', fear: 'fear', happiness: 'happy', sadness: 'sadness', surprise: 'surprise' };

const fer2013folders = folderLayout({
  name: 'fer2013-folders',
  verdict: 'fer2013-folders',
  spec: (root) => `fer2013:${root}`,
  splitDirs: { train: 'train', test: 'test' },
  folderOf: (c) => MSAMBARE[c],
  fileName: (e) => (e.badName ? badNameBytes('PrivateTest_', `${e.n}.${e.ext}`) : `PrivateTest_${e.n}.${e.ext}`),
  side: 48,
  ext: 'jpg',
  classes: SEVEN,
  unknownFolders: ['selfies', 'unknown_faces'],
  na: { 'missing-file': NO_LABEL_FILE, 'duplicate-id': IDS_ARE_PATHS, 'conflicting-label': IDS_ARE_PATHS },
});

const classFolders = folderLayout({
  name: 'class-folders',
  verdict: 'class-folders',
  spec: (root) => `folder:${root}`,
  splitDirs: { train: 'train', valid: 'val' },
  folderOf: (c) => VARIANTS[c],
  fileName: (e) => (e.badName ? badNameBytes('img_', `${e.n}.${e.ext}`) : `img_${e.n}.${e.ext}`),
  side: 24,
  ext: 'png',
  classes: SEVEN,
  unknownFolders: ['selfies', 'cats'],
  na: { 'missing-file': NO_LABEL_FILE, 'duplicate-id': IDS_ARE_PATHS, 'conflicting-label': IDS_ARE_PATHS, 'wrong-size': SIZES_VARY },
});

const affectnetFolders = folderLayout({
  name: 'affectnet-folders',
  verdict: 'class-folders',
  spec: (root) => `folder:${root}?codes=affectnet`,
  splitDirs: { train: 'train', valid: 'val' },
  folderOf: (c) => code(CODE_TABLES.affectnet, c),
  fileName: (e) => (e.badName ? badNameBytes('', `${e.n}.${e.ext}`) : `${e.n}.${e.ext}`),
  side: 32,
  ext: 'jpg',
  classes: [...SEVEN, 'contempt'],
  unknownFolders: ['11', '12', '99'],
  na: { 'missing-file': NO_LABEL_FILE, 'duplicate-id': IDS_ARE_PATHS, 'conflicting-label': IDS_ARE_PATHS, 'wrong-size': SIZES_VARY },
});

const ckplusLayout = folderLayout({
  name: 'ckplus',
  verdict: 'ckplus',
  spec: (root) => `ckplus:${root}`,
  folderOf: (c) => CKPLUS[c],
  // A duplicate is the same frame saved twice (.png and .jpg); a conflict, the frame in two class folders.
  fileName: (e) => (e.badName ? badNameBytes('S', `${pad(e.n, 3)}_001_00000001.${e.ext}`) : `S${pad(e.n, 3)}_001_00000001.${e.ext}`),
  side: 48,
  ext: 'png',
  classes: ['anger', 'contempt', 'disgust', 'fear', 'happiness', 'sadness', 'surprise'],
  unknownFolders: ['selfies', 'unknown_faces'],
  na: { 'missing-file': NO_LABEL_FILE },
  // CK+ ids are frame names, so one frame under two names or in two class folders is a repeated id.
  idOf: (rel) => path.basename(rel).replace(/\.[^.]+$/, ''),
});
const affectnetNpy: Layout = {
  name: 'affectnet-npy',
  verdict: 'affectnet-npy',
  spec: (root) => `affectnet:${root}`,
  splits: ['train', 'test'],
  classes: [...SEVEN, 'contempt'],
  side: 64,
  ext: 'jpg',
  labelAt: 'annotation',
  imageAt: 'image',
  na: {
    'duplicate-id': 'one annotation file per id: a folder cannot hold it twice',
    'conflicting-label': 'one annotation file per id: a folder cannot hold it twice',
    'line-endings': 'annotations are binary .npy files',
    'header-variant': 'annotations are binary .npy files',
    'path-escape': 'ids are file names; only a symlink can lead out (symlink-escape)',
    'wrong-size': SIZES_VARY,
    'vote-arity': FERPLUS_ONLY,
    'bad-pixels': CSV_ONLY,
  },
  unknownCodes: ['11', '12', '255'],
  headers: [],
  async write(root, entries) {
    const book = new LineBook();
    const parts: Record<string, string> = { train: 'train_set', test: 'val_set' };
    for (const e of entries) {
      const part = path.join(root, parts[e.split]);
      const id = e.badName ? badNameBytes('caf', String(e.n)) : String(e.n);
      const ann = join(id, '_exp.npy');
      const img = join(id, `.${e.ext}`);
      await mkdir(path.join(part, 'annotations'), { recursive: true });
      await writeFile(filePath(path.join(part, 'annotations'), ann), npyInt(Number(e.code ?? code(CODE_TABLES.affectnet, e.cls))));
      book.annotations.set(e.n, shown(path.join(part, 'annotations'), ann));
      book.images.set(e.n, shown(path.join(part, 'images'), img));
      book.ids.set(e, `${parts[e.split]}/${String(id)}`);
      await writeContent(filePath(path.join(part, 'images'), img), e.content);
    }
    return book;
  },
};

/** A NumPy .npy scalar of dtype <i8 (AffectNet's expression files). */
export function npyInt(v: number): Buffer {
  let header = `{'descr': '<i8', 'fortran_order': False, 'shape': (), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head[0] = 0x93;
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(8);
  body.writeBigInt64LE(BigInt(v));
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

const AFFECTNET_HEAD = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';

const affectnetCsv: Layout = {
  name: 'affectnet-csv',
  verdict: 'affectnet-csv',
  spec: (root) => `affectnet:${root}`,
  splits: ['train', 'test'],
  classes: [...SEVEN, 'contempt'],
  side: 64,
  ext: 'jpg',
  labelAt: 'line',
  imageAt: 'image',
  na: { 'wrong-size': SIZES_VARY, 'vote-arity': FERPLUS_ONLY, 'bad-pixels': CSV_ONLY },
  unknownCodes: ['11', '13', 'x'],
  // 1: validation.csv without header (as some copies ship it); 2: upper-cased header; 3: no header at all.
  headers: [AFFECTNET_HEAD, 'validation:none', AFFECTNET_HEAD.toUpperCase(), 'none'],
  async write(root, entries, opts) {
    const book = new LineBook();
    const imgRoot = path.join(root, 'Manually_Annotated_Images');
    await mkdir(imgRoot, { recursive: true });
    for (const [split, csvName] of [['train', 'training.csv'], ['test', 'validation.csv']]) {
      const csv = path.join(root, csvName);
      const variant = this.headers[opts.header];
      const headed = variant === 'none' ? false : variant === 'validation:none' ? csvName === 'training.csv' : true;
      const lines: (string | Buffer)[] = headed ? [variant.includes(':') ? AFFECTNET_HEAD : variant] : [];
      for (const e of entries.filter((x) => x.split === split)) {
        const sub = String(100 + (e.n % 3));
        const file = e.badName ? badNameBytes(`${sub}/caf`, `${e.n}.${e.ext}`) : `${sub}/${e.n}.${e.ext}`;
        const listed = e.escapePath ? path.relative(imgRoot, e.escapePath) : file;
        lines.push(join(listed, `,0,0,10,10,"1;2;3",${e.code ?? code(CODE_TABLES.affectnet, e.cls)},0.1,0.2`));
        book.listed(e, csv, lines.length, String(file));
        if (e.twin || e.escapePath) continue;
        book.images.set(e.n, shown(imgRoot, file));
        await writeContent(filePath(imgRoot, file), e.content);
      }
      await writeFile(csv, labelBytes(lines, opts));
    }
    return book;
  },
};

const listLayout: Layout = {
  name: 'list',
  verdict: 'list',
  spec: (root) => `list:${path.join(root, 'lists', 'train.txt')}?root=${root}`,
  splits: ['train'],
  classes: [...SEVEN, 'contempt'],
  side: 40,
  ext: 'png',
  labelAt: 'line',
  imageAt: 'image',
  na: { 'header-variant': 'list files have no header', 'wrong-size': SIZES_VARY, 'vote-arity': FERPLUS_ONLY, 'bad-pixels': CSV_ONLY },
  unknownCodes: ['8', '9', '12', 'x'],
  headers: [],
  async write(root, entries, opts) {
    const book = new LineBook();
    const listFile = path.join(root, 'lists', 'train.txt');
    const lines: (string | Buffer)[] = [];
    let absolute = false;
    for (const e of entries) {
      const rel = e.badName ? badNameBytes('imgs/caf', `${e.n}.${e.ext}`) : `imgs/${e.n}.${e.ext}`;
      // Path escapes alternate between ../ and an absolute path.
      if (e.escapePath) absolute = !absolute;
      const listed = e.escapePath ? (absolute ? e.escapePath : path.relative(root, e.escapePath)) : rel;
      lines.push(join(listed, ` ${e.code ?? code(CODE_TABLES.canonical, e.cls)}`));
      book.listed(e, listFile, lines.length, String(listed));
      if (e.twin || e.escapePath) continue;
      book.images.set(e.n, shown(root, rel));
      await writeContent(filePath(root, rel), e.content);
    }
    await mkdir(path.dirname(listFile), { recursive: true });
    await writeFile(listFile, labelBytes(lines, opts));
    return book;
  },
};

export const LAYOUTS: Layout[] = [rafdb, affectnetNpy, affectnetCsv, affectnetFolders, ferplus, fer2013csv, fer2013folders, ckplusLayout, classFolders, listLayout];

export function applies(layout: Layout, fault: Fault): boolean {
  return layout.na[fault] === undefined && !(fault === 'header-variant' && layout.headers.length < 2);
}

// ---------- planting ----------

export interface Plan {
  entries: Entry[];
  opts: Omit<WriteOpts, 'outside'>;
  faults: Fault[];
}

/** A clean dataset of `clean` samples plus each fault in `faults` planted on samples of its own. */
export async function plan(layout: Layout, faults: readonly Fault[], rng: Rng, clean = 6): Promise<Plan> {
  let n = 1;
  const entries: Entry[] = [];
  const splitOf = (i: number) => layout.splits[i % layout.splits.length];
  const fresh = async (over: Partial<Entry> = {}): Promise<Entry> => {
    const i = n++;
    const ext = over.ext ?? layout.ext;
    const e: Entry = { n: i, cls: layout.classes[i % layout.classes.length], split: splitOf(i), ext, content: { bytes: await okImage(ext, layout.side) }, kept: true, ...over };
    entries.push(e);
    return e;
  };
  for (let i = 0; i < clean; i++) await fresh();
  const opts: Plan['opts'] = { crlf: false, bom: false, trailing: false, header: 0 };
  const labelAt = layout.labelAt;
  for (const fault of faults) {
    switch (fault) {
      case 'missing-file':
        await fresh({ content: { missing: true }, kept: false, expect: { kind: 'missing-file', at: labelAt } });
        break;
      case 'unknown-code':
        if (layout.name === 'ferplus') {
          const votes = FERPLUS_VOTE_COLUMNS.map(() => '0');
          const over = rng.int(2) === 0;
          votes[rng.int(8)] = over ? String(11 + rng.int(30)) : '6';
          if (!over) votes[(votes.indexOf('6') + 1) % 8] = '6'; // total 12 > 10 annotators
          await fresh({ votes, kept: false, expect: { kind: 'unknown-code', at: labelAt } });
        } else if (labelAt === 'image') {
          // A folder of its own per planted fault (one folder is one problem, however many images it holds).
          const used = entries.filter((e) => e.folder !== undefined).length;
          await fresh({ folder: `${rng.pick(layout.unknownCodes)}${used ? used : ''}`, kept: false, expect: { kind: 'unknown-code', at: 'folder' } });
        } else {
          await fresh({ code: rng.pick(layout.unknownCodes), kept: false, expect: { kind: 'unknown-code', at: labelAt } });
        }
        break;
      case 'empty-image':
        if (layout.name === 'fer2013-csv') await fresh({ pixels: '', kept: false, expect: { kind: 'empty-image', at: 'line' } });
        else await fresh({ content: { bytes: Buffer.alloc(0) }, kept: false, expect: { kind: 'empty-image', at: layout.imageAt } });
        break;
      case 'truncated-png':
        await fresh({ ext: 'png', content: { bytes: await truncatedPng() }, kept: false, expect: { kind: 'bad-image', at: 'image' } });
        break;
      case 'truncated-jpeg':
        await fresh({ ext: 'jpg', content: { bytes: await truncatedJpeg() }, kept: false, expect: { kind: 'bad-image', at: 'image' } });
        break;
      case 'corrupt-png':
        await fresh({ ext: 'png', content: { bytes: await corruptPng() }, kept: false, expect: { kind: 'bad-image', at: 'image' } });
        break;
      case 'corrupt-jpeg':
        await fresh({ ext: 'jpg', content: { bytes: await corruptJpeg() }, kept: false, expect: { kind: 'bad-image', at: 'image' } });
        break;
      case 'not-image':
        await fresh({ content: { bytes: NOT_AN_IMAGE }, kept: false, expect: { kind: 'not-image', at: 'image' } });
        break;
      case 'duplicate-id':
      case 'conflicting-label': {
        const first = await fresh();
        const conflict = fault === 'conflicting-label';
        const cls = conflict ? layout.classes[(layout.classes.indexOf(first.cls) + 1 + rng.int(layout.classes.length - 1)) % layout.classes.length] : first.cls;
        // CK+: the repeated frame is a second file (.jpg beside .png, or in another class folder).
        const ext = layout.name === 'ckplus' && !conflict ? (first.ext === 'png' ? 'jpg' : 'png') : first.ext;
        const twin = await fresh({ n: first.n, cls, split: first.split, ext, twin: first, kept: false, expect: { kind: conflict ? 'conflicting-label' : 'duplicate-id', at: labelAt } });
        twin.content = first.content;
        if (conflict) first.kept = false;
        break;
      }
      case 'line-endings':
        opts.crlf = opts.bom = opts.trailing = true;
        break;
      case 'header-variant':
        opts.header = 1 + rng.int(layout.headers.length - 1);
        break;
      case 'non-utf8-name':
        await fresh({ badName: true, kept: false, expect: { kind: 'bad-encoding', at: labelAt } });
        break;
      case 'path-escape':
        await fresh({ escapePath: 'pending', kept: false, expect: { kind: 'escapes-root', at: labelAt } });
        break;
      case 'symlink-escape':
        await fresh({ content: { link: 'pending' }, kept: false, expect: { kind: 'escapes-root', at: labelAt } });
        break;
      case 'huge-image':
        await fresh({ ext: 'png', content: { bytes: hugePng() }, kept: false, expect: { kind: 'huge-image', at: layout.imageAt } });
        break;
      case 'wrong-size':
        if (layout.name === 'fer2013-csv') await fresh({ pixels: pixelsField(n, rng.pick([2303, 2305, 1024, 9216])), kept: false, expect: { kind: 'wrong-size', at: 'line' } });
        else await fresh({ content: { bytes: await okImage(layout.ext, layout.side === 64 ? 80 : 64) }, kept: false, expect: { kind: 'wrong-size', at: 'image' } });
        break;
      case 'vote-arity': {
        const count = rng.pick([9, 11]);
        await fresh({ votes: Array.from({ length: count }, (_, i) => (i === 0 ? '10' : '0')), kept: false, expect: { kind: 'bad-line', at: 'line' } });
        break;
      }
      case 'bad-pixels': {
        const values = pixelsField(n).split(' ');
        values[rng.int(values.length)] = rng.pick(['300', 'x', '-4']);
        await fresh({ pixels: values.join(' '), kept: false, expect: { kind: 'bad-image', at: 'line' } });
        break;
      }
    }
  }
  rng.shuffle(entries);
  return { entries, opts, faults: [...faults] };
}

export interface Expected {
  problems: { kind: ProblemKind; file: string; line?: number }[];
  /** Sample ids the check must keep, sorted. */
  kept: string[];
}

/** Writes the plan under `root` (escapes point into `root`-outside) and returns what a check must say. */
export async function materialise(layout: Layout, p: Plan, root: string): Promise<Expected> {
  const outside = `${root}-outside`;
  await mkdir(outside, { recursive: true });
  await mkdir(root, { recursive: true });
  for (const e of p.entries) {
    if (e.escapePath === 'pending') e.escapePath = outsideFile({ outside } as WriteOpts, e);
    if ('link' in e.content && e.content.link === 'pending') e.content = { link: outsideFile({ outside } as WriteOpts, e) };
    const target = e.escapePath ?? ('link' in e.content ? e.content.link : undefined);
    if (target) await writeFile(target, await okImage('png', layout.side));
  }
  const written = await layout.write(root, p.entries, { ...p.opts, outside });
  const problems: Expected['problems'] = [];
  for (const e of p.entries) {
    if (!e.expect) continue;
    // Of an id listed twice, the later listing is the one reported.
    const reported = e.twin && written.order(e.twin) > written.order(e) ? e.twin : e;
    problems.push({ kind: e.expect.kind, ...written.where(reported, e.expect.at) });
  }
  const kept = new Set<string>();
  for (const e of p.entries) if (e.kept) kept.add(written.id(e));
  return { problems: sortProblems(problems), kept: [...kept].sort() };
}

export function sortProblems<K extends string>(ps: { kind: K; file?: string; line?: number }[]): { kind: K; file: string; line?: number }[] {
  return ps
    .map((p) => ({ kind: p.kind, file: p.file ?? '', ...(p.line !== undefined ? { line: p.line } : {}) }))
    .sort((a, b) => `${a.file}:${String(a.line ?? 0).padStart(6)}:${a.kind}`.localeCompare(`${b.file}:${String(b.line ?? 0).padStart(6)}:${b.kind}`));
}
