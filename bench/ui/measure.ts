// The bench:ui measurement protocol on one open panel: continuous scroll through the mistakes list,
// long jumps (keyboard End/Home and scrollbar-like jumps), and the filter / sort / confusion-cell
// round trips. Returns plain figures; bench/ui.ts prints them against the baseline.
import type { Panel } from './panel.js';

export interface ScrollOptions {
  seconds: number;
  /** Scroll speeds, px/s (one grid row is 104 px), one continuous scroll each. */
  speeds: number[];
}

export interface Timed {
  name: string;
  dataMs: number | null;
  paintMs: number | null;
}

export interface ScrollFigures {
  speed: number;
  frames: { n: number; p50: number; p95: number; p99: number; max: number; over33: number; fps: number };
  longTasks: { n: number; totalMs: number; maxMs: number };
  /** Mean share of the viewport's cells without data / without a decoded thumbnail while scrolling. */
  blank: number;
  unloaded: number;
  /** Thumbnail fetches started during the scroll: count and fetch time (request to response end). */
  images: { n: number; p50: number; p95: number };
  scrolledPx: number;
}

export interface Figures {
  total: number;
  loadMs: number;
  scrolls: ScrollFigures[];
  jumps: Timed[];
  roundTrips: Timed[];
  gridElementsMax: number;
  gridNodesMax: number;
  gridCellsMax: number;
  /** CDP's Nodes after GC (includes detached nodes not yet collected) and the live tree's count. */
  domNodes: number;
  liveNodes: number;
  heapLoadMb: number;
  heapAfterMb: number;
  pageQuery: { n: number; p50: number; p95: number };
}

export function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

interface ScrollResult {
  frames: number[];
  distance: number;
  images: number[];
  longtasks: [number, number][];
  elementsMax: number;
  nodesMax: number;
  cellsMax: number;
  blank: number[];
  unloaded: number[];
}

type Step = Timed & { elements: number; nodes: number; cells: number };

/** Keyboard jump: the time runs from the keydown event to the new rows' thumbnails decoded. */
async function keyJump(p: Panel, key: 'End' | 'Home'): Promise<Step> {
  const s = await p.state();
  await p.page.evaluate('window.__kb.armKey()');
  await p.page.locator('kefer-grid').focus();
  await p.page.keyboard.press(key);
  const r = (await p.page.evaluate(`window.__kb.jump(null, ${key === 'End' ? s.max : 0})`)) as Step;
  return { ...r, name: `key ${key}` };
}

async function fractionJump(p: Panel, f: number): Promise<Step> {
  const r = (await p.page.evaluate(`window.__kb.jump(${f})`)) as Step;
  return { ...r, name: `jump to ${Math.round(f * 100)}%` };
}

/** One user action in the app, timed until the grid shows the new query's rows. */
async function act(p: Panel, name: string, kind: 'select' | 'click', selector: string, value = ''): Promise<Step> {
  await fractionJump(p, 0); // from the top: every action compares the same first screen
  const r = (await p.page.evaluate(`window.__kb.act(${JSON.stringify(kind)}, ${JSON.stringify(selector)}, ${JSON.stringify(value)})`)) as Step;
  return { ...r, name };
}

function scrollFigures(sc: ScrollResult, speed: number): ScrollFigures {
  const iv = sc.frames.slice(1).map((t, i) => t - sc.frames[i]);
  const spanS = (sc.frames.at(-1)! - sc.frames[0]) / 1000;
  return {
    speed,
    frames: {
      n: iv.length, p50: pct(iv, 0.5), p95: pct(iv, 0.95), p99: pct(iv, 0.99), max: Math.max(...iv),
      over33: iv.filter((x) => x > 33.4).length / iv.length, fps: iv.length / spanS,
    },
    longTasks: { n: sc.longtasks.length, totalMs: sc.longtasks.reduce((a, [, d]) => a + d, 0), maxMs: Math.max(0, ...sc.longtasks.map(([, d]) => d)) },
    blank: mean(sc.blank), unloaded: mean(sc.unloaded), scrolledPx: sc.distance,
    images: { n: sc.images.length, p50: pct(sc.images, 0.5), p95: pct(sc.images, 0.95) },
  };
}

/** A round trip only some builds offer (this tree's new orders): name, kind, selector, value. */
export type ExtraTrip = [string, 'select' | 'click', string, string];

export async function measurePanel(p: Panel, o: ScrollOptions, loadMs: number, extra: ExtraTrip[] = []): Promise<Figures> {
  const cdp = await p.page.context().newCDPSession(p.page);
  await cdp.send('Performance.enable');
  const metrics = async (): Promise<Record<string, number>> => {
    await cdp.send('HeapProfiler.collectGarbage');
    const { metrics: m } = await cdp.send('Performance.getMetrics');
    return Object.fromEntries(m.map((x) => [x.name, x.value]));
  };
  const total = (await p.state()).total;
  const heapLoad = (await metrics()).JSHeapUsedSize;

  const runs: ScrollResult[] = [];
  for (const speed of o.speeds) {
    await fractionJump(p, 0);
    runs.push((await p.page.evaluate(`window.__kb.scrollRun(${o.seconds * 1000}, ${speed})`)) as ScrollResult);
  }
  // Jumps start from a settled grid: right after a fast scroll they would also time the thumbnail
  // fetches still queued from it (the scroll's fetch times report that backlog).
  await p.page.waitForFunction('window.__kb.state().loaded === window.__kb.state().expected', undefined, { timeout: 15000 }).catch(() => undefined);
  await p.page.waitForTimeout(1000);

  const jumps: Step[] = [];
  jumps.push(await keyJump(p, 'End'));
  jumps.push(await keyJump(p, 'Home'));
  for (const f of [0.5, 0.9, 0.1, 0.75]) jumps.push(await fractionJump(p, f));
  const trips: Step[] = [];
  // neutral: the synthetic runs' commonest mistake (happiness, with its prior, is rarely wrong)
  trips.push(await act(p, 'filter label = neutral', 'select', '#f-true', '6'));
  trips.push(await act(p, 'filter label = any', 'select', '#f-true', ''));
  trips.push(await act(p, 'sort by confidence', 'select', '#sort', 'confidence'));
  trips.push(await act(p, 'sort by issue score', 'select', '#sort', 'issue'));
  trips.push(await act(p, 'confusion cell neutral -> happiness', 'click', '#confusion td[data-true="6"][data-pred="3"]'));
  trips.push(await act(p, 'confusion cell happiness -> happiness (diagonal)', 'click', '#confusion td[data-true="3"][data-pred="3"]'));
  trips.push(await act(p, 'back to all mistakes', 'click', '#all-mistakes'));
  for (const [name, kind, selector, value] of extra) trips.push(await act(p, name, kind, selector, value));
  const after = await metrics();
  await cdp.detach();

  const q = p.host.pageMs;
  return {
    total, loadMs,
    scrolls: runs.map((sc, i) => scrollFigures(sc, o.speeds[i])),
    jumps, roundTrips: trips,
    gridElementsMax: Math.max(...runs.map((sc) => sc.elementsMax), ...jumps.map((j) => j.elements), ...trips.map((t) => t.elements)),
    gridNodesMax: Math.max(...runs.map((sc) => sc.nodesMax), ...jumps.map((j) => j.nodes), ...trips.map((t) => t.nodes)),
    gridCellsMax: Math.max(...runs.map((sc) => sc.cellsMax), ...jumps.map((j) => j.cells), ...trips.map((t) => t.cells)),
    domNodes: after.Nodes,
    liveNodes: (await p.page.evaluate('window.__kb.liveNodes()')) as number,
    heapLoadMb: heapLoad / 2 ** 20, heapAfterMb: after.JSHeapUsedSize / 2 ** 20,
    pageQuery: { n: q.length, p50: pct(q, 0.5), p95: pct(q, 0.95) },
  };
}
