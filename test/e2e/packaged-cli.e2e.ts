// The engine as it ships: the CLI bundle (dist/cli.js) of the unpacked linux-x64 .vsix, outside the
// checkout, under each Node a VS Code host runs extensions on: 20 (code-server 4.100), 22 (the VS Code
// server behind Remote-SSH / WSL / dev containers) and 24 (code-server 4.139). Each Node runs the
// same session: generate a dataset, check it, train with --store, relabel (also a dataset the store
// does not know yet, through --data: the readers must be inside the bundle), the audit log, export,
// eval, issues, export-onnx, undo, and the demo: every command. Node 22 / 24 come from scripts/install-node.sh (CI installs them);
// a missing one is skipped, saying so. Needs KEFER_E2E_VSIX (scripts/e2e.sh builds it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yauzl from 'yauzl';
import { e2eVsix, REPO } from './codeServer.js';

const vsix = e2eVsix();
const NODES: [string, string | undefined][] = [
  ['20', process.versions.node.startsWith('20.') ? process.execPath : undefined],
  ['22', path.join(REPO, '.cache', 'node-22', 'bin', 'node')],
  ['24', path.join(REPO, '.cache', 'node-24', 'bin', 'node')],
];

function unzip(file: string, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (e: yauzl.Entry) => {
        const out = path.join(dir, e.fileName);
        if (e.fileName.endsWith('/')) {
          fs.mkdirSync(out, { recursive: true });
          return zip.readEntry();
        }
        fs.mkdirSync(path.dirname(out), { recursive: true });
        zip.openReadStream(e, (err2, s) => {
          if (err2) return reject(err2);
          s.pipe(fs.createWriteStream(out)).on('close', () => zip.readEntry()).on('error', reject);
        });
      });
      zip.readEntry();
    });
  });
}

let unpacked: Promise<string> | undefined;
/** The .vsix unpacked once into a temp folder outside the checkout; its dist/cli.js. */
function packagedCli(): Promise<string> {
  unpacked ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-vsix-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    await unzip(vsix!, dir);
    return path.join(dir, 'extension', 'dist', 'cli.js');
  })();
  return unpacked;
}

for (const [major, node] of NODES) {
  const missing = !vsix ? 'KEFER_E2E_VSIX not set (scripts/e2e.sh builds the .vsix)' : !node || !fs.existsSync(node) ? `no Node ${major} (scripts/install-node.sh ${major})` : false;
  test(`the packaged engine under Node ${major}: demo, data check, train --store, relabel (+ a new dataset via --data), log, export, eval, issues, export-onnx`, { timeout: 300000, skip: missing }, async () => {
    const cli = await packagedCli();
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), `kefer-node${major}-`));
    // PATH without the checkout's tools; the store and runs under the workspace, as the extension keeps them
    const kefer = (...args: string[]) => {
      const r = spawnSync(node!, [cli, ...args], { cwd: ws, encoding: 'utf8', timeout: 240000, env: { ...process.env, KEFER_ORT_PROVIDERS: 'cpu' } });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const ok = (...args: string[]) => {
      const r = kefer(...args);
      assert.equal(r.code, 0, `kefer ${args.join(' ')} under Node ${major}: ${r.err || r.out}`);
      return r.out;
    };
    try {
      assert.match(ok('help'), /commands:\n {2}train /);
      assert.match(ok('demo', '--out', 'demo', '--per-class', '5', '--epochs', '1'), /chance \(majority class\)/);
      ok('data', 'generate', 'ds', '--per-class', '6', '--size', '48', '--seed', '3');
      assert.match(ok('data', 'check', 'synthetic:ds'), /no problems found/);
      const trained = ok('train', '--data', 'synthetic:ds', '--out', '.kefer/runs/r1', '--backbone', 'compact', '--max-steps', '3', '--batch', '8', '--store', '.kefer/kefer.db', '--seed', '1');
      assert.match(trained, /registered run r1 with 16 per-sample records/);

      assert.match(ok('relabel', 'train/anger/anger_00000.png', 'happy', '--note', `node ${major}`), /anger -> happiness/);
      const jsonLines = (out: string) => out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const changes = jsonLines(ok('labels', 'log', '--json')) as { sampleId: string; note: string | null }[];
      assert.deepEqual(changes.map((c) => [c.sampleId, c.note]), [['train/anger/anger_00000.png', `node ${major}`]]);
      ok('labels', 'export', '--format', 'list', 'corrected');
      const train = fs.readFileSync(path.join(ws, 'corrected', 'train.txt'), 'utf8');
      assert.match(train, /^train\/anger\/anger_00000\.png 3$/m, 'the export carries the relabel (3 = happiness)');

      // a dataset the store does not know yet: loaded through the readers inside the bundle
      assert.match(ok('relabel', '--data', 'list:corrected/train.txt?root=ds', 'train/anger/anger_00001.png', 'sad'), /-> sadness/);
      assert.match(ok('relabel', '--data', 'list:corrected/train.txt?root=ds', '--undo'), /^undid #2 train\/anger\/anger_00001\.png: anger -> sadness/);

      const evald = JSON.parse(ok('eval', '--checkpoint', '.kefer/runs/r1/checkpoints/best', '--data', 'synthetic:ds#test', '--json')) as { n: number; accuracy: number };
      assert.equal(evald.n, 16);
      assert.ok(evald.accuracy >= 0 && evald.accuracy <= 1);
      const issues = JSON.parse(ok('issues', '--run', '.kefer/runs/r1', '--top', '3', '--json')) as unknown[];
      assert.ok(Array.isArray(issues) || typeof issues === 'object');
      assert.match(ok('export-onnx', '--checkpoint', '.kefer/runs/r1/checkpoints/best', '--out', 'm.onnx'), /exported/);
      assert.ok(fs.statSync(path.join(ws, 'm.onnx')).size > 100_000);
      assert.match(ok('relabel', '--undo', '--data', 'synthetic:ds'), /^undid #1 train\/anger\/anger_00000\.png/);
      assert.deepEqual(jsonLines(ok('labels', 'log', '--json', '--data', 'synthetic:ds')).map((c: { state: string }) => c.state), ['undone']);
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });
}
