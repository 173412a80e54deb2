// Writes the corrected labels as CSV (path, original, corrected, flags): the format every dataset
// reader in the engine and external tools can ingest; class names as well as indices avoid ambiguity.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Corrections {
  root: string;
  classes: string[];
  rows: { id: string; path: string; label: number; newLabel: number | null; excluded: boolean; unsure: boolean }[];
}

const q = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function correctionsCsv(c: Corrections): string {
  const lines = ['id,path,label,label_name,corrected_label,corrected_name,excluded,unsure'];
  for (const r of c.rows) {
    const cur = r.newLabel ?? r.label;
    lines.push([q(r.id), q(r.path), r.label, c.classes[r.label] ?? '', cur, c.classes[cur] ?? '', r.excluded ? 1 : 0, r.unsure ? 1 : 0].join(','));
  }
  return lines.join('\n') + '\n';
}

export function writeCorrectionsCsv(file: string, c: Corrections): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, correctionsCsv(c));
}
