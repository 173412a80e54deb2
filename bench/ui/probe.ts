// In-page instrumentation, installed before the webview bundle runs (page.addInitScript). Plain JS in
// a string on purpose: functions handed to page.evaluate from tsx-compiled code carry esbuild helpers
// (__name) that do not exist in the page. It also provides acquireVsCodeApi, wired to the host double
// through the Playwright binding `keferHostPost`.
//
// window.__kb:
//   state()                 what the grid shows now: expected cells in the viewport, how many are
//                           rendered with data, how many have their thumbnail decoded, element count
//   scrollRun(ms, pxPerS)   animates the grid's scrollTop (ping-pong) for ms; frame times from
//                           requestAnimationFrame, long tasks, DOM/viewport samples every 10th frame
//   armKey()                records the time of the next keydown (a jump by the keyboard starts there)
//   jump(fraction | null, targetTop?)  scrolls to fraction of the list (or, null: waits for the keyboard
//                           jump armed before to reach targetTop); resolves when the new rows are
//                           rendered (dataMs) and their thumbnails decoded (paintMs)
//   act(kind, selector, value)  a filter/sort change or click in the app, timed until the grid shows
//                           different, complete rows (the round trip through the host double)
export const PROBE = String.raw`
(() => {
  const longtasks = [];
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) longtasks.push([e.startTime, e.duration]); })
      .observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no longtask support: reported as absent */ }
  // the default buffer (250 entries) would drop most thumbnail fetches of a scroll
  performance.setResourceTimingBufferSize(1000000);
  window.acquireVsCodeApi = () => {
    let st;
    return { postMessage: (m) => window.keferHostPost(m), getState: () => st, setState: (s) => { st = s; } };
  };
  const app = () => document.querySelector('kefer-diagnostics');
  const grid = () => app() && app().shadowRoot && app().shadowRoot.querySelector('kefer-grid');
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  /** The first element matching selector in root or in the shadow roots below it (the panel's panes are components). */
  function deep(root, selector) {
    const hit = root.querySelector(selector);
    if (hit) return hit;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        const inner = deep(el.shadowRoot, selector);
        if (inner) return inner;
      }
    }
    return null;
  }

  /** Every node (elements, text, lit's comment markers), not only elements. */
  function countNodes(root) {
    let n = 0;
    const it = document.createTreeWalker(root, NodeFilter.SHOW_ALL);
    while (it.nextNode()) n++;
    return n;
  }

  function state() {
    const g = grid();
    if (!g || !g.shadowRoot) return { expected: -1, rendered: 0, loaded: 0, ids: '', cols: 0, elements: 0, nodes: 0, cells: 0, total: 0, top: 0, max: 0 };
    const total = g.total, cols = g.columns;
    const rows = Math.ceil(total / cols);
    const spacer = g.shadowRoot.querySelector('.spacer');
    const cell = rows && spacer ? parseFloat(spacer.style.height) / rows : 104;
    const top = g.scrollTop, h = g.clientHeight;
    const first = Math.floor(top / cell) * cols;
    const last = Math.min(total - 1, (Math.floor((top + h - 1) / cell) + 1) * cols - 1);
    const byIndex = new Map();
    const all = g.shadowRoot.querySelectorAll('.cell');
    for (const el of all) if (el.dataset.index !== undefined) byIndex.set(+el.dataset.index, el);
    let rendered = 0, loaded = 0;
    const ids = [];
    for (let i = first; i <= last; i++) {
      const el = byIndex.get(i);
      if (!el) continue;
      rendered++;
      ids.push(el.dataset.id);
      const img = el.querySelector('img');
      if (img && img.complete && img.naturalWidth > 0) loaded++;
    }
    return {
      expected: Math.max(0, last - first + 1), rendered, loaded, ids: ids.join('|'), cols,
      elements: g.shadowRoot.querySelectorAll('*').length, nodes: countNodes(g.shadowRoot), cells: all.length, total, top, max: g.scrollHeight - h,
    };
  }

  /** Waits (frame by frame) until ok(state) and the viewport is complete; times from t0. */
  async function until(t0, ok, timeoutMs) {
    let dataMs = null, paintMs = null, s;
    for (;;) {
      await frame();
      // now, not the frame's timestamp: that can predate t0 when the frame began before our task
      const t = performance.now();
      s = state();
      // an empty list (a filter with no match) is complete as soon as it shows
      const full = ok(s) && s.rendered === s.expected && (s.expected > 0 || s.total === 0);
      if (full && dataMs === null) dataMs = t - t0;
      if (full && s.loaded === s.expected) { paintMs = t - t0; break; }
      if (t - t0 > timeoutMs) break;
    }
    return { dataMs, paintMs, expected: s.expected, rendered: s.rendered, loaded: s.loaded, elements: s.elements, nodes: s.nodes, cells: s.cells, total: s.total };
  }

  let keyAt = null;
  window.addEventListener('keydown', (e) => { if (keyAt && keyAt.t === null) keyAt.t = e.timeStamp; }, true);

  window.__kb = {
    state,
    longtasks,
    async scrollRun(ms, speed) {
      const g = grid();
      const frames = [], samples = [];
      let pos = g.scrollTop, dir = 1, last, distance = 0;
      const t0 = performance.now();
      await new Promise((resolve) => {
        const step = (t) => {
          frames.push(t);
          if (last !== undefined) {
            const max = g.scrollHeight - g.clientHeight;
            const d = (speed * (t - last)) / 1000;
            pos += dir * d;
            distance += d;
            if (pos >= max) { pos = max; dir = -1; }
            if (pos <= 0) { pos = 0; dir = 1; }
            g.scrollTop = pos;
          }
          last = t;
          // sampled, not every frame: the query itself takes main-thread time
          if (frames.length % 10 === 0) samples.push(state());
          if (t - t0 < ms) requestAnimationFrame(step); else resolve();
        };
        requestAnimationFrame(step);
      });
      const lts = longtasks.filter(([s]) => s >= t0);
      const images = performance.getEntriesByType('resource')
        .filter((e) => e.startTime >= t0 && e.name.includes('/res/')).map((e) => e.responseEnd - e.startTime);
      return {
        frames, distance, images,
        longtasks: lts,
        elementsMax: Math.max(...samples.map((s) => s.elements)),
        nodesMax: Math.max(...samples.map((s) => s.nodes)),
        cellsMax: Math.max(...samples.map((s) => s.cells)),
        // share of the viewport's cells still without data / without a decoded thumbnail, per sample
        blank: samples.map((s) => (s.expected ? 1 - s.rendered / s.expected : 0)),
        unloaded: samples.map((s) => (s.expected ? 1 - s.loaded / s.expected : 0)),
      };
    },
    armKey() { keyAt = { t: null }; },
    /** Nodes in the document, shadow trees included (what CDP's Nodes metric counts, minus detached ones). */
    liveNodes() {
      let n = 0;
      const walk = (root) => {
        const it = document.createTreeWalker(root, NodeFilter.SHOW_ALL);
        for (let x = it.currentNode; x; x = it.nextNode()) { n++; if (x.shadowRoot) walk(x.shadowRoot); }
      };
      walk(document);
      return n;
    },
    async jump(fraction, targetTop) {
      const g = grid();
      let t0;
      if (fraction !== null) {
        const max = g.scrollHeight - g.clientHeight;
        targetTop = Math.round(fraction * max);
        t0 = performance.now();
        g.scrollTop = targetTop;
      } else {
        while (keyAt.t === null) await frame();
        t0 = keyAt.t;
      }
      return until(t0, (s) => Math.abs(s.top - targetTop) <= 1, 20000);
    },
    async act(kind, selector, value) {
      const before = state().ids;
      const el = deep(app().shadowRoot, selector);
      if (!el) throw new Error('no ' + selector);
      const t0 = performance.now();
      if (kind === 'select') { el.value = value; el.dispatchEvent(new Event('change', { bubbles: true })); } else el.click();
      return until(t0, (s) => s.ids !== before, 30000);
    },
  };
})();
`;
