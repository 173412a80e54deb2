// Reports stay bounded in size and memory on datasets with very many problems, or absurd lines
// (hardening round 2, docs/fault-suite.md): a million lines naming missing images (a large dataset
// pointed at the wrong image folder), and a label file with a 200 MB line. The CLI as a user runs it,
// in a child process whose peak resident memory is read at exit. Times are printed, not asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openStore } from '../../src/engine/store/index.js';

const BIN = path.join(__dirname, '..', '..', 'bin', 'kefer.js');

/**
 * Runs the CLI (bin/kefer.js: the bundle when built, else the sources in a child process); its peak RSS
 * (MB) comes from an exit hook preloaded into every Node process it starts (the largest one counts).
 */
function kefer(cwd: string, ...args: string[]) {
  const hook = path.join(cwd, 'maxrss.cjs');
  fs.writeFileSync(hook, "process.on('exit', () => require('fs').writeSync(2, `\\nmaxrss=${process.resourceUsage().maxRSS}\\n`));\n");
  const t0 = Date.now();
  const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${hook}` };
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8', maxBuffer: 1 << 30, timeout: 300_000 });
  const rss = Math.max(...[...(r.stderr ?? '').matchAll(/maxrss=(\d+)/g)].map((m) => Number(m[1]))) / 1024;
  return { code: r.status, out: r.stdout, err: (r.stderr ?? '').replace(/\nmaxrss=\d+\n/g, ''), rssMb: rss, seconds: (Date.now() - t0) / 1000 };
}

test('a million lines naming missing images: counts per kind, 20 of each in text, every one in --json; memory bounded', { timeout: 600_000 }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-million-'));
  try {
    const lines: string[] = [];
    for (let i = 0; i < 1_000_000; i++) lines.push(`img/missing_${String(i).padStart(7, '0')}.png ${i % 7}`);
    fs.writeFileSync(path.join(dir, 'list.txt'), lines.join('\n') + '\n');
    fs.mkdirSync(path.join(dir, 'images'));
    const spec = `list:${path.join(dir, 'list.txt')}?root=${path.join(dir, 'images')}`;

    const text = kefer(dir, 'data', 'check', spec);
    assert.equal(text.code, 1, text.err);
    const out = text.out.split('\n');
    assert.ok(out.length < 60, `${out.length} lines of text`);
    assert.ok(out.includes('1,000,000 problems (1,000,000 missing-file):'), text.out.slice(0, 2000));
    assert.ok(out.includes('  missing-file (1,000,000)'));
    assert.equal(out.filter((l) => / \[path\]: image img\/missing_\d+\.png not found/.test(l)).length, 20);
    assert.ok(out.includes('    … and 999,980 more missing-file (kefer data check --json lists every problem)'));
    assert.ok(text.rssMb < 500, `text report: ${text.rssMb.toFixed(0)} MB peak`);

    const json = kefer(dir, 'data', 'check', spec, '--json');
    assert.equal(json.code, 1, json.err);
    const j = JSON.parse(json.out) as { problemCount: number; byKind: Record<string, number>; problems: { line: number }[] };
    assert.equal(j.problemCount, 1_000_000);
    assert.deepEqual(j.byKind, { 'missing-file': 1_000_000 });
    assert.equal(j.problems.length, 1_000_000);
    assert.equal(j.problems[999_999].line, 1_000_000);
    assert.ok(json.rssMb < 500, `--json: ${json.rssMb.toFixed(0)} MB peak`);
    t.diagnostic(`1,000,000 missing images: text ${text.seconds.toFixed(1)} s, ${text.rssMb.toFixed(0)} MB peak; --json ${json.seconds.toFixed(1)} s, ${json.rssMb.toFixed(0)} MB peak (${json.out.length.toLocaleString('en-US')} bytes)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a 200 MB label line: one bad-line problem with its length, every output line short, no megabyte copies', { timeout: 300_000 }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-hugeline-'));
  try {
    const fd = fs.openSync(path.join(dir, 'list.txt'), 'w');
    fs.writeSync(fd, 'img/a.png 1\n');
    const block = Buffer.alloc(1 << 20, 'x');
    for (let i = 0; i < 200; i++) fs.writeSync(fd, block);
    fs.writeSync(fd, '.png 3\nimg/b.png 2\n');
    fs.closeSync(fd);
    fs.mkdirSync(path.join(dir, 'images'));
    const spec = `list:${path.join(dir, 'list.txt')}?root=${path.join(dir, 'images')}`;
    for (const json of [false, true]) {
      const r = kefer(dir, 'data', 'check', spec, ...(json ? ['--json'] : []));
      assert.equal(r.code, 1, r.err.slice(0, 2000));
      const longest = Math.max(...r.out.split('\n').map((l) => l.length));
      assert.ok(longest < 1000, `longest output line: ${longest.toLocaleString('en-US')} characters`);
      assert.match(r.out, /the path is 209,715,204 characters long \(no file name is over 4096\): not a label line/);
      // the file itself is 200 MB: read once as bytes, its line decoded once
      assert.ok(r.rssMb < 800, `${r.rssMb.toFixed(0)} MB peak`);
      t.diagnostic(`200 MB line${json ? ' (--json)' : ''}: ${r.seconds.toFixed(1)} s, ${r.rssMb.toFixed(0)} MB peak, longest line ${longest}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('every error line is clipped, saying how long the field was', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-longid-'));
  try {
    // a sample id of 100,000 characters (the most one argument may hold is 128 KiB)
    fs.writeFileSync(path.join(dir, 'list.txt'), 'a.png 1\n');
    fs.writeFileSync(path.join(dir, 'a.png'), '');
    openStore(path.join(dir, 's.db')).close();
    const r = kefer(dir, 'relabel', '--store', path.join(dir, 's.db'), '--data', `list:${path.join(dir, 'list.txt')}`, 'x'.repeat(100_000), 'happy');
    assert.equal(r.code, 1);
    assert.ok(r.err.length < 2500, `${r.err.length} characters`);
    assert.match(r.err, /x… \[\d{3},\d{3} characters\] …x/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
