// Child of the kill test (store-kill.test.ts): relabels in a loop and prints each acknowledged
// change id on stdout, until killed. argv: STORE_PATH DATASET_ID N_SAMPLES
import { writeSync } from 'node:fs';
import { openStore, relabel, setMark, undo } from '../../src/engine/store/index.js';

const [path, datasetArg, nArg] = process.argv.slice(2);
const store = openStore(path);
const dataset = Number(datasetArg);
const n = Number(nArg);
const isUnsure = (id: string) =>
  (store.db.prepare('SELECT coalesce(m.unsure, 0) AS u FROM samples s LEFT JOIN marks m ON m.sample = s.sk WHERE s.dataset = ? AND s.sid = ?').get(dataset, id) as { u: number }).u === 1;
for (let i = 0; ; i++) {
  const id = `s${String(i % n).padStart(4, '0')}`;
  if (i % 11 === 10) {
    const c = undo(store, dataset, { author: 'child' });
    if (c) writeSync(1, `undo ${c.id}\n`);
    continue;
  }
  const cur = store.db.prepare('SELECT label FROM samples WHERE dataset = ? AND sid = ?').get(dataset, id) as { label: number };
  const c = i % 7 === 3
    ? setMark(store, { dataset, id }, 'unsure', !isUnsure(id), { author: 'child' })
    : relabel(store, { dataset, id }, (cur.label + 1) % 8, { author: 'child', note: `i=${i}` });
  // Synchronous write: the line leaves the process only after the commit returned.
  writeSync(1, `ack ${c.id}\n`);
}
