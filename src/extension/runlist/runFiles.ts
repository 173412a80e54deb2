// Reads and writes what the extension keeps about a run folder. The engine owns run.json,
// records.jsonl and checkpoints; the extension adds studio.json (dataset spec, parent run, status)
// so the runs tree and diagnostics work with any engine version. Plain node: used by host and worker.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SampleRecord } from '../../engine/eval/types.js';
import type { RunSummary } from '../../webviews/protocol.js';
import { CANONICAL_CLASSES } from '../../engine/classes.js';

export interface StudioMeta {
  dataSpec: string;
  datasetRoot: string;
  datasetName: string;
  startedAt: string;
  backbone: string;
  status: RunSummary['status'];
  accuracy: number | null;
  classes: string[];
  parent?: string;
  backend?: string;
  textSource?: string;
  checkpoint?: string;
}

export const META_FILE = 'studio.json';
export const RECORDS_FILE = 'records.jsonl';

export function readMeta(runDir: string): StudioMeta | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, META_FILE), 'utf8')) as StudioMeta;
  } catch {
    return undefined;
  }
}

export function writeMeta(runDir: string, meta: StudioMeta): void {
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(path.join(runDir, META_FILE), JSON.stringify(meta, null, 2));
}

export function updateMeta(runDir: string, patch: Partial<StudioMeta>): StudioMeta | undefined {
  const m = readMeta(runDir);
  if (!m) return undefined;
  const next = { ...m, ...patch };
  writeMeta(runDir, next);
  return next;
}

export function readRecords(runDir: string): SampleRecord[] {
  const file = path.join(runDir, RECORDS_FILE);
  if (!fs.existsSync(file)) return [];
  const out: SampleRecord[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim()) out.push(JSON.parse(line) as SampleRecord);
  }
  return out;
}

export function classesFor(numClasses: number): string[] {
  return CANONICAL_CLASSES.slice(0, numClasses >= 8 ? 8 : 7) as unknown as string[];
}

/** Best checkpoint dir of a run: the done event's, else run.json's, else the newest folder with config.json. */
export function findCheckpoint(runDir: string): string | undefined {
  const m = readMeta(runDir);
  if (m?.checkpoint && fs.existsSync(m.checkpoint)) return m.checkpoint;
  try {
    const rj = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { checkpoint?: string; best?: { checkpoint?: string } };
    const c = rj.best?.checkpoint ?? rj.checkpoint;
    if (c) return path.isAbsolute(c) ? c : path.join(runDir, c);
  } catch {
    // no run.json yet
  }
  const dirs = fs.readdirSync(runDir, { withFileTypes: true }).filter((d) => d.isDirectory() && fs.existsSync(path.join(runDir, d.name, 'config.json')));
  return dirs.length ? path.join(runDir, dirs.map((d) => d.name).sort().at(-1)!) : undefined;
}

/** Accuracy shown in the runs tree: on the validation split (every run kind scores it), else test, else all. */
export function headlineAccuracy(records: readonly { split: string; label: number; pred: number }[]): number | null {
  const pick = (s: string[]) => records.filter((x) => s.includes(x.split));
  const pool = [pick(['valid', 'val']), pick(['test']), [...records]].find((p) => p.length > 0);
  return pool ? pool.filter((x) => x.pred === x.label).length / pool.length : null;
}