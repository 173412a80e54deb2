// FER2013: the Kaggle csv (emotion,pixels,Usage; pixels are 48*48 space-separated grey levels, kept in
// memory as Sample.pixels) or the "msambare" class folders (angry, disgust, ... ; read via the folder reader).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CODE_TABLES, lookupCode } from '../codes.js';
import { classList, imageSizeOption, indexIn, normalizeSplit, rootOf, splitCsvLine } from '../common.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type Sample } from '../types.js';
import { indexScan, scanClassFolders } from './folder.js';

const USAGE: Record<string, string> = { Training: 'train', PublicTest: 'valid', PrivateTest: 'test' };

/** A header names its columns; anything else on the first line is a data row (Kaggle order), checked as one. */
function isHeaderRow(cols: string[]): boolean {
  return cols.some((c) => /^(emotion|pixels)$/i.test(c.trim()));
}

async function readCsv(csv: string, spec: DataSpec, report: ProblemSink): Promise<Dataset> {
  const root = path.dirname(csv);
  const classes = classList(7);
  const want = spec.split !== undefined ? normalizeSplit(spec.split) : undefined;
  const size = imageSizeOption(spec, 48);
  const rl = createInterface({ input: createReadStream(csv, 'utf8'), crlfDelay: Infinity });
  let col: { emotion: number; pixels: number; usage: number } | undefined;
  let header = '';
  const samples: Sample[] = [];
  let line = 0;
  let row = -1;
  for await (const raw of rl) {
    line++;
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    const at = { file: csv, line };
    if (!col) {
      const cells = splitCsvLine(text);
      if (!isHeaderRow(cells)) {
        // No header: the Kaggle column order emotion,pixels,Usage.
        col = { emotion: 0, pixels: 1, usage: cells.length > 2 ? 2 : -1 };
        header = 'no header: columns emotion,pixels,Usage by position';
      } else {
        const head = cells.map((h) => h.trim().toLowerCase());
        col = { emotion: head.indexOf('emotion'), pixels: head.indexOf('pixels'), usage: head.indexOf('usage') };
        if (col.emotion < 0 || col.pixels < 0) {
          rl.close();
          throw new DatasetError(`header must have emotion and pixels columns (got '${text}')`, csv, line);
        }
        header = `header '${text.trim()}'`;
        continue;
      }
    }
    if (!text.trim()) continue;
    row++; // 0-based data row: the index FERPlus uses in its ferNNNNNNN.png names
    const cols = splitCsvLine(text);
    const code = (cols[col.emotion] ?? '').trim();
    const cls = lookupCode(CODE_TABLES.fer2013, code);
    const label = cls ? indexIn(classes, cls) : undefined;
    if (label === undefined) {
      report({ kind: 'unknown-code', message: `emotion '${code}' is not a FER2013 code 0..6`, ...at, field: 'emotion' });
      continue;
    }
    const usage = col.usage >= 0 ? (cols[col.usage] ?? '').trim() : 'Training';
    const split = USAGE[usage];
    if (!split) {
      report({ kind: 'bad-line', message: `Usage '${usage}' is not Training, PublicTest or PrivateTest`, ...at, field: 'Usage' });
      continue;
    }
    if (want !== undefined && split !== want) continue;
    const field = (cols[col.pixels] ?? '').trim();
    if (!field) {
      report({ kind: 'empty-image', message: 'empty pixels field', ...at, field: 'pixels' });
      continue;
    }
    const values = field.split(/\s+/);
    const bad = values.findIndex((v) => !/^\d+$/.test(v) || Number(v) > 255);
    if (bad >= 0) {
      report({ kind: 'bad-image', message: `pixel ${bad + 1} is '${values[bad]}', not a grey level 0..255`, ...at, field: 'pixels' });
      continue;
    }
    const side = Math.round(Math.sqrt(values.length));
    const expected = size ? size.width * size.height : side * side;
    if (values.length !== expected || side < 2) {
      const want = size ? `${size.width}x${size.height} = ${expected}` : 'a square number of';
      report({ kind: 'wrong-size', message: `pixels holds ${values.length} values; FER2013 images are ${want} grey levels (spec option ?size=any accepts any square)`, ...at, field: 'pixels' });
      continue;
    }
    const [width, height] = size ? [size.width, size.height] : [side, side];
    samples.push({
      id: `fer${String(row).padStart(7, '0')}`,
      path: path.basename(csv),
      label,
      split,
      pixels: { width, height, channels: 1, data: Uint8Array.from(values, Number) },
    });
  }
  const layout = { name: 'fer2013-csv', evidence: `${path.basename(csv)}, ${header}, ${row + 1} rows`, sure: true };
  return { format: 'fer2013', root, classes, split: want, samples, layout };
}

export async function readFer2013(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const target = rootOf(spec);
  const st = await stat(target).catch(() => undefined);
  if (!st) throw new DatasetError('not found', target);
  if (st.isFile()) return readCsv(target, spec, report);
  const csv = path.join(target, 'fer2013.csv');
  if ((await stat(csv).catch(() => undefined))?.isFile()) return readCsv(csv, spec, report);
  // msambare layout: {train,test}/{angry,...}/*.jpg or the class folders directly.
  const scan = await scanClassFolders(spec, report);
  const ds = indexScan('fer2013', { ...spec, options: { ...spec.options, classes: '7' } }, scan, 48);
  ds.layout = { ...scan.layout, name: 'fer2013-folders' };
  return ds;
}
