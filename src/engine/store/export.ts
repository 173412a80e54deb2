// `kefer labels export`: a corrected copy of a dataset's label files, in the dataset's own format
// or the KE-FER list format. Never writes inside the dataset root or over an original label file.
import { copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { splitCsvLine } from '../data/common.js';
import { basename, dirname, extname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { CANONICAL_CLASSES } from '../classes.js';
import { StoreError, type Store } from './db.js';
import { getDataset } from './datasets.js';
import { readLinesSync } from './records.js';

export const EXPORT_FORMATS = ['rafdb', 'affectnet-csv', 'ferplus', 'folder', 'list'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  format: ExportFormat;
  /** Output directory (created; must be outside the dataset root). */
  out: string;
  /** folder format: copy images instead of symlinking them. */
  copy?: boolean;
  /** Keep samples marked 'exclude' (default: left out, as training leaves them out). */
  keepExcluded?: boolean;
  /** Write into an existing non-empty directory. */
  force?: boolean;
}

export interface ExportResult {
  files: string[];
  /** Samples written (lines, rows or images). */
  samples: number;
  relabeled: number;
  excluded: number;
  /** Original label files the export was derived from (empty when generated from the store). */
  sources: string[];
}

interface ExportSample {
  id: string;
  path: string;
  split: string;
  label: number;
  orig: number;
  excluded: boolean;
}

// Canonical index -> dataset codes.
const RAFDB_CODE = [1, 2, 3, 4, 5, 6, 7]; // contempt has no RAF-DB code
// Mirrors the dataset layout, so OUT plus the Image folder (linked) reads as a RAF-DB root.
const RAFDB_OUT = 'EmoLabel/list_patition_label.txt';
const AFFECTNET_CODE = [3, 4, 5, 1, 2, 6, 0, 7];
// FERPlus vote columns: neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF.
const FERPLUS_COLUMN = [2, 6, 5, 1, 3, 4, 0, 7];

/** Resolves symlinks of the longest existing prefix, so a not-yet-created OUT compares correctly. */
function realish(p: string): string {
  const abs = resolve(p);
  let head = abs;
  const tail: string[] = [];
  while (!existsSync(head)) {
    const parent = dirname(head);
    if (parent === head) break;
    tail.unshift(basename(head));
    head = parent;
  }
  try {
    head = realpathSync(head);
  } catch {
    // keep the unresolved path
  }
  return join(head, ...tail);
}

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function loadSamples(store: Store, dataset: number): ExportSample[] {
  return (
    store.db
      .prepare(
        `SELECT s.sid, s.path, s.split, s.label, s.orig_label, coalesce(m.excluded, 0) FROM samples s LEFT JOIN marks m ON m.sample = s.sk
         WHERE s.dataset = ? ORDER BY s.sk`,
      )
      .raw()
      .all(dataset) as [string, string, string, number, number, number][]
  ).map(([id, path, split, label, orig, ex]) => ({ id, path, split, label, orig, excluded: ex !== 0 }));
}

export function exportLabels(store: Store, dataset: number, opts: ExportOptions): ExportResult {
  if (!EXPORT_FORMATS.includes(opts.format)) throw new StoreError(`unknown export format '${opts.format}' (${EXPORT_FORMATS.join(', ')})`);
  const d = getDataset(store, dataset);
  const root = realish(d.root);
  const out = realish(opts.out);
  if (inside(out, root)) throw new StoreError(`refusing to export into ${opts.out}: it is inside the dataset root ${d.root}; the original label files are never overwritten`);
  if (existsSync(out) && readdirSync(out).length > 0 && !opts.force) throw new StoreError(`${opts.out} exists and is not empty (pass --force to write into it)`);
  const samples = loadSamples(store, dataset);
  const res: ExportResult = { files: [], samples: 0, relabeled: 0, excluded: 0, sources: [] };
  const keep = (s: ExportSample) => {
    if (s.excluded && !opts.keepExcluded) {
      res.excluded++;
      return false;
    }
    return true;
  };
  const files = new Map<string, string[]>(); // output file (relative to out) -> lines
  const emit = (file: string, line: string) => {
    let lines = files.get(file);
    if (!lines) files.set(file, (lines = []));
    lines.push(line);
  };
  const count = (s: ExportSample) => {
    res.samples++;
    if (s.label !== s.orig) res.relabeled++;
  };

  switch (opts.format) {
    case 'list': {
      // KE-FER list files: "relative_path label", 0-based canonical labels, one file per split.
      for (const s of samples) {
        if (!keep(s)) continue;
        // The label is the last token of a line, so spaces in paths are fine; line breaks are not.
        if (/[\r\n]/.test(s.path)) throw new StoreError(`sample path '${s.path}' contains a line break`);
        emit(`${s.split}.txt`, `${s.path} ${s.label}`);
        count(s);
      }
      break;
    }
    case 'rafdb': {
      const byName = new Map<string, ExportSample>();
      for (const s of samples) {
        byName.set(rafdbName(s), s);
        byName.set(s.id, s);
      }
      const src = [join(d.root, 'EmoLabel', 'list_patition_label.txt'), join(d.root, 'basic', 'EmoLabel', 'list_patition_label.txt'), join(d.root, 'list_patition_label.txt')].find((f) => existsSync(f));
      const code = (s: ExportSample) => {
        if (s.label >= RAFDB_CODE.length) throw new StoreError(`sample '${s.id}' is labelled ${CANONICAL_CLASSES[s.label]}, which RAF-DB has no code for`);
        return RAFDB_CODE[s.label];
      };
      if (src) {
        // Rewrite the original file line by line: same order, untouched lines verbatim.
        res.sources.push(src);
        let n = 0;
        for (const line of readLinesSync(src)) {
          n++;
          const m = /^(\S+)\s+(\d+)\s*$/.exec(line);
          const s = m ? (byName.get(m[1]) ?? byName.get(m[1].replace(/\.jpg$/i, ''))) : undefined;
          if (!m || !s) {
            if (line.trim()) emit(RAFDB_OUT, line);
            continue;
          }
          if (!keep(s)) continue;
          emit(RAFDB_OUT, s.label === s.orig ? line : `${m[1]} ${code(s)}`);
          count(s);
        }
        if (n === 0) throw new StoreError(`${src}: empty label file`);
      } else {
        for (const s of samples) {
          if (!keep(s)) continue;
          emit(RAFDB_OUT, `${rafdbName(s)} ${code(s)}`);
          count(s);
        }
      }
      break;
    }
    case 'ferplus': {
      const byPath = new Map(samples.map((s) => [s.path, s]));
      const folders = [...new Set(samples.map((s) => posix.dirname(s.path)))];
      const oneHot = (label: number) => {
        const votes = new Array<number>(10).fill(0);
        votes[FERPLUS_COLUMN[label]] = 10;
        return votes.join(',');
      };
      for (const folder of folders) {
        const outFile = posix.join(folder, 'label.csv');
        const src = join(d.root, ...folder.split('/'), 'label.csv');
        if (existsSync(src)) {
          res.sources.push(src);
          let n = 0;
          for (const line of readLinesSync(src)) {
            n++;
            if (!line.trim()) continue;
            // name,"(x, y, w, h)",10 votes
            const m = /^([^,]+),("[^"]*"|[^,]*),(.*)$/.exec(line);
            if (!m) throw new StoreError(`${src}:${n}: not a FERPlus label row`);
            const s = byPath.get(posix.join(folder, m[1].trim()));
            if (!s) {
              emit(outFile, line);
              continue;
            }
            if (!keep(s)) continue;
            emit(outFile, s.label === s.orig ? line : `${m[1]},${m[2]},${oneHot(s.label)}`);
            count(s);
          }
        } else {
          for (const s of samples) {
            if (posix.dirname(s.path) !== folder || !keep(s)) continue;
            emit(outFile, `${posix.basename(s.path)},"(0, 0, 48, 48)",${oneHot(s.label)}`);
            count(s);
          }
        }
      }
      break;
    }
    case 'affectnet-csv': {
      const HEADER = 'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
      const byKey = new Map<string, ExportSample>();
      for (const s of samples) {
        byKey.set(s.id, s);
        byKey.set(s.path, s);
        byKey.set(s.path.replace(/^Manually_Annotated_Images\//, ''), s);
      }
      const sources = ['training.csv', 'validation.csv']
        .flatMap((f) => [join(d.root, f), join(d.root, 'Manually_Annotated_file_lists', f)])
        .filter((f) => existsSync(f));
      if (sources.length > 0) {
        for (const src of sources) {
          res.sources.push(src);
          const outFile = basename(src);
          let n = 0;
          let exprCol = -1;
          for (const line of readLinesSync(src)) {
            n++;
            if (!line.trim()) continue;
            const cells = splitCsvLine(line);
            if (exprCol < 0) {
              exprCol = cells.indexOf('expression');
              if (exprCol < 0) throw new StoreError(`${src}:${n}: header has no 'expression' column`);
              emit(outFile, line);
              continue;
            }
            const s = byKey.get(cells[0]);
            if (!s) {
              emit(outFile, line);
              continue;
            }
            if (!keep(s)) continue;
            if (s.label !== s.orig) {
              cells[exprCol] = String(AFFECTNET_CODE[s.label]);
              emit(outFile, cells.map(csvCell).join(','));
            } else emit(outFile, line);
            count(s);
          }
        }
      } else {
        // No original CSVs: generate rows with the face box and landmarks left empty.
        for (const s of samples) {
          if (!keep(s)) continue;
          const outFile = s.split === 'train' ? 'training.csv' : 'validation.csv';
          if (!files.has(outFile)) emit(outFile, HEADER);
          emit(outFile, `${csvCell(s.path.replace(/^Manually_Annotated_Images\//, ''))},,,,,,${AFFECTNET_CODE[s.label]},,`);
          count(s);
        }
      }
      break;
    }
    case 'folder': {
      // <out>/<split>/<class>/<file>: symlinks to the originals (or copies with `copy`).
      const used = new Set<string>();
      mkdirSync(out, { recursive: true });
      for (const s of samples) {
        if (!keep(s)) continue;
        const dir = join(out, s.split, CANONICAL_CLASSES[s.label]);
        const ext = extname(s.path);
        const stem = basename(s.path, ext);
        let name = `${stem}${ext}`;
        for (let i = 2; used.has(join(dir, name)); i++) name = `${stem}__${i}${ext}`;
        const target = join(dir, name);
        used.add(target);
        mkdirSync(dir, { recursive: true });
        const source = join(d.root, ...s.path.split('/'));
        if (opts.copy) copyFileSync(source, target);
        else symlinkSync(source, target);
        res.files.push(target);
        count(s);
      }
      return res;
    }
  }

  // Last guard: none of the files may be an original label file (e.g. OUT pointing at the root by a link).
  const originals = new Set(res.sources.map(realish));
  for (const rel of files.keys()) {
    const target = join(out, ...rel.split('/'));
    if (originals.has(realish(target))) throw new StoreError(`refusing to overwrite the original label file ${target}`);
  }
  for (const [rel, lines] of files) {
    const target = join(out, ...rel.split('/'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, lines.join('\n') + '\n');
    res.files.push(target);
  }
  return res;
}

/** RAF-DB list name of a sample: "train_00001.jpg" (the listed name has no "_aligned"). */
function rafdbName(s: ExportSample): string {
  if (/^(train|test)_\d+$/.test(s.id)) return `${s.id}.jpg`;
  return basename(s.path.split('/').join(sep)).replace(/_aligned(\.[a-z]+)$/i, '$1');
}

function csvCell(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
