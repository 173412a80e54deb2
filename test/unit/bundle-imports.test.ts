// Every module the engine loads lazily is named by a literal, so esbuild puts it in the bundle
// (dist/cli.js): `import(specifier)` with a variable is resolved at run time against the bundle's own
// folder, where the sources are not (`kefer relabel --data` once failed so in the packaged CLI).
// The packaged CLI itself runs every command in test/e2e/packaged-cli.e2e.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.join(__dirname, '..', '..', 'src');
/** A dynamic import whose argument is not a string literal; `.import(` calls and `import(x: T)` method definitions are not imports. */
const DYNAMIC = /(?<![.\w$])import\(\s*(?![\w$]+\s*:)(?!['"`][^'"`$]*['"`]\s*\))/g;
/** Written inside a script string run by a child process, not resolved by the bundle. */
const ALLOWED = new Set(['engine/backend/webgpu.ts: const script = `const m = await import(${JSON.stringify(entry)}); Object.assign(globalThis, m.globals);']);

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

test('every dynamic import in src names a literal module', () => {
  const found: string[] = [];
  for (const file of sources(SRC)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      // comments may say import( in prose
      if (/^\s*(\/\/|\*)/.test(line) || !DYNAMIC.test(line)) continue;
      DYNAMIC.lastIndex = 0;
      const key = `${path.relative(SRC, file).split(path.sep).join('/')}: ${line.trim()}`;
      if (!ALLOWED.has(key)) found.push(key);
    }
  }
  assert.deepEqual(found, []);
  // the pattern finds what it is for
  assert.ok(DYNAMIC.test("const m = await import(specifier);"));
  DYNAMIC.lastIndex = 0;
  assert.ok(!DYNAMIC.test("const m = await import('../data/index.js');"));
  DYNAMIC.lastIndex = 0;
  assert.ok(!DYNAMIC.test('sgd.import(new Map());'));
  DYNAMIC.lastIndex = 0;
  assert.ok(!DYNAMIC.test('  import(state: Map<string, number>): void {'));
});
