// Stores written by KE-FER Studio before the SQLite driver change open unchanged: a real v6 store made
// by commit 3374ac0 with better-sqlite3 (test/fixtures/legacy-store/README.md), whose last two changes
// are only in its WAL, read back by today's driver exactly as that commit's code read it.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { confusion, effectiveLabels, getDataset, labelLog, mistakesPage, openStore, relabel, SCHEMA_VERSION, schemaVersion, undo } from '../../src/engine/store/index.js';

const FIXTURE = join(__dirname, '..', 'fixtures', 'legacy-store');
const expected = JSON.parse(readFileSync(join(FIXTURE, 'store-v6-legacy.expected.json'), 'utf8'));
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function copyOfFixture(): string {
  const d = mkdtempSync(join(tmpdir(), 'kefer-legacy-'));
  dirs.push(d);
  copyFileSync(join(FIXTURE, 'store-v6-legacy.db'), join(d, 'kefer.db'));
  copyFileSync(join(FIXTURE, 'store-v6-legacy.db-wal'), join(d, 'kefer.db-wal'));
  return join(d, 'kefer.db');
}

test('a v6 store written by better-sqlite3 (last commits still in its WAL) migrates and reads back as its own code read it', () => {
  const s = openStore(copyOfFixture());
  try {
    // v6 -> today's schema (duplicate scans, the gap's class reference, the vote columns) runs on open; what v6 held reads back unchanged
    assert.equal(schemaVersion(s.db), SCHEMA_VERSION, 'migrated to today\'s schema');
    assert.equal(s.db.pragma('integrity_check', { simple: true }), 'ok');
    const ds = getDataset(s, 1);
    assert.deepEqual({ id: ds.id, classes: ds.classes }, { id: expected.dataset.id, classes: expected.dataset.classes });
    const log = labelLog(s, { dataset: ds.id }).map((c) => ({ ...c, time: undefined }));
    assert.deepEqual(JSON.parse(JSON.stringify(log)), expected.log, 'the audit log, including the two changes only the WAL held');
    assert.deepEqual(JSON.parse(JSON.stringify(Object.fromEntries([...effectiveLabels(s, ds.id)].sort()))), expected.effective);
    assert.deepEqual(JSON.parse(JSON.stringify(confusion(s, 'legacy-run'))), expected.confusion);
    const page = mistakesPage(s, 'legacy-run', {}, { limit: 10 });
    assert.deepEqual(page.rows.map((r) => r.id), expected.firstMistakes);
  } finally {
    s.close();
  }
});

test('the legacy store takes new changes, undo and an audit entry, and still reads after reopening', () => {
  const path = copyOfFixture();
  let s = openStore(path);
  const ds = getDataset(s, 1);
  const before = labelLog(s, { dataset: ds.id }).length;
  const label = (effectiveLabels(s, ds.id).get('s0010')!.label + 1) % ds.classes.length;
  relabel(s, { dataset: ds.id, id: 's0010' }, label, { author: 'today' });
  undo(s, ds.id, { author: 'today' });
  relabel(s, { dataset: ds.id, id: 's0011' }, (effectiveLabels(s, ds.id).get('s0011')!.label + 1) % ds.classes.length, { author: 'today' });
  s.close();
  s = openStore(path);
  try {
    const log = labelLog(s, { dataset: ds.id });
    assert.equal(log.length, before + 2);
    assert.deepEqual(log.slice(0, 2).map((c) => [c.sampleId, c.state, c.author]), [['s0011', 'applied', 'today'], ['s0010', 'dropped', 'today']]);
    assert.equal(s.db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    s.close();
  }
});
