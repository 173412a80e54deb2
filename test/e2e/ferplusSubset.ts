// A small FERPlus dataset for tests of the real-faces journey: every k-th row of each split's
// label.csv (votes kept as they are) and copies of those images (48 px PNGs, ~2 KB each; copies, not
// links: the readers and the webviews' roots authority refuse a link that leads out of the dataset),
// in the FERPlus layout the reader expects (data/FER2013{Train,Valid}/label.csv), in a temp folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SHARED_DATA } from './codeServer.js';

export const FERPLUS = path.join(SHARED_DATA, 'ferplus');

/** Where the FERPlus images and votes are, or why a test that needs them skips. */
export function ferplusAbsent(): string | false {
  return fs.existsSync(path.join(FERPLUS, 'data', 'FER2013Train', 'label.csv')) ? false : `FERPlus not found at ${FERPLUS} (KEFER_SHARED_DATA overrides ../shared/data)`;
}

/**
 * Writes the subset to `dst` (replaced): `rows[split]` label lines of each split, spread evenly over
 * the split (every k-th line), so the classes come in about the split's own proportions.
 */
export function makeFerplusSubset(dst: string, rows: { train: number; valid: number }): string {
  fs.rmSync(dst, { recursive: true, force: true });
  for (const [split, folder] of [['train', 'FER2013Train'], ['valid', 'FER2013Valid']] as const) {
    const src = path.join(FERPLUS, 'data', folder);
    const lines = fs.readFileSync(path.join(src, 'label.csv'), 'utf8').split('\n').filter((l) => l.trim());
    const step = Math.max(1, Math.floor(lines.length / rows[split]));
    const kept = lines.filter((_, i) => i % step === 0).slice(0, rows[split]);
    const out = path.join(dst, 'data', folder);
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'label.csv'), kept.join('\n') + '\n');
    for (const l of kept) {
      const name = l.split(',')[0];
      fs.copyFileSync(path.join(src, name), path.join(out, name));
    }
  }
  return dst;
}
