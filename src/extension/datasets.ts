// Finds datasets in the workspace and asks the user for one. A dataset is a folder the engine can
// read: {train,valid,test}/{class}/images (folder/synthetic layouts) or FER+ (label.csv files).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalClassName } from '../engine/classes.js';

export interface DatasetChoice {
  spec: string;
  root: string;
  name: string;
}

const SPLITS = ['train', 'valid', 'val', 'test'];

/** Guesses the reader for a folder; undefined when it does not look like a dataset. */
export function detectDataset(dir: string): DatasetChoice | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const name = path.basename(dir);
  if (['.kefer-synthetic', 'SYNTHETIC.md', 'synthetic.json'].some((f) => fs.existsSync(path.join(dir, f)))) return { spec: `synthetic:${dir}`, root: dir, name };
  if (entries.includes('FER2013Train') || entries.includes('fer2013new.csv')) return { spec: `ferplus:${dir}`, root: dir, name };
  const split = entries.find((e) => SPLITS.includes(e.toLowerCase()));
  if (split) {
    const classes = safeList(path.join(dir, split)).filter((c) => canonicalClassName(c));
    if (classes.length >= 2) return { spec: `folder:${dir}`, root: dir, name };
  }
  return undefined;
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Datasets in the workspace folder and up to `depth` levels below (skipping heavy folders). */
export function findDatasets(root: string, depth = 3): DatasetChoice[] {
  const out: DatasetChoice[] = [];
  const walk = (dir: string, d: number): void => {
    const ds = detectDataset(dir);
    if (ds) {
      out.push(ds);
      return;
    }
    if (d === 0) return;
    for (const e of safeList(dir)) {
      if (e.startsWith('.') || e === 'node_modules' || e === 'dist' || e === 'out') continue;
      const p = path.join(dir, e);
      try {
        if (fs.statSync(p).isDirectory()) walk(p, d - 1);
      } catch {
        // unreadable entry: skip
      }
    }
  };
  walk(root, depth);
  return out;
}

/** Dataset root of a `<format>:<path>[#split][?opts]` spec. */
export function specRoot(spec: string): string {
  return spec.replace(/^[a-z0-9]+:/i, '').replace(/[#?].*$/, '');
}

/**
 * A spec whose path is absolute: `kefer train --store` records the spec as typed (relative to the shell's
 * folder, maybe not the workspace); the store knows the dataset's absolute root, which takes its place.
 */
export function absoluteSpec(spec: string, root: string): string {
  const m = /^([a-z0-9_-]+):(.*?)([#?].*)?$/i.exec(spec);
  if (!m || path.isAbsolute(m[2])) return spec;
  return `${m[1]}:${root}${m[3] ?? ''}`;
}
