// The diagnostics grid is virtualized: its DOM holds about one screen of cells however long the list.
// The real webview bundle runs in Debian's chromium against the host double (bench/ui), which answers
// with the real curation service on a real store. Behaviour only: element counts, no timing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CurationService } from '../../src/extension/curation/service.js';
import { buildSyntheticStore, syntheticPath } from '../../bench/syntheticStore.js';
import { inProcess } from '../../bench/ui/hostDouble.js';
import { CHROMIUM, ensureBuilt, openPanel, type GridState } from '../../bench/ui/panel.js';
import { imagePool, linkImages, startUiServer, type UiServer } from '../../bench/ui/server.js';
import { launchBrowser } from '../e2e/codeServer.js';
import { tempDir } from '../engine/store-helpers.js';

const skip = fs.existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM} (apt-get install chromium; CHROMIUM_PATH overrides)`;
const SMALL = 2_000;
const LARGE = 60_000;

let dir: string;
let server: UiServer;
let pool: string[];
const services: CurationService[] = [];

before(async () => {
  if (skip) return;
  ensureBuilt();
  dir = tempDir('kefer-grid-');
  pool = await imagePool(path.join(dir, 'pool'), 8);
  server = await startUiServer([dir]);
});

after(async () => {
  for (const s of services) s.close();
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Grid states of one dataset size: top, a scroll, jumps through the mistakes list, the end, top again. */
async function statesAt(n: number, ctx: Parameters<typeof openPanel>[0]): Promise<GridState[]> {
  const db = path.join(dir, `n${n}`, 'kefer.db');
  fs.mkdirSync(path.dirname(db));
  const built = buildSyntheticStore(db, { n, runs: ['run-a'] });
  built.store.close();
  linkImages(built.root, Array.from({ length: n }, (_, k) => syntheticPath(k, n)), pool);
  // the grid shows thumbnails the service makes into this folder (as the curation worker does)
  const svc = new CurationService(db, path.join(dir, `thumbs-${n}`));
  services.push(svc);
  const panel = await openPanel(ctx, server, inProcess(svc), path.join(dir, `n${n}`, 'runs', 'run-a'));
  const out = [await panel.state()];
  // a continuous scroll crosses many rows: what a per-row leak would show up in
  await panel.page.evaluate('window.__kb.scrollRun(1500, 3000)');
  for (const f of [0.25, 0.5, 1, 0]) {
    const r = (await panel.page.evaluate(`window.__kb.jump(${f})`)) as { paintMs: number | null };
    assert.notEqual(r.paintMs, null, `rows and thumbnails at ${f * 100}% of the list`);
    out.push(await panel.state());
  }
  // the cells show the host's small cached thumbnails, not the dataset's images
  const imgs = (await panel.page.evaluate(`[...document.querySelector('kefer-diagnostics').shadowRoot.querySelector('kefer-grid').shadowRoot.querySelectorAll('.cell img[src]')]
    .filter((i) => i.complete).map((i) => [i.src, i.naturalWidth])`)) as [string, number][];
  assert.ok(imgs.length > 0, 'cells with images');
  for (const [src, w] of imgs) {
    assert.match(decodeURI(src), new RegExp(`/thumbs-${n}/.+\\.webp$`), 'a thumbnail cache file');
    assert.ok(w > 0 && w <= 96, `thumbnail ${src}: width ${w} (0: not loaded)`);
  }
  await panel.close();
  return out;
}

test('the grid renders one screen of cells at 2,000 and at 60,000 samples (virtualized)', { skip, timeout: 300_000 }, async () => {
  const b = await launchBrowser();
  try {
    const small = await statesAt(SMALL, b.ctx);
    const large = await statesAt(LARGE, b.ctx);
    assert.ok(large[0].total >= 20 * small[0].total, `large list ${large[0].total} vs ${small[0].total}`);
    for (const [i, s] of large.entries()) {
      const rows = Math.ceil(s.expected / s.cols);
      // the viewport's rows plus one row of margin each side (and a partly visible row)
      assert.ok(s.cells <= (rows + 3) * s.cols, `cells ${s.cells} for ${rows} visible rows of ${s.cols}`);
      assert.ok(s.cells <= small[i].cells + s.cols, `cells ${s.cells} at ${LARGE} vs ${small[i].cells} at ${SMALL}`);
      // each cell: div, img, the badge (label, arrow, prediction), the score and vote chips, at most one tag
      assert.ok(s.elements <= 8 * s.cells + 10, `elements ${s.elements} for ${s.cells} cells`);
      assert.ok(s.nodes <= small[i].nodes + 4 * small[i].cells, `nodes ${s.nodes} at ${LARGE} vs ${small[i].nodes} at ${SMALL}`);
    }
    assert.ok(large[3].top > 0 && large[3].top >= large[3].max - 1, 'scrolled to the end of the list');
    // back at the top after scrolling and jumping: the same screen, so about the same nodes
    for (const st of [small, large]) {
      const [first, last] = [st[0], st.at(-1)!];
      assert.ok(last.nodes <= first.nodes * 1.1, `nodes at the top: ${first.nodes} at first, ${last.nodes} after scrolling (a leak per row?)`);
    }
  } finally {
    await b.close();
  }
});
