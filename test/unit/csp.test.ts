import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CSP_REPORT_FILE, CspReports, describeViolation } from '../../src/extension/panels/csp.js';
import { parseWebviewMessage, type CspViolation } from '../../src/webviews/protocol.js';

const violation: CspViolation = { view: 'diagnostics', directive: 'style-src-attr', blocked: 'inline', sample: 'color:red', source: 'vscode-webview://x/diagnostics.js', line: 3 };

test('parseWebviewMessage accepts a cspViolation report and bounds its text', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'cspViolation', violation }), { type: 'cspViolation', violation });
  const long = parseWebviewMessage({ type: 'cspViolation', violation: { ...violation, sample: 'x'.repeat(5000), line: -4 } });
  assert.equal(long?.type, 'cspViolation');
  if (long?.type === 'cspViolation') {
    assert.equal(long.violation.sample.length, 300);
    assert.equal(long.violation.line, 0);
  }
  // missing optional text fields become empty strings rather than undefined in a log line
  const bare = parseWebviewMessage({ type: 'cspViolation', violation: { view: 'dashboard', directive: 'img-src' } });
  assert.deepEqual(bare, { type: 'cspViolation', violation: { view: 'dashboard', directive: 'img-src', blocked: '', sample: '', source: '', line: 0 } });
});

test('parseWebviewMessage rejects malformed cspViolation reports', () => {
  assert.equal(parseWebviewMessage({ type: 'cspViolation' }), undefined);
  assert.equal(parseWebviewMessage({ type: 'cspViolation', violation: { ...violation, view: 'other' } }), undefined);
  assert.equal(parseWebviewMessage({ type: 'cspViolation', violation: { ...violation, directive: '' } }), undefined);
  assert.equal(parseWebviewMessage({ type: 'cspViolation', violation: { ...violation, directive: 7 } }), undefined);
});

test('CspReports logs each violation and appends it to the report file, which starts empty', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-csp-'));
  try {
    const file = path.join(dir, 'logs', CSP_REPORT_FILE);
    const lines: string[] = [];
    const r = new CspReports((l) => lines.push(l), file);
    assert.equal(fs.readFileSync(file, 'utf8'), '', 'created empty: "no violations" is distinguishable from "not recorded"');
    r.record(violation);
    r.record({ ...violation, view: 'dashboard', directive: 'script-src-elem', blocked: 'https://evil.example/x.js', sample: '', source: '', line: 0 });
    assert.equal(r.violations.length, 2);
    assert.deepEqual(lines, [
      'CSP violation in the diagnostics webview: style-src-attr blocked inline "color:red" at vscode-webview://x/diagnostics.js:3',
      'CSP violation in the dashboard webview: script-src-elem blocked https://evil.example/x.js',
    ]);
    const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CspViolation & { at: string });
    assert.deepEqual(rows.map((x) => [x.view, x.directive]), [['diagnostics', 'style-src-attr'], ['dashboard', 'script-src-elem']]);
    assert.ok(!Number.isNaN(Date.parse(rows[0].at)));
    // a new session starts a fresh record
    new CspReports(() => undefined, file);
    assert.equal(fs.readFileSync(file, 'utf8'), '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('describeViolation reads without a source location', () => {
  assert.equal(describeViolation({ ...violation, sample: '', source: '', line: 0, blocked: '' }), 'CSP violation in the diagnostics webview: style-src-attr blocked inline');
});
