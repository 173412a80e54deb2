// Content-Security-Policy violations the webviews report (`cspViolation` messages). The webviews run
// without 'unsafe-inline', so each report is a bug: it goes to the KE-FER output channel and, one
// JSON object a line, to a file in the extension's log folder, where the end-to-end test reads it.
// No `vscode` import, so unit tests use it directly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CspViolation } from '../../webviews/protocol.js';

export const CSP_REPORT_FILE = 'csp-violations.jsonl';

export function describeViolation(v: CspViolation): string {
  const where = v.source ? ` at ${v.source}${v.line ? `:${v.line}` : ''}` : '';
  const sample = v.sample ? ` "${v.sample}"` : '';
  return `CSP violation in the ${v.view} webview: ${v.directive} blocked ${v.blocked || 'inline'}${sample}${where}`;
}

export class CspReports {
  readonly violations: CspViolation[] = [];

  /** `file`: created empty now, so a reader can tell "no violations" from "nothing recorded". */
  constructor(
    private readonly log: (line: string) => void,
    private readonly file?: string,
  ) {
    if (file) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '');
    }
  }

  record(v: CspViolation): void {
    this.violations.push(v);
    this.log(describeViolation(v));
    if (this.file) fs.appendFileSync(this.file, `${JSON.stringify({ at: new Date().toISOString(), ...v })}\n`);
  }
}
