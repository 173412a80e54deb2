// No import cycles in the engine: neither between modules nor between its folders (data, model, eval, onnx,
// runtimes, train, ...), with the runtime imports esbuild's bundler resolves (its metafile; type-only
// imports vanish at build time and cannot form a cycle at run time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ENGINE = 'src/engine';
const root = path.resolve(__dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Strongly connected components with more than one member (Tarjan), each a cycle or a knot of cycles. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Module graph of src/engine from esbuild's metafile (paths relative to the repository). */
async function moduleGraph(): Promise<Map<string, string[]>> {
  const r = await build({
    entryPoints: sources(path.join(root, ENGINE)), bundle: true, write: false, metafile: true, packages: 'external',
    platform: 'node', format: 'esm', outdir: path.join(root, '.test-artifacts', 'import-cycles'), logLevel: 'silent', absWorkingDir: root,
  });
  const g = new Map<string, string[]>();
  for (const [file, info] of Object.entries(r.metafile.inputs)) {
    if (file.startsWith(ENGINE)) g.set(file, info.imports.filter((i) => !i.external && i.path.startsWith(ENGINE)).map((i) => i.path));
  }
  return g;
}

/** The engine's top-level folders (a file directly in src/engine is its own unit) and their imports. */
function folderGraph(modules: Map<string, string[]>): Map<string, string[]> {
  const unit = (f: string) => path.relative(ENGINE, f).split(/[\\/]/)[0];
  const g = new Map<string, Set<string>>();
  for (const [f, deps] of modules) {
    const a = unit(f);
    if (!g.has(a)) g.set(a, new Set());
    for (const d of deps) if (unit(d) !== a) g.get(a)!.add(unit(d));
  }
  return new Map([...g].map(([k, v]) => [k, [...v]]));
}

test('the cycle finder finds a planted cycle and passes an acyclic graph', () => {
  assert.deepEqual(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']]);
  assert.deepEqual(cycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), []);
});

test('src/engine has no import cycle between modules or between folders', async () => {
  const modules = await moduleGraph();
  assert.ok(modules.size > 100, `read the engine's modules (${modules.size})`);
  assert.ok(modules.get(`${ENGINE}/train/trainer.ts`)?.includes(`${ENGINE}/train/run.ts`), 'the graph has the trainer\'s imports');
  assert.deepEqual(cycles(modules), [], 'module cycles');
  const folders = folderGraph(modules);
  assert.ok(folders.get('train')?.includes('runtimes'), 'train imports runtimes');
  assert.deepEqual(cycles(folders), [], 'folder cycles');
});
