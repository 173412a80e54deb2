// FER2013: the Kaggle csv (emotion,pixels,Usage; pixels are 48*48 space-separated grey levels, kept in
// memory as Sample.pixels) or the "msambare" class folders (angry, disgust, ... ; read via the folder reader).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CODE_TABLES, lookupCode } from '../codes.js';
import { classList, indexIn, normalizeSplit, rootOf, splitCsvLine } from '../common.js';
import { throwingSink, type ProblemSink } from '../problems.js';
import { DatasetError, type Dataset, type DataSpec, type Sample } from '../types.js';
import { indexScan, scanClassFolders } from './folder.js';

const USAGE: Record<string, string> = { Training: 'train', PublicTest: 'valid', PrivateTest: 'test' };

async function readCsv(csv: string, spec: DataSpec, report: ProblemSink): Promise<Dataset> {
  const root = path.dirname(csv);
  const classes = classList(7);
  const want = spec.split !== undefined ? normalizeSplit(spec.split) : undefined;
  const rl = createInterface({ input: createReadStream(csv, 'utf8'), crlfDelay: Infinity });
  let col: { emotion: number; pixels: number; usage: number } | undefined;
  const samples: Sample[] = [];
  let line = 0;
  let row = -1;
  for await (const raw of rl) {
    line++;
    const text = raw.replace(/^\uFEFF/, '');
    if (!col) {
      const head = splitCsvLine(text).map((h) => h.trim().toLowerCase());
      col = { emotion: head.indexOf('emotion'), pixels: head.indexOf('pixels'), usage: head.indexOf('usage') };
      if (col.emotion < 0 || col.pixels < 0) {
        rl.close();
        throw new DatasetError(`header must have emotion and pixels columns (got '${text}')`, csv, line);
      }
      continue;
    }
    if (!text.trim()) continue;
    row++; // 0-based data row: the index FERPlus uses in its ferNNNNNNN.png names
    const cols = splitCsvLine(text);
    const cls = lookupCode(CODE_TABLES.fer2013, (cols[col.emotion] ?? '').trim());
    const label = cls ? indexIn(classes, cls) : undefined;
    if (label === undefined) {
      report({ kind: 'unknown-code', message: `emotion '${cols[col.emotion]}' is not a FER2013 code 0..6`, file: csv, line });
      continue;
    }
    const usage = col.usage >= 0 ? (cols[col.usage] ?? '').trim() : 'Training';
    const split = USAGE[usage];
    if (!split) {
      report({ kind: 'bad-line', message: `Usage '${usage}' is not Training, PublicTest or PrivateTest`, file: csv, line });
      continue;
    }
    if (want !== undefined && split !== want) continue;
    const values = (cols[col.pixels] ?? '').trim().split(/\s+/);
    const side = Math.round(Math.sqrt(values.length));
    const data = Uint8Array.from(values, Number);
    if (side * side !== values.length || side < 2 || values.some((v, i) => !/^\d+$/.test(v) || data[i] !== Number(v))) {
      report({ kind: 'bad-image', message: `pixels must be a square number of grey levels 0..255 (got ${values.length} values)`, file: csv, line });
      continue;
    }
    samples.push({
      id: `fer${String(row).padStart(7, '0')}`,
      path: path.basename(csv),
      label,
      split,
      pixels: { width: side, height: side, channels: 1, data },
    });
  }
  return { format: 'fer2013', root, classes, split: want, samples };
}

export async function readFer2013(spec: DataSpec, report: ProblemSink = throwingSink): Promise<Dataset> {
  const target = rootOf(spec);
  const st = await stat(target).catch(() => undefined);
  if (!st) throw new DatasetError('not found', target);
  if (st.isFile()) return readCsv(target, spec, report);
  const csv = path.join(target, 'fer2013.csv');
  if ((await stat(csv).catch(() => undefined))?.isFile()) return readCsv(csv, spec, report);
  // msambare layout: {train,test}/{angry,...}/*.jpg or the class folders directly.
  const ds = indexScan('fer2013', { ...spec, options: { ...spec.options, classes: '7' } }, await scanClassFolders(spec, report));
  return ds;
}
