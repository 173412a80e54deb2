// The int8 activation scales of a checkpoint, kept beside it (DIR/onednn.int8.json), so a later
// `kefer eval --precision int8` on oneDNN skips the calibration pass. They hold while the checkpoint's
// bytes and the calibration (images, count, seed) are the same; anything else, or a file that does not
// parse as one, means calibrating again. The weights' scales are not kept: they come from the weights.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ActivationScales } from '../types.js';

export const ONEDNN_INT8_FILE = 'onednn.int8.json';
const FORMAT = 'kefer-onednn-int8';

export interface CalibrationKey {
  data: string;
  images: number;
  seed: number;
}

interface Stored {
  format: typeof FORMAT;
  version: 1;
  checkpointSha256: string;
  calibration: CalibrationKey;
  scales: ActivationScales;
}

const isScale = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** The kept scales, or why there are none usable (missing, made from other bytes or images, malformed). */
export async function readInt8Scales(dir: string, checkpointSha256: string, key: CalibrationKey): Promise<{ scales?: ActivationScales; why: string }> {
  const file = path.join(dir, ONEDNN_INT8_FILE);
  let s: Partial<Stored>;
  try {
    s = JSON.parse(await readFile(file, 'utf8')) as Partial<Stored>;
  } catch (e) {
    return { why: (e as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${ONEDNN_INT8_FILE} yet` : `${file} is not readable JSON` };
  }
  const sc = s.scales;
  if (s.format !== FORMAT || s.version !== 1 || !sc || !isScale(sc.input) || !Array.isArray(sc.out) || !sc.out.every(isScale)) return { why: `${file} is not a ${FORMAT} file` };
  if (s.checkpointSha256 !== checkpointSha256) return { why: `${file} was made from other checkpoint bytes` };
  const c = s.calibration;
  if (!c || c.data !== key.data || c.images !== key.images || c.seed !== key.seed) return { why: `${file} was calibrated on other images (${c?.images} of ${c?.data}, seed ${c?.seed})` };
  return { scales: { input: sc.input, out: sc.out }, why: '' };
}

/** Writes then renames, so a concurrent reader never sees half a file. */
export async function writeInt8Scales(dir: string, checkpointSha256: string, key: CalibrationKey, scales: ActivationScales): Promise<void> {
  const file = path.join(dir, ONEDNN_INT8_FILE);
  const stored: Stored = { format: FORMAT, version: 1, checkpointSha256, calibration: key, scales };
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(stored) + '\n');
  await rename(tmp, file);
}
