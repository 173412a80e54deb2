// The diagnostics webview shows the annotators' votes beside the label: the real webview bundle in
// Debian's chromium, wired to the host double (bench/ui) that answers through the real curation
// service on a real store. A FERPlus-shaped dataset (votes per sample) and one without votes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classList } from '../../src/engine/classes.js';
import type { Dataset } from '../../src/engine/data/types.js';
import { importRecords, openStore, registerRun, upsertDataset } from '../../src/engine/store/index.js';
import { CurationService } from '../../src/extension/curation/service.js';
import { inProcess } from '../../bench/ui/hostDouble.js';
import { CHROMIUM, ensureBuilt, openPanel } from '../../bench/ui/panel.js';
import { imagePool, linkImages, startUiServer, type UiServer } from '../../bench/ui/server.js';
import { launchBrowser } from '../e2e/codeServer.js';
import { fakeRecords, tempDir } from '../engine/store-helpers.js';

const skip = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium; CHROMIUM_PATH overrides)`;
const N = 14;
let dir: string;
let server: UiServer;
let svc: CurationService;

/** Sample i has label i % 7; odd samples: votes for the label (6, 3 the next class, 1 unknown); even ones: outvoted (7 the next class, 2 label, 1 NF). */
function votesFor(i: number): number[] {
  const v = new Array<number>(10).fill(0);
  const label = i % 7;
  const next = (label + 1) % 7;
  if (i % 2 === 0) [v[next], v[label], v[9]] = [7, 2, 1];
  else [v[label], v[next], v[8]] = [6, 3, 1];
  return v;
}

before(async () => {
  if (skip) return;
  ensureBuilt();
  dir = tempDir('kefer-votes-ui-');
  const pool = await imagePool(path.join(dir, 'pool'), 4);
  const store = openStore(path.join(dir, 'kefer.db'));
  for (const [name, withVotes] of [['ferplus', true], ['plain', false]] as const) {
    const root = path.join(dir, name);
    const samples = Array.from({ length: N }, (_, i) => ({ id: `s${i}`, path: `img/s${i}.png`, label: i % 7, split: 'test', ...(withVotes ? { votes: votesFor(i) } : {}) }));
    const ds: Dataset = { format: withVotes ? 'ferplus' : 'folder', root, classes: classList(7), samples };
    linkImages(root, samples.map((s) => s.path), pool);
    const d = upsertDataset(store, ds);
    registerRun(store, { id: `run-${name}`, dataset: d.id });
    // every sample a mistake (predicted as the next class), so every one is on the grid
    importRecords(store, `run-${name}`, fakeRecords(ds, 3).map((r) => ({ ...r, pred: (r.label + 1) % 7 })));
  }
  store.close();
  svc = new CurationService(path.join(dir, 'kefer.db'), path.join(dir, 'thumbs'));
  server = await startUiServer([dir]);
});

after(async () => {
  svc?.close();
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the inspector shows the vote counts beside the label and marks a label the votes disagree with; the grid tooltip lists them', { skip, timeout: 120_000 }, async () => {
  const b = await launchBrowser();
  try {
    const panel = await openPanel(b.ctx, server, inProcess(svc), path.join(dir, 'runs', 'run-ferplus'));
    const p = panel.page;
    const inspect = async (id: string): Promise<void> => {
      await p.locator(`kefer-grid .cell[data-id="${id}"]`).click();
      await p.locator('#inspector-id', { hasText: new RegExp(`^${id}$`) }).waitFor({ timeout: 30_000 });
    };
    // s2: label disgust, outvoted by happiness
    await inspect('s2');
    assert.equal(await p.locator('#votes-text').textContent(), 'happiness 7 · disgust 2 · not a face 1');
    assert.equal((await p.locator('#inspector-label-votes').textContent())?.trim(), '(2 of 10 votes)');
    assert.deepEqual(await p.locator('#votes > div').evaluateAll((els) => els.map((e) => [e.getAttribute('data-column'), e.className])), [['3', ''], ['2', 'cur'], ['9', '']]);
    const widths = await p.locator('#votes span.b').evaluateAll((els) => els.map((e) => (e as HTMLElement).style.width));
    assert.deepEqual(widths, ['126px', '36px', '18px'], 'bars proportional to the votes (180 px = all 10)');
    assert.match((await p.locator('#votes-note.disagree').textContent()) ?? '', /the label disgust \(2 of 10\) disagrees with the annotators' majority happiness \(7 of 10\)/);
    // s3: label happiness, backed by 6 of 10: counts shown, nothing marked
    await inspect('s3');
    assert.equal(await p.locator('#votes-text').textContent(), 'happiness 6 · sadness 3 · unknown 1');
    assert.equal(await p.locator('#votes-note').count(), 0);
    const title = await p.locator('kefer-grid .cell[data-id="s2"]').getAttribute('title');
    assert.match(title ?? '', /; votes happiness 7 · disgust 2 · not a face 1 \(label disagrees with the votes\)/);
    assert.doesNotMatch((await p.locator('kefer-grid .cell[data-id="s3"]').getAttribute('title')) ?? '', /disagrees/);
    await panel.close();

    // a dataset without votes: the inspector has no votes section, the tooltip no votes
    const plain = await openPanel(b.ctx, server, inProcess(svc), path.join(dir, 'runs', 'run-plain'));
    await plain.page.locator('kefer-grid .cell[data-id="s2"]').click();
    await plain.page.locator('#inspector-id', { hasText: /^s2$/ }).waitFor({ timeout: 30_000 });
    assert.equal(await plain.page.locator('#votes, #votes-text, #inspector-label-votes').count(), 0);
    assert.doesNotMatch((await plain.page.locator('kefer-grid .cell[data-id="s2"]').getAttribute('title')) ?? '', /votes/);
    await plain.close();
  } finally {
    await b.close();
  }
});
