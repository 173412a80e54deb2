// Crash safety: a child process relabels in a loop and prints every acknowledged change id; we
// SIGKILL it mid-stream, reopen the store and check every acknowledged change is there and the
// database is consistent (integrity, foreign keys, denormalised labels match the change log).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore, upsertDataset } from '../../src/engine/store/index.js';
import { tempDir, tinyDataset } from './store-helpers.js';

test('every change acknowledged before SIGKILL survives, and the store stays consistent', async () => {
  const dir = tempDir('kefer-kill-');
  try {
    const path = join(dir, 'kefer.db');
    const dataset = tinyDataset(50, join(dir, 'ds'), 7, 8);
    const setup = openStore(path);
    const ds = upsertDataset(setup, dataset);
    setup.close();

    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'store-kill-child.ts') /* CommonJS through tsx */, path, String(ds.id), '50'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked: number[] = [];
    const undone: number[] = [];
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child produced ${acked.length} acks in 60 s; stderr: ${stderr}`)), 60_000);
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? ''; // a partial last line is not an acknowledgement
        for (const l of lines) {
          const [kind, id] = l.split(' ');
          (kind === 'ack' ? acked : undone).push(Number(id));
        }
        // Kill at a varying point once the loop is well under way.
        if (acked.length >= 150 + (Date.now() % 50)) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        if (acked.length < 150) reject(new Error(`child exited early: ${stderr}`));
      });
    });
    assert.equal(await exited, 'SIGKILL');

    const store = openStore(path);
    const db = store.db;
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    const rows = db.prepare('SELECT id, undone FROM label_changes').all() as { id: number; undone: number }[];
    const states = new Map(rows.map((r) => [r.id, r.undone]));
    for (const id of acked) assert.ok(states.has(id), `acknowledged change ${id} is missing`);
    // Acknowledged undos are durable too: undone (1), or dropped from the redo stack by a later change (2).
    for (const id of undone) assert.ok(states.get(id) === 1 || states.get(id) === 2, `acknowledged undo of ${id} is missing`);
    // Replaying the applied changes in order from the original labels gives the stored labels and marks.
    const label = new Map(dataset.samples.map((s) => [s.id, s.label]));
    const unsure = new Map<string, number>();
    const changes = db
      .prepare(`SELECT s.sid, c.kind, c.old_label, c.new_label FROM label_changes c JOIN samples s ON s.sk = c.sample WHERE c.undone = 0 ORDER BY c.id`)
      .all() as { sid: string; kind: string; old_label: number; new_label: number }[];
    for (const c of changes) {
      if (c.kind === 'label') {
        assert.equal(c.old_label, label.get(c.sid), `change chain of ${c.sid}`);
        label.set(c.sid, c.new_label);
      } else unsure.set(c.sid, c.new_label);
    }
    const stored = db.prepare('SELECT s.sid, s.label, coalesce(m.unsure, 0) AS unsure FROM samples s LEFT JOIN marks m ON m.sample = s.sk').all() as {
      sid: string;
      label: number;
      unsure: number;
    }[];
    for (const s of stored) {
      assert.equal(s.label, label.get(s.sid), `label of ${s.sid}`);
      assert.equal(s.unsure, unsure.get(s.sid) ?? 0, `unsure mark of ${s.sid}`);
    }
    // Every change has its 'do' event; the store keeps working after the crash.
    const missing = db.prepare("SELECT count(*) AS n FROM label_changes c WHERE NOT EXISTS (SELECT 1 FROM change_events e WHERE e.change = c.id AND e.action = 'do')").get() as { n: number };
    assert.equal(missing.n, 0);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
