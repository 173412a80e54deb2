// Child of the kill and concurrency tests (store-kill.test.ts): writes in a loop and prints each
// acknowledged write on stdout (synchronously, after the commit returned), until killed or done.
//   overlay STORE_PATH DATASET_ID N_SAMPLES   the overlay API on one open store
//   cli STORE_PATH N_SAMPLES [MAX_WRITES]     the `kefer relabel` command itself, one store open per
//                                             write as each CLI invocation does (--run cli)
//   open STORE_PATH                           opens (migrating) the store, prints 'version N changes M'
// Lines: "ack ID" (a change), "undo ID" (an undo of change ID), "rejected MESSAGE" (refused, e.g.
// the label it picked was set meanwhile by the other writer), "done" when MAX_WRITES were made.
import { writeSync } from 'node:fs';
import { run as relabelCommand } from '../../src/engine/cli/relabel.js';
import { openStore, relabel, setMark, undo, type Store } from '../../src/engine/store/index.js';

const [mode, ...args] = process.argv.slice(2);
const out = (line: string) => writeSync(1, `${line}\n`);

function overlayLoop(path: string, dataset: number, n: number): void {
  const store = openStore(path);
  const isUnsure = (id: string) =>
    (store.db.prepare('SELECT coalesce(m.unsure, 0) AS u FROM samples s LEFT JOIN marks m ON m.sample = s.sk WHERE s.dataset = ? AND s.sid = ?').get(dataset, id) as { u: number }).u === 1;
  for (let i = 0; ; i++) {
    const id = `s${String(i % n).padStart(4, '0')}`;
    if (i % 11 === 10) {
      const c = undo(store, dataset, { author: 'child' });
      if (c) out(`undo ${c.id}`);
      continue;
    }
    const cur = store.db.prepare('SELECT label FROM samples WHERE dataset = ? AND sid = ?').get(dataset, id) as { label: number };
    const c = i % 7 === 3
      ? setMark(store, { dataset, id }, 'unsure', !isUnsure(id), { author: 'child' })
      : relabel(store, { dataset, id }, (cur.label + 1) % 8, { author: 'child', note: `i=${i}` });
    out(`ack ${c.id}`);
  }
}

/** Runs `kefer relabel ARGS` in this process and returns what it printed. */
async function kefer(argv: string[]): Promise<string> {
  const printed: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void printed.push(a.join(' '));
  try {
    const code = await relabelCommand(argv);
    if (code !== 0) throw new Error(`exit ${code}: ${printed.join(' ')}`);
  } finally {
    console.log = log;
  }
  return printed.join('\n');
}

async function cliLoop(path: string, n: number, max: number): Promise<void> {
  let labels: Store | undefined;
  const current = (id: string): number => {
    labels ??= openStore(path, { readonly: true });
    return (labels.db.prepare('SELECT label FROM samples WHERE sid = ?').get(id) as { label: number }).label;
  };
  for (let i = 0, writes = 0; writes < max; i++) {
    const id = `s${String((i * 7) % n).padStart(4, '0')}`;
    try {
      if (i % 13 === 12) {
        const said = await kefer(['--store', path, '--undo']);
        const m = /^undid #(\d+) /.exec(said);
        if (m) out(`undo ${m[1]}`);
      } else {
        const said = i % 5 === 2
          ? await kefer(['--store', path, '--unsure', id, '--run', 'cli', ...(i % 2 ? ['--off'] : [])])
          : await kefer(['--store', path, id, String((current(id) + 1 + (i % 3)) % 8), '--run', 'cli', '--note', `cli i=${i}`]);
        const m = /^#(\d+) /.exec(said);
        if (!m) throw new Error(`unexpected output: ${said}`);
        out(`ack ${m[1]}`);
      }
      writes++;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      // The other writer got there first (same label, mark already set): refused, not lost.
      if (!/already (labelled|marked|not marked)/.test(msg)) throw err;
      out(`rejected ${msg}`);
    }
  }
  labels?.close();
  out('done');
}

if (mode === 'open') {
  const store = openStore(args[0]);
  const v = store.db.pragma('user_version', { simple: true }) as number;
  const n = (store.db.prepare('SELECT count(*) AS n FROM label_changes').get() as { n: number }).n;
  store.close();
  out(`version ${v} changes ${n}`);
} else if (mode === 'overlay') overlayLoop(args[0], Number(args[1]), Number(args[2]));
else if (mode === 'cli') void cliLoop(args[0], Number(args[1]), args[2] ? Number(args[2]) : Infinity).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
else throw new Error(`unknown mode ${mode}`);
