// Entry point the extension host loads for integration tests (extensionTestsPath). Runs the mocha
// suites and prints one "KEFER-TEST pass|fail|skip <title>" line per test for the runner to count.
import Mocha from 'mocha';
import { suites } from './extension.test.js';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', timeout: 60000, color: false, reporter: 'spec' });
  suites(mocha.suite, Mocha);
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => (failures ? reject(new Error(`${failures} tests failed`)) : resolve()));
    runner.on('pass', (t) => console.log(`KEFER-TEST pass ${t.fullTitle()}`));
    runner.on('pending', (t) => console.log(`KEFER-TEST skip ${t.fullTitle()}`));
    runner.on('fail', (t, err: Error) => console.log(`KEFER-TEST fail ${t.fullTitle()} :: ${String(err?.message ?? err).replace(/\n/g, ' ')}`));
  });
}
