// The extension manifest as the marketplace and a first run need it: the walkthrough's completion
// events name contributed commands (or context keys the extension sets), the files it names exist,
// and the fields vsce and the gallery read are present.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

test('manifest: version, licence, icon, repository, categories, a workspace extension', () => {
  assert.match(pkg.version, /^\d+\.\d+\.\d+$/);
  assert.ok(fs.existsSync(path.join(ROOT, 'LICENSE')) && fs.existsSync(path.join(ROOT, 'CHANGELOG.md')));
  assert.ok(fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8').includes(`## ${pkg.version}`), 'the changelog has an entry for this version');
  const icon = fs.readFileSync(path.join(ROOT, pkg.icon));
  assert.equal(icon.subarray(1, 4).toString(), 'PNG', 'the icon is a PNG (the marketplace refuses SVG icons)');
  assert.match(pkg.repository.url, /^https:\/\//);
  assert.ok(pkg.categories.length > 0);
  assert.deepEqual(pkg.extensionKind, ['workspace']);
});

test('walkthrough: five steps whose completion events are contributed commands or context keys the extension sets', () => {
  const [w] = pkg.contributes.walkthroughs;
  const commands = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const ext = fs.readdirSync(path.join(ROOT, 'src', 'extension'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts')).map((f) => fs.readFileSync(path.join(ROOT, 'src', 'extension', f), 'utf8')).join('\n');
  assert.deepEqual(w.steps.map((s: { id: string }) => s.id), ['sample', 'train', 'diagnostics', 'relabel', 'retrain']);
  for (const s of w.steps as { id: string; completionEvents: string[]; media: { markdown: string }; description: string }[]) {
    assert.ok(s.completionEvents.length > 0, s.id);
    for (const e of s.completionEvents) {
      const [kind, arg] = [e.slice(0, e.indexOf(':')), e.slice(e.indexOf(':') + 1)];
      if (kind === 'onCommand') assert.ok(commands.has(arg), `${s.id}: ${arg} is a contributed command`);
      else if (kind === 'onContext') assert.ok(ext.includes(`'setContext', '${arg}', true`), `${s.id}: the extension sets ${arg}`);
      else assert.fail(`${s.id}: unexpected completion event ${e}`);
    }
    assert.ok(fs.existsSync(path.join(ROOT, s.media.markdown)), `${s.id}: ${s.media.markdown} exists`);
    for (const m of s.description.matchAll(/\(command:([\w.]+)\)/g)) assert.ok(commands.has(m[1]), `${s.id}: its button runs ${m[1]}`);
  }
});
