import type { ClassName } from '../classes.js';

/** One labelled image. `label` indexes `Dataset.classes`. */
export interface Sample {
  /** Stable id, unique in the dataset (e.g. "FER2013Train/fer0000001.png" or "train_00001"). */
  id: string;
  /** Path relative to the dataset root, with forward slashes. */
  path: string;
  /** Index into Dataset.classes. */
  label: number;
  /** Split name as the dataset defines it ("train", "valid", "test", ...). */
  split: string;
  /**
   * In-memory pixels for formats without one file per image (FER2013 Kaggle csv). When set, decoders use
   * these instead of reading `path` (which then names the source file, e.g. "fer2013.csv").
   */
  pixels?: RawPixels;
  /**
   * Annotators' vote counts where the dataset has them (FERPlus: 10 annotators): one count per canonical
   * class (all 8, CANONICAL_CLASSES order), then unknown, then not-a-face (length 10). `label` is the
   * reader's majority vote; `kefer train --ferplus-labels` trains on these.
   */
  votes?: number[];
}

/** Row-major 8-bit pixels, `channels` interleaved (1 = gray, 3 = RGB). */
export interface RawPixels {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

export interface Dataset {
  /** Reader name: "ferplus", "folder", "rafdb", "synthetic", ... */
  format: string;
  /** Absolute dataset root; Sample.path is relative to it. */
  root: string;
  /** Class names in index order: a prefix of CANONICAL_CLASSES (7 or 8 classes). */
  classes: ClassName[];
  /** Split selected by the spec (undefined = all). */
  split?: string;
  samples: Sample[];
  /** True for generated data; UIs and reports must label it as synthetic. */
  synthetic?: boolean;
  /** Which on-disk layout the reader found, and what it based that on. */
  layout?: LayoutVerdict;
  /** Image size the layout defines (FER2013 48x48, RAF-DB aligned 100x100); absent when sizes vary. */
  imageSize?: { width: number; height: number };
}

/** A reader's verdict on the layout, weighed over the whole label file or folder, never one line. */
export interface LayoutVerdict {
  /** e.g. "rafdb-basic", "affectnet-npy", "fer2013-csv", "class-folders". */
  name: string;
  /** What the verdict rests on, in words ("24 lines: 23 basic train_NNNNN/test_NNNN names, ..."). */
  evidence: string;
  /** False when the evidence was mixed; the reader still read and checked every line. */
  sure: boolean;
}

/** `<format>:<root>[#split]` of a loaded dataset, for logs, events and export metadata. */
export function describeDataset(ds: Dataset): string {
  return `${ds.format}:${ds.root}${ds.split ? `#${ds.split}` : ''}`;
}

/** Parsed `<format>:<path>[#split]` data spec. */
export interface DataSpec {
  format: string;
  path: string;
  split?: string;
  /** Options after the split, e.g. "ferplus:DIR#train?classes=8". */
  options: Record<string, string>;
}

/** Thrown for bad dataset input; message names the file (and line/field where known). */
export class DatasetError extends Error {
  /** The message without the file:line prefix. */
  readonly reason: string;
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(file ? `${file}${line !== undefined ? `:${line}` : ''}: ${message}` : message);
    this.name = 'DatasetError';
    this.reason = message;
  }
}
