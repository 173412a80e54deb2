// Before/after screenshots of the diagnostics panel on a real-faces store, for docs/extension.md: the
// real webview bundle, DiagnosticsHandler and curation service of a checkout, in chromium.
//   REPO=DIR    the checkout whose code renders (default: this one; a built checkout of an older commit
//               for the "before" shots: its own modules are imported from there)
//   WS=DIR      a workspace with .kefer/kefer.db and .kefer/runs (`kefer train ... --store`; a run named
//               RUN, default real1, and a cross-validation run cv3)
//   OUT=DIR     where the PNGs go (TAG-name.png, palette PNGs at most 1000 px wide)
//   GAPSORT     the gap order to show (gap, or gapz where the checkout has it)
// e.g. REPO=/tmp/old WS=/tmp/ws OUT=/tmp/shots TAG=before npx tsx scripts/doc-shots.ts
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';

const REPO = process.env.REPO ?? path.resolve(__dirname, '..');
const WS = process.env.WS!;
const OUT = process.env.OUT!;
const TAG = process.env.TAG ?? 'before';

async function main(): Promise<void> {
  const { CurationService } = await import(path.join(REPO, 'src/extension/curation/service.ts'));
  const { DiagnosticsHandler } = await import(path.join(REPO, 'src/extension/panels/diagnosticsHandler.ts'));
  const { ResourceRoots } = await import(path.join(REPO, 'src/extension/roots.ts'));
  const { mergeRuns } = await import(path.join(REPO, 'src/extension/runlist/catalogue.ts'));
  const { PROBE } = await import(path.join(REPO, 'bench/ui/probe.ts'));
  const { startUiServer } = await import(path.join(REPO, 'bench/ui/server.ts'));
  const { launchBrowser } = await import(path.join(REPO, 'test/e2e/codeServer.ts'));
  fs.mkdirSync(OUT, { recursive: true });
  const thumbs = path.join(WS, '.kefer', 'thumbs');
  const svc = new CurationService(path.join(WS, '.kefer', 'kefer.db'), thumbs);
  const cat = svc.catalogue();
  const runs = mergeRuns(path.join(WS, '.kefer', 'runs'), cat);
  const roots = new ResourceRoots([thumbs]);
  roots.setDatasetRoots(cat.datasetRoots);
  const b = await launchBrowser();
  const shot = async (page: import('playwright-core').Page, name: string, clip?: { x: number; y: number; width: number; height: number }) => {
    const raw = await page.screenshot(clip ? { clip } : {});
    await sharp(raw).resize({ width: 1000, withoutEnlargement: true }).png({ palette: true, colours: 64, dither: 0.3, compressionLevel: 9 }).toFile(path.join(OUT, `${TAG}-${name}.png`));
    console.log(name, fs.statSync(path.join(OUT, `${TAG}-${name}.png`)).size);
  };
  const open = async (view: string, runDir: string | undefined, size: { width: number; height: number }, runList = runs) => {
    const server = await startUiServer([WS, thumbs], view, path.join(REPO, 'media', 'dist'));
    const page = await b.ctx.newPage();
    await page.setViewportSize(size);
    const post = (m: unknown): void => {
      if (!page.isClosed()) void page.evaluate((msg: unknown) => window.postMessage(msg, '*'), m).catch(() => undefined);
    };
    const logs: string[] = [];
    const call = async (method: string, ...params: unknown[]) => (svc as Record<string, (...a: unknown[]) => unknown>)[method](...params);
    const none = async () => undefined;
    const handler = new DiagnosticsHandler(view, {
      call, roots, runs: () => runList, toUri: server.file, post, broadcast: post, retrain: none, exportLabels: none, openFull: () => undefined,
      cancelTraining: () => undefined, log: (l: string) => void logs.push(l), onCspViolation: () => undefined,
    }, runDir);
    await page.exposeBinding('keferHostPost', (_s: unknown, m: unknown) => void handler.handle(m));
    await page.addInitScript({ content: PROBE });
    await page.goto(server.url);
    return { page, post, logs, close: async () => { await page.close(); await server.close(); } };
  };
  const real = runs.find((r: { name: string }) => r.name === (process.env.RUN ?? 'real1'))!.runDir;
  const cv = runs.find((r: { name: string }) => r.name === 'cv3')?.runDir;

  // the panel on the CLI-trained run, first mistake selected (sort: issue)
  {
    const p = await open('diagnostics', real, { width: 1400, height: 860 });
    await p.page.locator('kefer-grid .cell[data-index="0"]').waitFor({ timeout: 60000 });
    // a validation sample whose votes exist in records.jsonl
    await p.page.locator('kefer-grid .cell[data-index="0"]').click();
    await p.page.locator('#inspector').waitFor();
    await p.page.waitForTimeout(2500);
    await shot(p.page, 'panel');
    // the gap sort: its first sample and the inspector's reasons
    await p.page.locator('#sort').selectOption(process.env.GAPSORT ?? 'gap');
    await p.page.waitForTimeout(1500);
    await p.page.locator('kefer-grid .cell[data-index="0"]').click();
    await p.page.waitForTimeout(2000);
    await shot(p.page, 'gap-sort');
    // the spot-check order: right and wrong predictions side by side
    await p.page.locator('#sort').selectOption('spotcheck');
    await p.page.waitForTimeout(2500);
    await shot(p.page, 'spotcheck', { x: 0, y: 0, width: 760, height: 420 });
    await p.close();
  }
  if (cv) {
    const p = await open('diagnostics', cv, { width: 1400, height: 860 });
    await p.page.locator('kefer-grid .cell[data-index="0"]').waitFor({ timeout: 60000 });
    await p.page.waitForTimeout(2000);
    await shot(p.page, 'crossval', { x: 0, y: 0, width: 1400, height: 300 });
    await p.close();
  }
  // the side view before any run is listed, after a label change elsewhere
  {
    const p = await open('diagnosticsView', undefined, { width: 380, height: 520 }, []);
    await p.page.locator('#run-title').waitFor({ timeout: 60000 });
    await p.page.waitForTimeout(500);
    p.post({ type: 'labelChanged', ids: ['x'] });
    await p.page.waitForTimeout(1500);
    await shot(p.page, 'sideview');
    console.log('side view host log:', JSON.stringify(p.logs));
    await p.close();
  }
  await b.close();
  svc.close();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
