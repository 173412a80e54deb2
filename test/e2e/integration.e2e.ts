// Runs the mocha suites in test/suite inside code-server's real extension host (the same suites
// @vscode/test-electron runs where VS Code can be downloaded) and reports each mocha test as a
// node:test test, so they are counted with every other test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as util from 'node:util';
import { launchBrowser, REPO, startWorkbench } from './codeServer.js';

interface Result { title: string; ok: boolean; skipped?: boolean; error?: string }

test('extension-host integration suites (code-server)', { timeout: 600000 }, async (t) => {
  const wb = await startWorkbench('int');
  const b = await launchBrowser();
  const results: Result[] = [];
  try {
    const auth = `127.0.0.1:${wb.port}`;
    const url = wb.url([
      ['extensionDevelopmentPath', `vscode-remote://${auth}${REPO}`],
      ['extensionTestsPath', `vscode-remote://${auth}${path.join(REPO, 'out', 'test', 'suite', 'index.js')}`],
      ['skipWelcome', 'true'],
    ]);
    let finish: (code: number) => void = () => undefined;
    const exited = new Promise<number>((r) => (finish = r));
    await b.page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
      const line = util.format(...args);
      const m = /^KEFER-TEST (pass|fail|skip) (.*?)(?: :: (.*))?$/.exec(line);
      if (m) results.push({ title: m[2], ok: m[1] !== 'fail', skipped: m[1] === 'skip', error: m[3] });
      else if (process.env.VERBOSE) console.log(line);
    });
    await b.page.exposeFunction('codeAutomationExit', (code: number) => finish(code));
    await b.page.goto(url);
    const timer = setTimeout(() => finish(124), 540000);
    const code = await exited;
    clearTimeout(timer);
    for (const r of results) {
      await t.test(r.title, { skip: r.skipped }, () => assert.ok(r.ok, r.error));
    }
    assert.ok(results.length > 0, `no suite results (exit ${code})`);
    assert.equal(code, 0, `extension tests exited with ${code}`);
  } finally {
    await b.close();
    await wb.stop();
  }
});
