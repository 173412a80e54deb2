// Crash safety and concurrency: child processes write in a loop and print every acknowledged write;
// we SIGKILL them mid-stream (or let them finish), reopen the store and check every acknowledged
// write is there and the database is consistent (integrity, foreign keys, the audit log replays to
// the overlay, denormalised labels match). Two writers at once are the extension's real curation
// worker (src/extension/curation/worker.ts, driven over its JSON-lines protocol) and the
// `kefer relabel` command (store-kill-child.ts cli), on the same workspace store.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { effectiveLabels, importRecords, openStore, registerRun, relabel, SCHEMA_VERSION, upsertDataset } from '../../src/engine/store/index.js';
import { fakeRecords, prng, tempDir, tinyDataset } from './store-helpers.js';

test('every change acknowledged before SIGKILL survives, and the store stays consistent', async () => {
  const dir = tempDir('kefer-kill-');
  try {
    const path = join(dir, 'kefer.db');
    const dataset = tinyDataset(50, join(dir, 'ds'), 7, 8);
    const setup = openStore(path);
    const ds = upsertDataset(setup, dataset);
    setup.close();

    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'store-kill-child.ts') /* CommonJS through tsx */, 'overlay', path, String(ds.id), '50'], {
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

// ---- Two writers at once: the extension's curation worker and the `kefer relabel` command ----

const ROOT = join(__dirname, '..', '..');
/** tsx by file URL: the writers run in the workspace folder, outside the repository. */
const TSX = pathToFileURL(require.resolve('tsx')).href;
const N_SAMPLES = 120;
const RUN = 'run-a';

/** A git identity per writer (currentAuthor reads `git config user.name`), so the audit log tells them apart. */
function writerEnv(dir: string, name: string): NodeJS.ProcessEnv {
  const cfg = join(dir, `gitconfig-${name}`);
  writeFileSync(cfg, `[user]\n\tname = ${name}\n`);
  return { ...process.env, GIT_CONFIG_GLOBAL: cfg, GIT_CONFIG_NOSYSTEM: '1', HOME: dir };
}

interface Workspace {
  dir: string;
  path: string;
  runDir: string;
  original: Map<string, number>;
}

function workspace(): Workspace {
  const dir = tempDir('kefer-conc-');
  const path = join(dir, '.kefer', 'kefer.db');
  const dataset = tinyDataset(N_SAMPLES, join(dir, 'ds'), 17, 8);
  const store = openStore(path);
  const ds = upsertDataset(store, dataset);
  registerRun(store, { id: RUN, dataset: ds.id });
  importRecords(store, RUN, fakeRecords(dataset, 3));
  store.close();
  return { dir, path, runDir: join(dir, 'runs', RUN), original: new Map(dataset.samples.map((s) => [s.id, s.label])) };
}

/** The extension's writer: the real curation worker process, one request at a time, as the webview sends them. */
class ExtensionWriter {
  readonly proc: ChildProcess;
  /** Acknowledged changes in order: a relabel's target label, or the toggled mark. */
  readonly acked: { kind: 'label' | 'unsure'; id: string; label: number | null }[] = [];
  ackedUndos = 0;
  rejected = 0;
  errors: string[] = [];
  private buf = '';
  private pending: ((r: { result?: unknown; error?: string }) => void) | undefined;
  readonly exited: Promise<NodeJS.Signals | null>;

  constructor(ws: Workspace) {
    this.proc = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'extension', 'curation', 'worker.ts'), ws.path], {
      cwd: ws.dir,
      env: writerEnv(ws.dir, 'extension'),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stderr!.on('data', (d: Buffer) => this.errors.push(d.toString()));
    this.proc.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      const lines = this.buf.split('\n');
      this.buf = lines.pop() ?? '';
      for (const l of lines) this.pending?.(JSON.parse(l) as { result?: unknown; error?: string });
    });
    // Writing to a killed worker fails with EPIPE: that request was never acknowledged.
    this.proc.stdin!.on('error', () => undefined);
    this.exited = new Promise((res) =>
      this.proc.on('exit', (_c, sig) => {
        this.pending?.({ error: undefined });
        this.dead = true;
        res(sig);
      }),
    );
  }

  private dead = false;

  private call(method: string, params: unknown[]): Promise<{ result?: unknown; error?: string } | undefined> {
    if (this.dead) return Promise.resolve(undefined);
    return new Promise((res) => {
      this.pending = (r) => {
        this.pending = undefined;
        res(this.dead || (r.result === undefined && r.error === undefined) ? undefined : r);
      };
      this.proc.stdin!.write(JSON.stringify({ id: 1, method, params }) + '\n');
    });
  }

  /** Writes until `max` writes were acknowledged or the process dies (killed). */
  async loop(ws: Workspace, max: number, seed: number): Promise<void> {
    const next = prng(seed);
    const rand = (k: number) => Math.floor(next() * k);
    for (let i = 0; this.acked.length + this.ackedUndos < max; i++) {
      const id = `s${String(rand(N_SAMPLES)).padStart(4, '0')}`;
      const what = i % 17 === 16 ? 'undo' : i % 6 === 5 ? 'unsure' : 'label';
      const label = rand(8);
      const r = await (what === 'undo' ? this.call('undo', [ws.runDir]) : this.call('change', [ws.runDir, id, what === 'label' ? 'relabel' : 'unsure', what === 'label' ? label : null]));
      if (!r) return; // killed: the request in flight was not acknowledged
      if (r.error !== undefined) {
        // The label it picked may be the current one (the other writer set it, or chance): refused, not lost.
        if (!/already (labelled|marked|not marked)/.test(r.error)) throw new Error(`extension write failed: ${r.error}`);
        this.rejected++;
        continue;
      }
      if (what === 'undo') {
        if ((r.result as string[]).length) this.ackedUndos++;
      } else this.acked.push({ kind: what, id, label: what === 'label' ? label : null });
    }
  }

  close(): void {
    this.proc.stdin!.end();
  }
}

/** The CLI's writer: `kefer relabel` in a loop (store-kill-child.ts cli). */
class CliWriter {
  readonly proc: ChildProcess;
  readonly acked: number[] = [];
  readonly undone: number[] = [];
  rejected = 0;
  done = false;
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(ws: Workspace, max?: number) {
    this.proc = spawn(process.execPath, ['--import', TSX, join(__dirname, 'store-kill-child.ts'), 'cli', ws.path, String(N_SAMPLES), ...(max ? [String(max)] : [])], {
      cwd: ws.dir,
      env: writerEnv(ws.dir, 'cli'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? ''; // a partial last line is not an acknowledgement
      for (const l of lines) {
        const [kind, arg] = l.split(' ');
        if (kind === 'ack') this.acked.push(Number(arg));
        else if (kind === 'undo') this.undone.push(Number(arg));
        else if (kind === 'rejected') this.rejected++;
        else if (kind === 'done') this.done = true;
      }
    });
    this.exited = new Promise((res) => this.proc.on('exit', (code, signal) => res({ code, signal })));
  }

  get writes(): number {
    return this.acked.length + this.undone.length;
  }
}

interface Tally {
  acknowledged: number;
  lost: number;
}

/**
 * Checks the store after the writers stopped: integrity; every acknowledged write present; replaying
 * the audit log (change_events, in order) from the original labels gives the overlay (labels, marks)
 * and the run records' denormalised labels. Returns the acknowledged writes and how many were lost.
 */
function verify(ws: Workspace, ext: ExtensionWriter, cli: CliWriter, inFlight: number): Tally {
  const store = openStore(ws.path);
  const { db } = store;
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.deepEqual(db.pragma('foreign_key_check'), []);
    let lost = 0;
    // The extension's changes (run = RUN), in commit order, are its acknowledged ones in order, plus
    // at most one in flight per kill (written, but killed before the answer left).
    const extRows = db
      .prepare(`SELECT s.sid, c.kind, c.new_label FROM label_changes c JOIN samples s ON s.sk = c.sample WHERE c.run = ? ORDER BY c.id`)
      .all(RUN) as { sid: string; kind: string; new_label: number }[];
    let r = 0;
    let unacked = 0;
    for (const a of ext.acked) {
      const same = (row: (typeof extRows)[number]) => row.sid === a.id && row.kind === a.kind && (a.label === null || row.new_label === a.label);
      let k = r;
      while (k < extRows.length && !same(extRows[k]) && k - r < inFlight) k++;
      if (k < extRows.length && same(extRows[k])) {
        unacked += k - r;
        r = k + 1;
      } else lost++;
    }
    unacked += extRows.length - r;
    assert.ok(unacked <= inFlight, `extension: ${extRows.length} changes stored for ${ext.acked.length} acknowledged`);
    const extUndos = (db.prepare("SELECT count(*) AS n FROM change_events WHERE action = 'undo' AND author = 'extension'").get() as { n: number }).n;
    lost += Math.max(0, ext.ackedUndos - extUndos);
    assert.ok(extUndos - ext.ackedUndos <= inFlight);
    // The CLI's: each printed change id is stored with run 'cli'; each printed undo is in the audit log.
    const byId = db.prepare('SELECT run FROM label_changes WHERE id = ?');
    for (const id of cli.acked) if ((byId.get(id) as { run: string } | undefined)?.run !== 'cli') lost++;
    const undoOf = db.prepare("SELECT count(*) AS n FROM change_events WHERE change = ? AND action = 'undo' AND author = 'cli'");
    for (const id of cli.undone) if ((undoOf.get(id) as { n: number }).n === 0) lost++;

    // Replay the audit log from the original labels; every step must start from the value the
    // previous steps left (the chain is unbroken), and the end state must be the overlay.
    const label = new Map(ws.original);
    const unsure = new Map<string, number>();
    const events = db
      .prepare(
        `SELECT e.action, s.sid, c.kind, c.old_label, c.new_label FROM change_events e
         JOIN label_changes c ON c.id = e.change JOIN samples s ON s.sk = c.sample ORDER BY e.id`,
      )
      .all() as { action: 'do' | 'undo' | 'redo'; sid: string; kind: string; old_label: number; new_label: number }[];
    for (const [k, e] of events.entries()) {
      const state = e.kind === 'label' ? label : unsure;
      const [from, to] = e.action === 'undo' ? [e.new_label, e.old_label] : [e.old_label, e.new_label];
      assert.equal(state.get(e.sid) ?? 0, from, `audit event ${k} (${e.action} ${e.kind} of ${e.sid}) starts from the value the log left`);
      state.set(e.sid, to);
    }
    const stored = db.prepare('SELECT s.sid, s.label, coalesce(m.unsure, 0) AS unsure FROM samples s LEFT JOIN marks m ON m.sample = s.sk').all() as { sid: string; label: number; unsure: number }[];
    for (const s of stored) {
      assert.equal(s.label, label.get(s.sid), `overlay label of ${s.sid} = the audit log's`);
      assert.equal(s.unsure, unsure.get(s.sid) ?? 0, `unsure mark of ${s.sid} = the audit log's`);
    }
    const stale = db.prepare('SELECT count(*) AS n FROM records r JOIN samples s ON s.sk = r.sample WHERE r.eff <> s.label').get() as { n: number };
    assert.equal(stale.n, 0, "run records' effective labels match the overlay");
    // Every applied or undone change has its 'do' event.
    const noDo = db.prepare("SELECT count(*) AS n FROM label_changes c WHERE NOT EXISTS (SELECT 1 FROM change_events e WHERE e.change = c.id AND e.action = 'do')").get() as { n: number };
    assert.equal(noDo.n, 0);
    return { acknowledged: ext.acked.length + ext.ackedUndos + cli.writes, lost };
  } finally {
    store.close();
  }
}

test('the extension and the CLI relabelling one workspace at once: thousands of writes, none lost, the audit log replays to the overlay', async (t) => {
  const ws = workspace();
  try {
    const PER_WRITER = 1500;
    const ext = new ExtensionWriter(ws);
    const cli = new CliWriter(ws, PER_WRITER);
    children.push(ext.proc, cli.proc);
    await ext.loop(ws, PER_WRITER, 7);
    ext.close();
    const [cliExit] = await Promise.all([cli.exited, ext.exited]);
    assert.equal(cliExit.code, 0, cli.stderr);
    assert.ok(cli.done, 'the CLI writer finished');
    assert.equal(ext.acked.length + ext.ackedUndos, PER_WRITER);
    const tally = verify(ws, ext, cli, 0);
    t.diagnostic(`concurrent: ${tally.acknowledged} writes acknowledged (extension ${ext.acked.length + ext.ackedUndos}, cli ${cli.writes}), ${tally.lost} lost; refused as already set: extension ${ext.rejected}, cli ${cli.rejected}`);
    assert.equal(tally.lost, 0);
    assert.ok(tally.acknowledged >= 2 * PER_WRITER);
  } finally {
    stopAll();
    rmSync(ws.dir, { recursive: true, force: true });
  }
});

test('kill -9 in the middle of each of the two writers, three rounds: every acknowledged write survives', async (t) => {
  const ws = workspace();
  try {
    let acknowledged = 0;
    let lost = 0;
    const ext: ExtensionWriter[] = [];
    const cli: CliWriter[] = [];
    for (let round = 0; round < 3; round++) {
      const e = new ExtensionWriter(ws);
      const c = new CliWriter(ws);
      ext.push(e);
      cli.push(c);
      children.push(e.proc, c.proc);
      // Each is killed at its own point, while both are writing.
      const extTarget = 150 + round * 97 + (Date.now() % 40);
      const cliTarget = 120 + round * 61 + (Date.now() % 30);
      const deadline = Date.now() + 120_000;
      const looping = e.loop(ws, Infinity, 11 + round).catch((err: unknown) => {
        if (e.proc.exitCode === null && e.proc.signalCode === null) throw err;
      });
      const killer = (async () => {
        const killed = { e: false, c: false };
        while (!(killed.e && killed.c)) {
          if (Date.now() > deadline) throw new Error(`writers too slow: extension ${e.acked.length} (${e.errors.join('')}), cli ${c.writes} (${c.stderr})`);
          if (!killed.e && e.acked.length + e.ackedUndos >= extTarget) killed.e = e.proc.kill('SIGKILL');
          if (!killed.c && c.writes >= cliTarget) killed.c = c.proc.kill('SIGKILL');
          if (c.proc.exitCode !== null) throw new Error(`cli writer exited early: ${c.stderr}`);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await killer;
      await looping;
      assert.equal(await e.exited, 'SIGKILL');
      assert.equal((await c.exited).signal, 'SIGKILL');
      // Verify the accumulated store against every round's writers so far.
      const merged = mergeWriters(ext, cli);
      const tally = verify(ws, merged.ext, merged.cli, round + 1);
      acknowledged = tally.acknowledged;
      lost = tally.lost;
      assert.equal(lost, 0, `round ${round}`);
    }
    t.diagnostic(`kill -9: ${acknowledged} writes acknowledged before the kills (3 rounds, both writers killed each round), ${lost} lost`);
  } finally {
    stopAll();
    rmSync(ws.dir, { recursive: true, force: true });
  }
});

/** Writer processes this file started: a failed assertion must not leave one writing. */
const children: ChildProcess[] = [];
function stopAll(): void {
  for (const p of children.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

/** The writers of every round as one writer each (the extension rows are checked as one ordered list). */
function mergeWriters(ext: ExtensionWriter[], cli: CliWriter[]): { ext: ExtensionWriter; cli: CliWriter } {
  const e = Object.create(ExtensionWriter.prototype) as ExtensionWriter;
  Object.assign(e, { acked: [], ackedUndos: 0 });
  const c = Object.create(CliWriter.prototype) as CliWriter;
  Object.assign(c, { acked: [], undone: [] });
  for (const x of ext) {
    e.acked.push(...x.acked);
    e.ackedUndos += x.ackedUndos;
  }
  for (const x of cli) {
    c.acked.push(...x.acked);
    c.undone.push(...x.undone);
  }
  return { ext: e, cli: c };
}

test('an older store opened by three processes at once is migrated once, with its data', async () => {
  const dir = tempDir('kefer-migrate-');
  try {
    const path = join(dir, 'kefer.db');
    const dataset = tinyDataset(40, join(dir, 'ds'), 9, 8);
    const old = openStore(path, { targetVersion: 2 });
    const ds = upsertDataset(old, dataset);
    for (let i = 0; i < 25; i++) relabel(old, { dataset: ds.id, id: dataset.samples[i].id }, (dataset.samples[i].label + 1) % 8, { author: 'v2' });
    const labels = effectiveLabels(old, ds.id);
    old.close();
    const outs = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<string>((res, rej) => {
            const p = spawn(process.execPath, ['--import', TSX, join(__dirname, 'store-kill-child.ts'), 'open', path], { stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            p.stdout.on('data', (d: Buffer) => (out += d.toString()));
            p.stderr.on('data', (d: Buffer) => (err += d.toString()));
            p.on('exit', (code) => (code === 0 ? res(out.trim()) : rej(new Error(err))));
          }),
      ),
    );
    assert.deepEqual(outs, Array(3).fill(`version ${SCHEMA_VERSION} changes 25`));
    const store = openStore(path);
    assert.deepEqual(effectiveLabels(store, ds.id), labels);
    assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
