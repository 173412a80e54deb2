// Diagnostics: misclassified / suspicious samples of a run, with filters, sorting, a confusion matrix
// that drives the grid, a sample inspector (with why a sample ranks high, and the annotators' votes
// beside the label where the dataset has them: FERPlus), an embedding scatter, keyboard
// relabeling (digits, A accept the suggestion, C confirm the label, U, X, ?), a spot-check (every sample in a
// seeded random order; its decisions calibrate the issue ranking, whose state the panel shows)
// and the retrain -> comparison loop. All data comes from the host in pages.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, query, state } from 'lit/decorators.js';
import { Chart, ScatterController, PointElement, LinearScale, Tooltip, Legend } from 'chart.js';
import { keyToAction, MAX_THUMB_IDS, SORT_KEYS, SORT_LABELS, type CalibrationState, type GridFilter, type HostMessage, type LabelBasis, type LabelChange, type RetrainMode, type RunComparison, type RunSummary, type SampleDetail, type ScatterPoint, type SortKey, type ViewKind } from '../protocol.js';
import { cssProps } from '../shared/cssProps.js';
import { CLASS_COLORS, onMessage, send, themeColor } from '../shared/vscode.js';
import { PAGE_SIZE, pagesFor, type GridCellRow, type ThumbGrid } from './grid.js';
import './grid.js';
import { issueReasons } from './why.js';
import { voteSummary } from './votes.js';
import { matrixCellLabel, matrixKeyAction, type MatrixCell } from './matrixKeys.js';

Chart.register(ScatterController, PointElement, LinearScale, Tooltip, Legend);

// Key order matches parseWebviewMessage's, so echoed queries compare equal as JSON.
const DEFAULT_FILTER: GridFilter = { trueClass: null, predClass: null, split: null, relabeled: null, cell: null };

@customElement('kefer-diagnostics')
export class DiagnosticsApp extends LitElement {
  static override styles = css`
    :host { display: flex; flex-direction: column; height: 100vh; font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); }
    .bar { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; padding: 6px 8px; border-bottom: 1px solid var(--vscode-panel-border, transparent); }
    .bar h2 { margin: 0 8px 0 0; font-size: 1.05em; }
    select, button { font: inherit; }
    select { background: var(--vscode-dropdown-background); color: var(--vscode-dropdown-foreground); border: 1px solid var(--vscode-dropdown-border, transparent); }
    button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 3px 10px; cursor: pointer; border-radius: 2px; }
    button.secondary { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); }
    button:disabled { opacity: 0.45; cursor: default; }
    button:focus-visible, select:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
    .main { flex: 1; display: flex; min-height: 0; }
    kefer-grid { flex: 1; min-width: 200px; }
    aside { width: 360px; overflow-y: auto; border-left: 1px solid var(--vscode-panel-border, transparent); padding: 8px; box-sizing: border-box; }
    :host([view='diagnosticsView']) .main { flex-direction: column; }
    /* a narrow editor (split beside the dashboard): the inspector goes under the grid */
    @media (max-width: 820px) { .main { flex-direction: column; } aside { width: auto; border-left: none; max-height: 50vh; } }
    :host([view='diagnosticsView']) aside { width: auto; border-left: none; max-height: 45vh; }
    :host([view='diagnosticsView']) .wide { display: none; }
    h3 { font-size: 0.95em; margin: 10px 0 4px; }
    table.cm { border-collapse: collapse; font-size: 11px; }
    table.cm td, table.cm th { width: 30px; height: 24px; text-align: center; padding: 0; }
    table.cm th { font-weight: normal; opacity: 0.8; max-width: 30px; overflow: hidden; }
    table.cm td { cursor: pointer; border: 1px solid var(--vscode-editor-background); position: relative; }
    /* the drill-down cell: a bold inset frame in the text colour; keyboard focus: the theme's focus ring on top */
    table.cm td.active { box-shadow: inset 0 0 0 2px var(--vscode-foreground); font-weight: bold; }
    table.cm td:focus { outline: none; }
    table.cm td:focus-visible { outline: 2px solid var(--vscode-focusBorder); outline-offset: 1px; z-index: 1; }
    .inspector img { width: 144px; height: 144px; image-rendering: pixelated; border-radius: 3px; }
    .bars div { display: flex; align-items: center; gap: 4px; font-size: 11px; height: 15px; }
    .bars span.n { width: 92px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .bars span.b { height: 10px; background: var(--vscode-progressBar-background); }
    .bars span.b.pred { background: var(--vscode-charts-orange, orange); }
    .bars .cur span.n { font-weight: bold; }
    .vote-note { font-size: 11px; }
    .vote-note.disagree { color: var(--vscode-editorWarning-foreground, var(--vscode-errorForeground)); }
    .muted { opacity: 0.75; font-size: 0.9em; }
    .status { padding: 3px 8px; font-size: 0.9em; min-height: 1.2em; border-top: 1px solid var(--vscode-panel-border, transparent); }
    .error { color: var(--vscode-errorForeground); }
    .cmp { border: 1px solid var(--vscode-focusBorder); padding: 6px; border-radius: 4px; margin-top: 8px; }
    .cmp img { width: 40px; height: 40px; image-rendering: pixelated; }
    .cmp .list { display: flex; flex-wrap: wrap; gap: 4px; }
    .scatter { position: relative; height: 240px; }
    ol.hist { margin: 0; padding-left: 18px; font-size: 11px; }
    ol.hist li.undone, ol.hist li.dropped { opacity: 0.6; text-decoration: line-through; }
    .keys { font-size: 11px; opacity: 0.75; }
    .calibration { font-size: 0.9em; margin-bottom: 6px; }
  `;

  @state() private view: ViewKind = 'diagnostics';
  @state() private classes: string[] = [];
  @state() private run: RunSummary | null = null;
  @state() private filter: GridFilter = { ...DEFAULT_FILTER };
  @state() private sort: SortKey = 'issue';
  @state() private total = 0;
  @state() private selected = 0;
  @state() private generation = 0;
  @state() private matrix: number[][] = [];
  /** Labels the confusion matrix (and a cell drill-down) scores against. */
  @state() private basis: LabelBasis = 'run';
  /** The confusion cell in the tab order (roving tabindex); keyboard moves start from it. */
  @state() private cmFocus: MatrixCell = { row: 0, col: 0 };
  @state() private scatterSource = '';
  @state() private detail: SampleDetail | undefined;
  @state() private status = '';
  @state() private error = '';
  @state() private comparison: RunComparison | undefined;
  @state() private retraining = false;
  /** The issue ranking's calibration on this run's spot-check reviews (the host sends it after init and each change). */
  @state() private calibration: CalibrationState | undefined;
  @query('kefer-grid') private grid!: ThumbGrid;
  private pages = new Map<number, GridCellRow[]>();
  private requested = new Set<number>();
  /** The rows of the pages held, by id (thumbnails arrive by id); and the thumbnails asked for. */
  private byId = new Map<string, GridCellRow>();
  private thumbsAsked = new Set<string>();
  /** Bumps on every filter/sort/label change so late pages from an old query are dropped. */
  private queryGen = 0;
  private pendingSelectId: string | undefined;
  private scatterChart: Chart | undefined;
  private scatterPoints: ScatterPoint[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    this.view = (document.body.dataset.view as ViewKind) ?? 'diagnostics';
    this.setAttribute('view', this.view);
    onMessage((m) => this.onHost(m));
    window.addEventListener('keydown', (e) => this.onKey(e));
    send({ type: 'ready', view: this.view });
  }

  private get runDir(): string {
    return this.run?.runDir ?? '';
  }

  private onHost(m: HostMessage): void {
    switch (m.type) {
      case 'init':
        this.classes = m.classes;
        this.run = m.run;
        this.calibration = undefined;
        // the host's kefer.suspiciousLabels.ranker: the order a freshly opened grid starts in
        if (m.sort) this.sort = m.sort;
        this.retraining = false;
        if (this.run) {
          this.reset();
          send({ type: 'requestConfusion', runDir: this.runDir, basis: this.basis });
          if (this.view === 'diagnostics') send({ type: 'requestScatter', runDir: this.runDir });
        }
        break;
      case 'page': {
        const q = m.page.query;
        if (q.runDir !== this.runDir) break;
        if (JSON.stringify(q.filter) !== JSON.stringify(this.filter) || q.sort !== this.sort) break;
        this.pages.set(q.offset / PAGE_SIZE, m.page.rows);
        for (const r of m.page.rows) this.byId.set(r.id, r);
        this.total = m.page.total;
        this.generation++;
        if (this.pendingSelectId) {
          const i = this.indexOf(this.pendingSelectId);
          if (i >= 0) {
            this.pendingSelectId = undefined;
            this.select(i);
          }
        } else if (!this.detail && m.page.rows.length) {
          const want = Math.min(this.selected, this.total - 1);
          if (want >= q.offset && want < q.offset + m.page.rows.length) this.select(want);
          // a spot-check resuming past the first page: scroll there, the grid asks for that page
          else if (q.offset === 0) void this.updateComplete.then(async () => {
            await this.grid?.updateComplete;
            this.grid?.scrollToItem(want);
          });
        }
        break;
      }
      case 'thumbs': {
        if (m.runDir !== this.runDir) break;
        let changed = false;
        for (const t of m.thumbs) {
          if ('dropped' in t) {
            // the host had newer requests: asked again at the next render if the row is still wanted
            this.thumbsAsked.delete(t.id);
            changed = true;
            continue;
          }
          const r = this.byId.get(t.id);
          if (!r) continue;
          if ('src' in t) r.thumb = t.src;
          else r.thumbError = t.error;
          changed = true;
        }
        if (changed) this.generation++;
        break;
      }
      case 'confusion':
        if (m.basis === this.basis) this.matrix = m.matrix;
        break;
      case 'sample':
        this.detail = m.sample;
        break;
      case 'labelChanged':
        this.refresh();
        send({ type: 'requestConfusion', runDir: this.runDir, basis: this.basis });
        if (this.view === 'diagnostics') send({ type: 'requestScatter', runDir: this.runDir });
        if (this.detail) send({ type: 'requestSample', runDir: this.runDir, id: this.detail.id });
        break;
      case 'scatter':
        this.scatterPoints = m.points;
        this.scatterSource = m.source;
        void this.updateComplete.then(() => this.drawScatter());
        break;
      case 'comparison':
        this.comparison = m.comparison;
        this.retraining = false;
        this.status = `Retrained: accuracy ${(m.comparison.before.accuracy * 100).toFixed(1)}% → ${(m.comparison.after.accuracy * 100).toFixed(1)}% on ${m.comparison.common} common samples`;
        break;
      case 'retrainState':
        this.retraining = m.running;
        this.status = m.message;
        break;
      case 'calibration': {
        if (m.runDir !== this.runDir) break;
        const before = this.calibration;
        this.calibration = m.calibration;
        // the calibrated order moved with the refit (or became available): list it again
        if (this.sort === 'calibrated' && m.calibration.calibrated && JSON.stringify(before) !== JSON.stringify(m.calibration)) {
          this.error = '';
          this.refresh();
        }
        break;
      }
      case 'error':
        this.error = m.message;
        break;
      case 'engine':
        break;
    }
  }

  private indexOf(id: string): number {
    for (const [p, rows] of this.pages) {
      const j = rows.findIndex((r) => r.id === id);
      if (j >= 0) return p * PAGE_SIZE + j;
    }
    return -1;
  }

  private rowAt = (i: number): GridCellRow | undefined => this.pages.get(Math.floor(i / PAGE_SIZE))?.[i % PAGE_SIZE];

  private reset(): void {
    this.selected = 0;
    this.detail = undefined;
    this.refresh();
  }

  /** Drops cached pages and fetches the first one again (the grid asks for the rest as it renders). */
  private refresh(): void {
    this.queryGen++;
    this.pages.clear();
    this.requested.clear();
    this.byId.clear();
    // in flight ones are asked again: the worker joins a request to the one making that thumbnail
    this.thumbsAsked.clear();
    this.fetch(0);
  }

  private fetch(p: number): void {
    if (!this.run || this.requested.has(p)) return;
    this.requested.add(p);
    send({ type: 'requestPage', query: { runDir: this.runDir, filter: this.filter, sort: this.sort, offset: p * PAGE_SIZE, limit: PAGE_SIZE } });
  }

  private onRange(e: CustomEvent<[number, number]>): void {
    const [a, b] = e.detail;
    if (b < a) return;
    for (const p of pagesFor(a, b)) if (!this.pages.has(p)) this.fetch(p);
  }

  /** The grid wants these thumbnails (on screen first): ask the host for those not asked for yet. */
  private onThumbs(e: CustomEvent<{ ids: string[]; urgent: number }>): void {
    const fresh = (ids: string[]): string[] => ids.filter((id) => !this.thumbsAsked.has(id));
    const urgent = fresh(e.detail.ids.slice(0, e.detail.urgent));
    const ids = [...urgent, ...fresh(e.detail.ids.slice(e.detail.urgent))].slice(0, MAX_THUMB_IDS);
    if (!ids.length || !this.run) return;
    for (const id of ids) this.thumbsAsked.add(id);
    send({ type: 'requestThumbs', runDir: this.runDir, ids, urgent: Math.min(urgent.length, ids.length) });
  }

  private select(i: number): void {
    if (i < 0 || i >= this.total) return;
    this.selected = i;
    this.grid?.scrollToItem(i);
    const r = this.rowAt(i);
    if (r) send({ type: 'requestSample', runDir: this.runDir, id: r.id });
  }

  private onKey(e: KeyboardEvent): void {
    const t = e.composedPath()[0] as HTMLElement | undefined;
    if (t && (t.tagName === 'SELECT' || t.tagName === 'INPUT')) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const a = keyToAction(e.key, this.classes.length);
    if (!a || !this.run) return;
    e.preventDefault();
    const r = this.rowAt(this.selected);
    if (a.kind === 'next') return this.select(this.selected + 1);
    if (a.kind === 'prev') return this.select(this.selected - 1);
    if (a.kind === 'undo' || a.kind === 'redo') {
      send({ type: a.kind, runDir: this.runDir });
      this.status = a.kind === 'undo' ? 'Undo' : 'Redo';
      this.pendingSelectId = undefined;
      return;
    }
    if (!r) return;
    // auto-advance: the next sample becomes selected even if the changed one leaves the filter
    const next = this.rowAt(this.selected + 1);
    this.pendingSelectId = next?.id;
    // decisions made walking the spot-check order are a random sample: they calibrate the issue ranking
    const spot = this.sort === 'spotcheck' ? { spotCheck: true } : {};
    if (a.kind === 'label' || a.kind === 'accept') {
      // Accept = relabel to the run's prediction, the suggestion a suspicious-label sort puts first.
      const label = a.kind === 'label' ? a.label : r.pred;
      if (a.kind === 'accept' && label === r.currentLabel) {
        this.pendingSelectId = undefined;
        this.status = `${r.id} already has the suggested class ${this.classes[label]}`;
        return;
      }
      send({ type: 'setLabel', runDir: this.runDir, id: r.id, label, ...spot });
      this.status = `${a.kind === 'accept' ? 'Accepted suggestion' : 'Relabeled'} ${r.id}: ${this.classes[r.currentLabel]} → ${this.classes[label]}`;
    } else if (a.kind === 'confirm') {
      send({ type: 'confirm', runDir: this.runDir, id: r.id, ...spot });
      this.status = `Confirmed ${r.id}: ${this.classes[r.currentLabel]}`;
    } else if (a.kind === 'exclude') {
      send({ type: 'exclude', runDir: this.runDir, id: r.id, ...spot });
      this.status = `${r.excluded ? 'Included' : 'Excluded'} ${r.id}`;
    } else {
      send({ type: 'unsure', runDir: this.runDir, id: r.id, ...spot });
      this.status = `Marked ${r.id} as unsure`;
    }
  }

  private setSort(sort: SortKey): void {
    this.sort = sort;
    this.error = '';
    this.reset();
    // a spot-check resumes at the first sample not decided yet
    const next = this.calibration?.spotCheckNext;
    if (sort === 'spotcheck' && typeof next === 'number' && next > 0) {
      this.selected = next;
      this.status = `Spot-check: resuming at sample ${next + 1} (the ${next} before it are decided)`;
    }
  }

  private setFilter(patch: Partial<GridFilter>): void {
    this.filter = { ...this.filter, ...patch };
    this.reset();
  }

  private setBasis(b: LabelBasis): void {
    this.basis = b;
    this.matrix = [];
    send({ type: 'requestConfusion', runDir: this.runDir, basis: b });
    if (this.filter.cell !== null) this.setFilter({ cell: b });
  }

  /** Click on a confusion cell: drill into it (diagonal included); again: back to the mistakes list. */
  private pickCell(t: number, p: number): void {
    const f = this.filter;
    if (f.cell !== null && f.trueClass === t && f.predClass === p) this.setFilter({ trueClass: null, predClass: null, cell: null });
    else this.setFilter({ trueClass: t, predClass: p, cell: this.basis });
  }

  private retrain(mode: RetrainMode): void {
    this.retraining = true;
    send({ type: 'retrain', runDir: this.runDir, mode });
  }

  private describeChange(h: LabelChange): string {
    const what = h.kind === 'label' ? `label ${this.cls(h.from)} → ${this.cls(h.to)}` : h.kind === 'confirm' && h.to ? 'confirmed the label' : `${h.to ? '' : 'un'}marked ${h.kind}`;
    return `${new Date(h.at).toLocaleTimeString()} ${what} · ${h.author}${h.spotCheck ? ' · spot-check' : ''}${h.state === 'applied' ? '' : ` (${h.state})`}`;
  }

  /** "calibrated on N spot-check reviews (k issues)" and the per-class estimated issue rates, or what is still needed. */
  private renderCalibration(): unknown {
    const c = this.calibration;
    if (!c || (!c.calibrated && c.reviews.n === 0 && this.sort !== 'spotcheck' && this.sort !== 'calibrated')) return nothing;
    if (!c.calibrated) {
      return html`<div class="calibration muted" id="calibration">Calibration ${c.message}. Sort by “${SORT_LABELS.spotcheck}” and decide each sample in turn (1–${this.classes.length || 8} relabel, X exclude, C confirm).</div>`;
    }
    const pct = (r: number | null) => (r === null ? '–' : `${(100 * r).toFixed(0)}%`);
    return html`<div class="calibration" id="calibration">
      <div id="calibration-summary">calibrated on ${c.reviews.n} spot-check reviews (${c.reviews.issues} issue${c.reviews.issues === 1 ? '' : 's'})</div>
      <div class="muted" id="calibration-rates">estimated wrong labels: ${c.classes.filter((k) => k.n > 0).map((k, i) => html`${i ? ' · ' : ''}<span title="${k.reviewed} of ${k.n} reviewed, ${k.reviewedIssues} wrong">${k.name} ${pct(k.rate)}</span>`)}</div>
    </div>`;
  }

  private drawScatter(): void {
    const canvas = this.renderRoot.querySelector<HTMLCanvasElement>('#scatter');
    if (!canvas) return;
    this.scatterChart?.destroy();
    const fg = themeColor('--vscode-foreground', '#ccc');
    const datasets = this.classes.map((c, k) => ({
      label: c,
      data: this.scatterPoints.filter((p) => p.label === k).map((p) => ({ x: p.x, y: p.y })),
      backgroundColor: CLASS_COLORS[k % 8],
      pointRadius: this.scatterPoints.filter((p) => p.label === k).map((p) => (p.mistake ? 3.5 : 1.8)),
      pointBorderColor: this.scatterPoints.filter((p) => p.label === k).map((p) => (p.mistake ? fg : 'transparent')),
    }));
    this.scatterChart = new Chart(canvas, {
      type: 'scatter',
      data: { datasets },
      options: { animation: false, maintainAspectRatio: false, plugins: { legend: { labels: { color: fg, boxWidth: 8, font: { size: 10 } } } }, scales: { x: { ticks: { display: false } }, y: { ticks: { display: false } } } },
    });
  }

  private cls(i: number): string {
    return this.classes[i] ?? String(i);
  }

  private renderConfusion(): unknown {
    if (!this.matrix.length) return nothing;
    const max = Math.max(1, ...this.matrix.flat());
    const f = this.filter;
    const n = this.matrix.length;
    // roving tabindex: exactly one cell is in the tab order (the last focused one, clamped)
    const fr = Math.min(this.cmFocus.row, n - 1);
    const fc = Math.min(this.cmFocus.col, n - 1);
    return html`<h3 id="confusion-title">Confusion matrix <span class="muted">(rows: label, columns: prediction — click a cell or press Enter to list it, Esc to clear)</span></h3>
      <label class="muted">labels <select id="basis" @change=${(e: Event) => this.setBasis((e.target as HTMLSelectElement).value as LabelBasis)}>
        <option value="run" ?selected=${this.basis === 'run'}>as trained (run metrics)</option>
        <option value="effective" ?selected=${this.basis === 'effective'}>corrected (relabels applied)</option></select></label>
      <table class="cm" id="confusion" role="grid" aria-labelledby="confusion-title" @keydown=${(e: KeyboardEvent) => this.onMatrixKey(e)} @focusin=${(e: FocusEvent) => this.onMatrixFocus(e)}>
        <tr role="row"><th role="columnheader" aria-label="true label by predicted class"></th>${this.classes.map((c) => html`<th role="columnheader" title=${c} aria-label="predicted ${c}">${c.slice(0, 4)}</th>`)}</tr>
        ${this.matrix.map((row, i) => html`<tr role="row"><th role="rowheader" title=${this.cls(i)} aria-label="true ${this.cls(i)}">${this.cls(i).slice(0, 4)}</th>${row.map((v, j) => {
          const a = v / max;
          const bg = i === j ? `rgba(80,160,90,${0.15 + 0.85 * a})` : `rgba(220,80,70,${v ? 0.15 + 0.85 * a : 0})`;
          const active = f.cell !== null && f.trueClass === i && f.predClass === j;
          // the heat colour goes through the CSSOM (cssProps): a style="" attribute is blocked by the CSP
          return html`<td role="gridcell" class=${active ? 'active' : ''} ${cssProps({ 'background-color': bg })} tabindex=${i === fr && j === fc ? 0 : -1}
            aria-selected=${active ? 'true' : 'false'} aria-label=${matrixCellLabel(this.cls(i), this.cls(j), v)} data-true=${i} data-pred=${j}
            title="${this.cls(i)} predicted as ${this.cls(j)}: ${v}" @click=${() => this.pickCell(i, j)}>${v}</td>`;
        })}</tr>`)}
      </table>`;
  }

  /** Arrow keys / Home / End / PageUp / PageDown move the focused cell, Enter / Space drill into it, Escape clears the drill-down. */
  private onMatrixKey(e: KeyboardEvent): void {
    const n = this.matrix.length;
    const a = matrixKeyAction(e.key, this.cmFocus, n, n, e);
    if (!a) return;
    if (a.kind === 'clear') {
      if (this.filter.cell === null) return; // nothing to clear: Escape stays the workbench's
      this.setFilter({ trueClass: null, predClass: null, cell: null });
    } else if (a.kind === 'activate') this.pickCell(a.cell.row, a.cell.col);
    else void this.focusMatrixCell(a.cell);
    // the panel's window-level keys (←/→ move the sample selection) must not act too; Space would scroll
    e.preventDefault();
    e.stopPropagation();
  }

  /** Keeps the roving position where focus is (a click, or Tab back into the matrix). */
  private onMatrixFocus(e: FocusEvent): void {
    const td = (e.target as HTMLElement).closest?.('td[data-true]');
    if (!td) return;
    const row = Number(td.getAttribute('data-true'));
    const col = Number(td.getAttribute('data-pred'));
    if (row !== this.cmFocus.row || col !== this.cmFocus.col) this.cmFocus = { row, col };
  }

  private async focusMatrixCell(cell: MatrixCell): Promise<void> {
    this.cmFocus = cell;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(`#confusion td[data-true="${cell.row}"][data-pred="${cell.col}"]`)?.focus();
  }

  private renderInspector(): unknown {
    const d = this.detail;
    if (!d) return html`<p class="muted">Select a sample.</p>`;
    const ca = d.classAlign;
    // the votes back the given (current, possibly relabeled) label or not: what a reviewer checks first
    const votes = d.votes ? voteSummary(d.votes, d.currentLabel, this.classes) : undefined;
    return html`<div class="inspector" id="inspector">
      <h3>Sample <span id="inspector-id">${d.id}</span></h3>
      <img src=${d.src} alt=${d.id}>
      <div>split ${d.split} · label <b id="inspector-label">${this.cls(d.currentLabel)}</b>${votes ? html` <span class="muted" id="inspector-label-votes">(${votes.labelVotes} of ${votes.total} votes)</span>` : nothing}${d.currentLabel !== d.origLabel ? html` (dataset: ${this.cls(d.origLabel)})` : nothing}${d.label !== d.currentLabel ? html` · run scored ${this.cls(d.label)}` : nothing} · predicted <b>${this.cls(d.pred)}</b>
        ${d.excluded ? html` · <b>excluded</b>` : nothing}${d.unsure ? html` · <b>unsure</b>` : nothing}${d.confirmed ? html` · <b id="inspector-confirmed">confirmed</b>` : nothing}</div>
      ${votes ? html`<h3>Annotator votes <span class="muted" id="votes-text">${votes.text}</span></h3>
        <div class="bars" id="votes" aria-label="annotator votes">
          ${votes.counts.map((c) => html`<div class=${c.column === d.currentLabel ? 'cur' : ''} data-column=${c.column}><span class="n">${c.name}</span><span class="b" ${cssProps({ width: `${Math.round((c.count / votes.total) * 180)}px` })}></span><span>${c.count}</span></div>`)}
        </div>
        ${votes.note ? html`<div class=${votes.disagrees ? 'vote-note disagree' : 'vote-note muted'} id="votes-note">${votes.disagrees ? '⚠ ' : ''}${votes.note}</div>` : nothing}
        <h3>Model probabilities</h3>` : nothing}
      <div class="bars" aria-label="class probabilities">
        ${d.probs.map((p, k) => html`<div class=${k === d.currentLabel ? 'cur' : ''}><span class="n">${k + 1} ${this.cls(k)}</span><span class=${k === d.pred ? 'b pred' : 'b'} ${cssProps({ width: `${Math.round(p * 180)}px` })}></span><span>${(p * 100).toFixed(1)}%</span></div>`)}
      </div>
      <div class="muted">simText ${d.simText.toFixed(3)} · simNeutral ${d.simNeutral.toFixed(3)} · gap <b>${d.gap.toFixed(3)}</b></div>
      <div class="muted">alignment ${d.align === null ? 'n/a (neutral)' : d.align.toFixed(3)}${ca && d.align !== null ? html` vs class ${this.cls(d.currentLabel)} (${ca.n} samples): mean ${ca.mean.toFixed(3)} ± ${ca.std.toFixed(3)} (p10 ${ca.p10.toFixed(3)}, p90 ${ca.p90.toFixed(3)})${d.align < ca.p10 ? html` — <b>unusually low</b>` : nothing}` : nothing}</div>
      ${(() => {
        const c = this.calibration;
        const why = issueReasons(d, this.classes, this.sort === 'calibrated' && c?.calibrated ? c.classes.map((k) => k.rate) : undefined);
        return why.length ? html`<h3>Why it ranks high</h3><ul class="hist" id="why">${why.map((w) => html`<li>${w}</li>`)}</ul>${d.pred !== d.currentLabel ? html`<div class="muted">A: accept the suggestion → ${this.cls(d.pred)}</div>` : nothing}` : nothing;
      })()}
      <h3>Label history</h3>
      ${d.history.length ? html`<ol class="hist" id="history">${d.history.map((h) => html`<li class=${h.state}>${this.describeChange(h)}</li>`)}</ol>` : html`<div class="muted">original label, never changed</div>`}
      ${d.predictions.length > 1 ? html`<h3>Across runs</h3><ol class="hist" id="across-runs">${d.predictions.map((p) => html`<li>${p.run}: predicted ${this.cls(p.pred)} (label ${this.cls(p.label)}, p ${(p.confidence * 100).toFixed(0)}%)</li>`)}</ol>` : nothing}
    </div>`;
  }

  private renderComparison(): unknown {
    const c = this.comparison;
    if (!c) return nothing;
    return html`<div class="cmp" id="comparison">
      <h3>Run comparison</h3>
      <div>accuracy before <b id="acc-before">${(c.before.accuracy * 100).toFixed(1)}%</b> → after <b id="acc-after">${(c.after.accuracy * 100).toFixed(1)}%</b>
        <span class="muted">(${c.common} samples both runs scored, each against its own labels)</span></div>
      <div class="muted" id="cmp-counts">${c.changedCount} samples changed prediction · ${c.fixed} fixed · ${c.broken} broken${c.changedCount > c.changed.length ? ` · first ${c.changed.length} shown` : ''}</div>
      <div class="list">${c.changed.slice(0, 60).map((x) => html`<img src=${x.src} title="${x.id}: ${this.cls(x.predBefore)} → ${this.cls(x.predAfter)} (label ${this.cls(x.label)})" alt=${x.id}>`)}</div>
    </div>`;
  }

  override render(): unknown {
    const f = this.filter;
    const opt = (v: number | null): unknown => html`<option value="">any</option>${this.classes.map((c, i) => html`<option value=${i} ?selected=${v === i}>${i + 1} ${c}</option>`)}`;
    const num = (s: string): number | null => (s === '' ? null : Number(s));
    // the spot-check lists every sample of the run: a filtered one would not be a random sample
    const spotCheck = this.sort === 'spotcheck';
    return html`
      <div class="bar">
        <h2 id="run-title">${this.run ? `${this.run.name}` : 'No run yet — train first'}</h2>
        ${this.run ? html`<span class="muted" id="run-acc">${this.run.dataset} · ${this.run.accuracy === null ? '' : `${(this.run.accuracy * 100).toFixed(1)}%`}</span>` : nothing}
        <label>label <select id="f-true" ?disabled=${spotCheck} @change=${(e: Event) => this.setFilter({ trueClass: num((e.target as HTMLSelectElement).value) })}>${opt(f.trueClass)}</select></label>
        <label>pred <select id="f-pred" ?disabled=${spotCheck} @change=${(e: Event) => this.setFilter({ predClass: num((e.target as HTMLSelectElement).value) })}>${opt(f.predClass)}</select></label>
        <label>split <select id="f-split" ?disabled=${spotCheck} @change=${(e: Event) => this.setFilter({ split: (e.target as HTMLSelectElement).value || null })}>
          ${[['', 'any'], ['train', 'train'], ['valid', 'valid'], ['test', 'test']].map(([v, l]) => html`<option value=${v} ?selected=${(f.split ?? '') === v}>${l}</option>`)}</select></label>
        <label>relabeled <select id="f-relabeled" ?disabled=${spotCheck} @change=${(e: Event) => { const v = (e.target as HTMLSelectElement).value; this.setFilter({ relabeled: v === '' ? null : v === 'yes' }); }}>
          <option value="">any</option><option value="yes" ?selected=${f.relabeled === true}>yes</option><option value="no" ?selected=${f.relabeled === false}>no</option></select></label>
        ${spotCheck
          ? html`<span class="muted" id="mistakes-label" title="Decide each sample in turn: its label is right (C), wrong (1–${this.classes.length || 8}) or the image unusable (X). These decisions calibrate the “${SORT_LABELS.calibrated}” order.">every sample, random order (filters off)</span>`
          : f.cell !== null && f.trueClass !== null && f.predClass !== null
          ? html`<span id="cell-filter">cell ${this.cls(f.trueClass)} → ${this.cls(f.predClass)} (${f.cell === 'run' ? 'as trained' : 'corrected'})</span>
              <button class="secondary" id="all-mistakes" @click=${() => this.setFilter({ trueClass: null, predClass: null, cell: null })}>All mistakes</button>`
          : html`<span class="muted" id="mistakes-label">misclassified samples</span>`}
        <label>sort <select id="sort" @change=${(e: Event) => this.setSort((e.target as HTMLSelectElement).value as SortKey)}>
          ${SORT_KEYS.map((k) => html`<option value=${k} ?selected=${this.sort === k}>${SORT_LABELS[k]}</option>`)}</select></label>
        <span class="muted" id="count">${this.total} samples</span>
        ${this.view === 'diagnosticsView' ? html`<button class="secondary" @click=${() => send({ type: 'openFull', runDir: this.runDir })}>Open panel</button>` : nothing}
        <button class="secondary" id="export" ?disabled=${!this.run} title="Write corrected label files (the dataset's own format) under .kefer/exports/" @click=${() => send({ type: 'exportLabels', runDir: this.runDir })}>Export labels</button>
        <button id="retrain" ?disabled=${!this.run || this.retraining} title="Retrain the head on the frozen encoder with the corrected labels (seconds)" @click=${() => this.retrain('head')}>${this.retraining ? 'Retraining…' : 'Quick retrain'}</button>
        <button class="secondary" id="retrain-full" ?disabled=${!this.run || this.retraining} title="Train the whole model again with the corrected labels" @click=${() => this.retrain('full')}>Full retrain</button>
      </div>
      <div class="main">
        <kefer-grid .total=${this.total} .rowsAt=${this.rowAt} .classes=${this.classes} .selected=${this.selected} .generation=${this.generation}
          @range=${(e: CustomEvent<[number, number]>) => this.onRange(e)} @thumbs=${(e: CustomEvent<{ ids: string[]; urgent: number }>) => this.onThumbs(e)} @pick=${(e: CustomEvent<number>) => { this.select(e.detail); this.grid.focus(); }}></kefer-grid>
        <aside>
          ${this.renderComparison()}
          ${this.renderCalibration()}
          ${this.renderInspector()}
          <div class="keys">Keys: 1–${this.classes.length || 8} set class (auto-advance) · A accept the suggestion (predicted class) · C confirm the label · U undo · R redo · X exclude · ? unsure · ←/→ move</div>
          <div>${this.renderConfusion()}</div>
          <div class="wide"><h3>Embedding scatter <span class="muted">(outlined = mistakes)</span></h3><div class="muted" id="scatter-source">${this.scatterSource}</div><div class="scatter"><canvas id="scatter"></canvas></div></div>
        </aside>
      </div>
      <div class="status" id="status" role="status">${this.error ? html`<span class="error">${this.error}</span>` : this.status}</div>
    `;
  }
}
