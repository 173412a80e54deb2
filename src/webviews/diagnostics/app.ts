// Diagnostics: misclassified / suspicious samples of a run, with filters, sorting, a confusion matrix
// that drives the grid, a sample inspector (why a sample ranks where it does, the annotators' votes
// where the dataset has them: FERPlus, the KE-FER signals against their class), an embedding scatter
// linked to the grid (lasso / click filter it, the selected sample ringed; PCA or UMAP), keyboard
// relabeling (digits, A accept the suggestion, C confirm the label, U, X, ?), a spot-check (every sample
// in a seeded random order; its decisions calibrate the issue ranking, whose state the panel shows) and
// the retrain -> comparison loop, and the "Duplicates & Leaks" view of the dataset's stored duplicate scan
// (dups.ts: clusters as thumbnail rows, keyboard fixes). All data comes from the host in pages.
//
// Layout: one component per pane, side by side with a separator between them (kefer-splitter): the
// grid (grid.ts), the inspector (inspector.ts) and the analysis column, which stacks its panes: the
// confusion matrix (confusion.ts), the embedding scatter (scatter.ts), the duplicates view (dups.ts). Another pane goes into
// ANALYSIS_PANES' render in the same way; its state stays in this element, which owns the messages.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, query, state } from 'lit/decorators.js';
import { DUP_PAGE_SIZE, keyToAction, MAX_SELECTION, MAX_THUMB_IDS, SORT_KEYS, SORT_LABELS, VOTE_SORTS, type CalibrationState, type DupCursor, type DupDataset, type DupFilter, type DupFix, type DupPageView, type DupQuery, type DupScanView, type GridFilter, type HostMessage, type LabelBasis, type RetrainMode, type RunComparison, type RunOverview, type RunSummary, type SampleDetail, type ScatterMethod, type ScatterPoint, type SortKey, type ViewKind } from '../protocol.js';
import { cssProps } from '../shared/cssProps.js';
import { onMessage, send, state as viewState } from '../shared/vscode.js';
import { PAGE_SIZE, pagesFor, type GridCellRow, type ThumbGrid } from './grid.js';
import './grid.js';
import './inspector.js';
import './confusion.js';
import './scatter.js';
import type { DupsPane } from './dups.js';
import './dups.js';
import { paneWidth } from './splitter.js';
import './splitter.js';

// Key order matches parseWebviewMessage's, so echoed queries compare equal as JSON.
const DEFAULT_FILTER: GridFilter = { trueClass: null, predClass: null, split: null, relabeled: null, disagree: false, cell: null, ids: null };
/** Pane widths (px) and their bounds; kept in the webview's state across reloads. */
const WIDTHS = { inspector: 330, analysis: 420 };
const MIN_PANE = 240;

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
    button:focus-visible, select:focus-visible, input:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
    .warn { margin: 0; padding: 5px 8px; border-bottom: 1px solid var(--vscode-inputValidation-warningBorder, orange); background: var(--vscode-inputValidation-warningBackground, rgba(255,165,0,0.12)); font-size: 0.92em; }
    .main { flex: 1; display: flex; min-height: 0; }
    kefer-grid { flex: 1 1 auto; min-width: 200px; }
    .pane { flex: 0 0 auto; overflow-y: auto; padding: 8px; box-sizing: border-box; min-width: ${MIN_PANE}px; }
    .analysis > * + * { display: block; margin-top: 10px; border-top: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.3)); padding-top: 4px; }
    /* a narrow editor (split beside the dashboard), and the side view: the panes stack under the grid */
    @media (max-width: 900px) {
      .main { flex-direction: column; overflow-y: auto; }
      kefer-grid { flex: 0 0 55vh; }
      .pane { width: auto !important; overflow: visible; }
      kefer-splitter { display: none; }
    }
    :host([view='diagnosticsView']) .main { flex-direction: column; overflow-y: auto; }
    :host([view='diagnosticsView']) kefer-grid { flex: 0 0 50vh; }
    :host([view='diagnosticsView']) .pane { width: auto !important; overflow: visible; }
    :host([view='diagnosticsView']) kefer-splitter, :host([view='diagnosticsView']) .wide { display: none; }
    .muted { opacity: 0.75; font-size: 0.9em; }
    .status { padding: 3px 8px; font-size: 0.9em; min-height: 1.2em; border-top: 1px solid var(--vscode-panel-border, transparent); }
    .error { color: var(--vscode-errorForeground); }
    .cmp { border: 1px solid var(--vscode-focusBorder); padding: 6px; border-radius: 4px; margin-bottom: 8px; }
    .cmp img { width: 40px; height: 40px; image-rendering: pixelated; }
    .cmp .list { display: flex; flex-wrap: wrap; gap: 4px; }
    .keys { font-size: 11px; opacity: 0.75; margin-top: 8px; }
    .calibration { font-size: 0.9em; margin-bottom: 6px; }
    h3 { font-size: 0.95em; margin: 10px 0 4px; }
  `;

  @state() private view: ViewKind = 'diagnostics';
  @state() private classes: string[] = [];
  @state() private run: RunSummary | null = null;
  @state() private overview: RunOverview | undefined;
  @state() private filter: GridFilter = { ...DEFAULT_FILTER };
  @state() private sort: SortKey = 'issue';
  @state() private total = 0;
  @state() private selected = 0;
  @state() private generation = 0;
  @state() private matrix: number[][] = [];
  /** Labels the confusion matrix (and a cell drill-down) scores against. */
  @state() private basis: LabelBasis = 'run';
  @state() private scatterSource = '';
  @state() private scatterMethod: ScatterMethod = 'pca';
  @state() private scatterAvailable: ScatterMethod[] = [];
  @state() private scatterPoints: ScatterPoint[] = [];
  @state() private scatterBusy = false;
  @state() private detail: SampleDetail | undefined;
  @state() private status = '';
  @state() private error = '';
  @state() private comparison: RunComparison | undefined;
  @state() private retraining = false;
  /** The issue ranking's calibration on this run's spot-check reviews (the host sends it after init and each change). */
  @state() private calibration: CalibrationState | undefined;
  @state() private widths = { ...WIDTHS, ...(viewState.get<{ widths?: typeof WIDTHS }>()?.widths ?? {}) };
  @query('kefer-grid') private grid!: ThumbGrid;
  /** The duplicates view: its dataset and stored scan, filter, the keyset cursors of the pages walked (last: the page shown). */
  @state() private dupDataset: DupDataset | null = null;
  @state() private dupScan: DupScanView | null = null;
  @state() private dupFilter: DupFilter = { tier: 'near', leak: null, conflicting: false };
  @state() private dupCursors: (DupCursor | null)[] = [null];
  @state() private dupPage: DupPageView | undefined;
  @state() private dupBusy = false;
  @state() private dupStatus = '';
  @state() private dupGen = 0;
  @query('kefer-dups') private dupsPane!: DupsPane;
  private dupThumbsAsked = new Set<string>();
  /** Thumbnails asked for a page fetched ahead (low priority), not made yet. */
  private dupThumbsAhead = new Set<string>();
  /**
   * Pages of the current filter already listed or fetched ahead (keyed by their query): Next shows the
   * page fetched ahead at once and Prev the one seen, instead of a round trip to the store each. Emptied
   * when what a page shows can change: another filter or scan, or any label change.
   */
  private dupPages = new Map<string, DupPageView>();
  /** Pages asked since dupPages was last emptied (by query key): only their answers are kept, not a stale one in flight. */
  private dupAsked = new Map<string, number>();
  /** Give the duplicates view the keyboard when its next page arrives (after Find Duplicates). */
  private dupFocus = false;
  private pages = new Map<number, GridCellRow[]>();
  private requested = new Set<number>();
  /** The rows of the pages held, by id (thumbnails arrive by id); and the thumbnails asked for. */
  private byId = new Map<string, GridCellRow>();
  private thumbsAsked = new Set<string>();
  /** Bumps on every filter/sort/label change so late pages from an old query are dropped. */
  private queryGen = 0;
  private pendingSelectId: string | undefined;

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
        this.overview = undefined;
        this.scatterPoints = [];
        this.scatterBusy = false;
        // the host's kefer.suspiciousLabels.ranker: the order a freshly opened grid starts in
        if (m.sort) this.sort = m.sort;
        this.retraining = false;
        if (this.run) {
          this.filter = { ...DEFAULT_FILTER };
          this.reset();
          send({ type: 'requestConfusion', runDir: this.runDir, basis: this.basis });
          if (this.view === 'diagnostics') this.requestScatter();
        }
        break;
      case 'overview':
        if (m.overview.runDir !== this.runDir) break;
        this.overview = m.overview;
        // a run without votes has no vote orders and no disagreement filter
        if (!m.overview.hasVotes && (VOTE_SORTS.includes(this.sort) || this.filter.disagree)) {
          if (VOTE_SORTS.includes(this.sort)) this.sort = 'issue';
          this.filter = { ...this.filter, disagree: false };
          this.reset();
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
        if (m.runDir === this.runDir && m.basis === this.basis) this.matrix = m.matrix;
        break;
      case 'sample':
        this.detail = m.sample;
        break;
      case 'labelChanged':
        // the duplicates view lists its page again: labels and exclusions changed (by it, the grid or an undo)
        this.forgetDupPages();
        if (this.dupScan) this.requestDups();
        // a view without a run (the side view before any run is listed) has nothing to refresh: asking
        // would name no run folder (the host refused `requestConfusion for ""`)
        if (!this.run) break;
        this.refresh();
        send({ type: 'requestConfusion', runDir: this.runDir, basis: this.basis });
        if (this.view === 'diagnostics') this.requestScatter();
        if (this.detail) send({ type: 'requestSample', runDir: this.runDir, id: this.detail.id });
        break;
      case 'scatter':
        if (m.runDir !== this.runDir || m.method !== this.scatterMethod) {
          // UMAP asked for but not available: the host answered with PCA
          if (m.runDir === this.runDir && m.method === 'pca' && !m.available.includes(this.scatterMethod)) this.scatterMethod = 'pca';
          else break;
        }
        this.scatterPoints = m.points;
        this.scatterSource = m.source;
        this.scatterAvailable = m.available;
        this.scatterBusy = false;
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
      case 'dupScan':
        this.onDupScan(m.dataset, m.scan, m.focus === true);
        break;
      case 'dupPage': {
        const key = JSON.stringify(m.page.query);
        const asked = this.dupAsked.get(key) ?? 0;
        // a page fetched ahead (or a late answer for a page turned away from): kept for Next / Prev
        if (asked > 0) {
          if (asked === 1) this.dupAsked.delete(key);
          else this.dupAsked.set(key, asked - 1);
          this.dupPages.set(key, m.page);
        }
        if (key !== JSON.stringify(this.dupQuery())) {
          if (asked > 0) this.askDupThumbs(m.page, 0);
          break;
        }
        this.showDupPage(m.page);
        if (this.dupFocus) {
          this.dupFocus = false;
          void this.updateComplete.then(() => this.dupsPane?.focusList());
        }
        break;
      }
      case 'dupThumbs': {
        if (m.dataset !== this.dupDataset?.root || !this.dupPage) break;
        const byId = new Map(m.thumbs.map((t) => [t.id, t]));
        for (const page of new Set([this.dupPage, ...this.dupPages.values()])) {
          for (const c of page.rows) {
            for (const mem of c.members) {
              const t = byId.get(mem.id);
              if (!t) continue;
              this.dupThumbsAhead.delete(mem.id);
              if ('src' in t) mem.thumb = t.src;
              else this.dupThumbsAsked.delete(mem.id); // dropped, or failed: asked again with the next page
            }
          }
        }
        this.dupGen++;
        break;
      }
      case 'dupDone':
        if (m.dataset === this.dupDataset?.root) this.dupStatus = m.message;
        break;
      case 'error':
        this.dupBusy = false;
        this.error = m.message;
        if (this.scatterBusy && /UMAP/.test(m.message)) this.scatterBusy = false;
        break;
      case 'engine':
        break;
    }
  }

  private dupQuery(): DupQuery {
    return { dataset: this.dupDataset?.root ?? '', filter: this.dupFilter, after: this.dupCursors[this.dupCursors.length - 1] ?? null, limit: DUP_PAGE_SIZE };
  }

  /** The host's dataset and scan for the duplicates view: a new one starts on its first page (near tier first). */
  private onDupScan(dataset: DupDataset, scan: DupScanView | null, focus: boolean): void {
    const fresh = dataset.root !== this.dupDataset?.root || scan?.created !== this.dupScan?.created;
    this.dupDataset = dataset;
    this.dupScan = scan;
    if (fresh) {
      const tiers = scan?.tiers.map((t) => t.tier) ?? [];
      this.dupFilter = { tier: tiers.includes('near') ? 'near' : (tiers[0] ?? 'near'), leak: null, conflicting: false };
      this.dupCursors = [null];
      this.dupPage = undefined;
      this.dupStatus = '';
      this.dupThumbsAsked.clear();
      this.dupThumbsAhead.clear();
      this.forgetDupPages();
    }
    this.dupFocus = focus;
    if (scan) this.requestDups();
    else if (focus) void this.updateComplete.then(() => this.dupsPane?.focusList());
  }

  /** Lists the current page: from the pages at hand when it is there (Next / Prev), else from the store. */
  private requestDups(): void {
    if (!this.dupDataset || !this.dupScan) return;
    const query = this.dupQuery();
    const known = this.dupPages.get(JSON.stringify(query));
    if (known) {
      this.showDupPage(known);
      return;
    }
    this.dupBusy = true;
    this.askDupPage(query);
  }

  private askDupPage(query: DupQuery): void {
    const key = JSON.stringify(query);
    this.dupAsked.set(key, (this.dupAsked.get(key) ?? 0) + 1);
    send({ type: 'requestDups', query });
  }

  /** What a page shows may have changed: none kept, and answers to earlier asks are not kept either. */
  private forgetDupPages(): void {
    this.dupPages.clear();
    this.dupAsked.clear();
  }

  /** Shows a page, asks its missing thumbnails, and fetches the page after it ahead (with its thumbnails, not urgent). */
  private showDupPage(page: DupPageView): void {
    this.dupPage = page;
    this.dupBusy = false;
    this.askDupThumbs(page);
    if (page.next) {
      const ahead: DupQuery = { ...page.query, after: page.next };
      const key = JSON.stringify(ahead);
      if (!this.dupPages.has(key) && !this.dupAsked.has(key)) this.askDupPage(ahead);
    }
  }

  /** Thumbnails of a page's members that have none yet (all at once: a page is about a hundred); urgent: the page shown. */
  private askDupThumbs(page: DupPageView | undefined = this.dupPage, urgent?: number): void {
    const ahead = urgent === 0;
    // a page shown asks again, urgently, for those asked ahead and not made yet: the worker raises their
    // priority (a later page's, asked ahead after them, would otherwise go first)
    const ids = (page?.rows ?? []).flatMap((c) => c.members).filter((m) => m.thumb === null && (!this.dupThumbsAsked.has(m.id) || (!ahead && this.dupThumbsAhead.has(m.id)))).map((m) => m.id).slice(0, MAX_THUMB_IDS);
    if (!ids.length || !this.dupDataset) return;
    for (const id of ids) {
      this.dupThumbsAsked.add(id);
      if (ahead) this.dupThumbsAhead.add(id);
      else this.dupThumbsAhead.delete(id);
    }
    send({ type: 'requestDupThumbs', dataset: this.dupDataset.root, ids, urgent: urgent ?? ids.length });
  }

  private setDupFilter(patch: Partial<DupFilter>): void {
    this.dupFilter = { ...this.dupFilter, ...patch };
    this.dupCursors = [null];
    this.forgetDupPages();
    this.dupStatus = '';
    this.requestDups();
  }

  private turnDupPage(delta: number): void {
    if (delta > 0 && this.dupPage?.next) this.dupCursors = [...this.dupCursors, this.dupPage.next];
    else if (delta < 0 && this.dupCursors.length > 1) this.dupCursors = this.dupCursors.slice(0, -1);
    else return;
    this.requestDups();
  }

  private dupFix(cid: number, fix: DupFix): void {
    if (!this.dupDataset) return;
    send({ type: 'dupFix', dataset: this.dupDataset.root, tier: this.dupFilter.tier, cid, fix });
  }

  private requestScatter(): void {
    if (!this.run) return;
    this.scatterBusy = true;
    send({ type: 'requestScatter', runDir: this.runDir, method: this.scatterMethod });
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
    if (this.run) send({ type: 'requestConfusion', runDir: this.runDir, basis: b });
    if (this.filter.cell !== null) this.setFilter({ cell: b });
  }

  /** Click on a confusion cell: drill into it (diagonal included); again: back to the mistakes list. */
  private pickCell(t: number, p: number): void {
    const f = this.filter;
    if (f.cell !== null && f.trueClass === t && f.predClass === p) this.setFilter({ trueClass: null, predClass: null, cell: null });
    else this.setFilter({ trueClass: t, predClass: p, cell: this.basis, ids: null });
  }

  /** A lasso in the scatter: the grid lists exactly those samples (null: the selection is cleared). */
  private setSelection(ids: string[] | null): void {
    if (ids !== null && ids.length === 0) {
      this.status = 'The lasso holds no point.';
      return;
    }
    if (ids !== null && ids.length > MAX_SELECTION) {
      this.status = `The lasso holds ${ids.length.toLocaleString()} points; a selection is at most ${MAX_SELECTION.toLocaleString()}: draw a smaller one.`;
      return;
    }
    this.setFilter({ ids, cell: null, ...(ids === null ? {} : { trueClass: null, predClass: null }) });
    this.status = ids ? `Selection from the scatter: ${ids.length} samples` : 'Selection cleared';
  }

  /** A click on a scatter point: show it; when the grid does not list it, list it (a selection of one). */
  private pickPoint(id: string): void {
    const i = this.indexOf(id);
    if (i >= 0) {
      this.select(i);
      return;
    }
    this.pendingSelectId = id;
    this.setSelection([id]);
  }

  private setScatterMethod(m: ScatterMethod): void {
    this.scatterMethod = m;
    this.requestScatter();
  }

  private resize(pane: keyof typeof WIDTHS, dx: number): void {
    const max = Math.max(MIN_PANE, this.clientWidth - 260 - (pane === 'inspector' ? this.widths.analysis : this.widths.inspector));
    this.widths = { ...this.widths, [pane]: paneWidth(this.widths[pane], dx, MIN_PANE, max) };
  }

  private retrain(mode: RetrainMode): void {
    this.retraining = true;
    send({ type: 'retrain', runDir: this.runDir, mode });
  }

  private cls(i: number): string {
    return this.classes[i] ?? String(i);
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

  /** The run's accuracy (out-of-fold for a cross-validation run), its mean class recall and majority baseline. */
  private renderRunFacts(): unknown {
    const r = this.run;
    if (!r) return nothing;
    const o = this.overview;
    const p = (x: number): string => `${(x * 100).toFixed(1)}%`;
    if (!o) return html`<span class="muted" id="run-acc">${r.dataset} · ${r.accuracy === null ? '' : p(r.accuracy)}</span>`;
    const what = o.crossVal ? `${o.crossVal.k}-fold cross-validation (${o.crossVal.mode}): out-of-fold accuracy` : 'accuracy';
    return html`<span class="muted" id="run-acc" title="${o.n} records scored against the run's own labels; UAR = mean class recall; the majority baseline always answers the commonest label">${r.dataset} · ${what} <b>${p(o.accuracy)}</b> · UAR ${p(o.uar)} · majority ${this.cls(o.majority.cls)} ${p(o.majority.share)}${o.smallClasses.length ? html` · <span id="small-classes" title="fewer than 30 records, so their class statistics (the gap's reference) say little: ${o.smallClasses.map((k) => `${this.cls(k)} ${o.classCounts[k]}`).join(', ')}">${o.smallClasses.length} small class${o.smallClasses.length === 1 ? '' : 'es'} ⚠</span>` : nothing}</span>`;
  }

  override render(): unknown {
    const f = this.filter;
    const opt = (v: number | null): unknown => html`<option value="">any</option>${this.classes.map((c, i) => html`<option value=${i} ?selected=${v === i}>${i + 1} ${c}</option>`)}`;
    const num = (s: string): number | null => (s === '' ? null : Number(s));
    // the spot-check lists every sample of the run: a filtered one would not be a random sample
    const spotCheck = this.sort === 'spotcheck';
    const hasVotes = this.overview?.hasVotes ?? false;
    const sorts = SORT_KEYS.filter((k) => hasVotes || !VOTE_SORTS.includes(k) || k === this.sort);
    return html`
      <div class="bar">
        <h2 id="run-title">${this.run ? `${this.run.name}` : 'No run yet — train first'}</h2>
        ${this.renderRunFacts()}
        <label>label <select id="f-true" ?disabled=${spotCheck} @change=${(e: Event) => this.setFilter({ trueClass: num((e.target as HTMLSelectElement).value) })}>${opt(f.trueClass)}</select></label>
        <label>pred <select id="f-pred" ?disabled=${spotCheck} @change=${(e: Event) => this.setFilter({ predClass: num((e.target as HTMLSelectElement).value) })}>${opt(f.predClass)}</select></label>
        <label>split <select id="f-split" ?disabled=${spotCheck} @change=${(e: Event) => this.setFilter({ split: (e.target as HTMLSelectElement).value || null })}>
          ${[['', 'any'], ['train', 'train'], ['valid', 'valid'], ['test', 'test']].map(([v, l]) => html`<option value=${v} ?selected=${(f.split ?? '') === v}>${l}</option>`)}</select></label>
        <label>relabeled <select id="f-relabeled" ?disabled=${spotCheck} @change=${(e: Event) => { const v = (e.target as HTMLSelectElement).value; this.setFilter({ relabeled: v === '' ? null : v === 'yes' }); }}>
          <option value="">any</option><option value="yes" ?selected=${f.relabeled === true}>yes</option><option value="no" ?selected=${f.relabeled === false}>no</option></select></label>
        ${hasVotes ? html`<label title="FER+ votes: the label is not the most voted, or another expression got at least 3 of 10 votes (30%)"><input type="checkbox" id="f-disagree" ?disabled=${spotCheck} .checked=${f.disagree} @change=${(e: Event) => this.setFilter({ disagree: (e.target as HTMLInputElement).checked })}> annotators disagree</label>` : nothing}
        ${spotCheck
          ? html`<span class="muted" id="mistakes-label" title="Decide each sample in turn: its label is right (C), wrong (1–${this.classes.length || 8}) or the image unusable (X). These decisions calibrate the “${SORT_LABELS.calibrated}” order.">every sample, random order (filters off)</span>`
          : f.ids !== null
          ? html`<span id="selection-filter">selection from the scatter: ${f.ids.length} sample${f.ids.length === 1 ? '' : 's'} (right and wrong)</span>
              <button class="secondary" id="clear-selection" @click=${() => this.setSelection(null)}>All mistakes</button>`
          : f.cell !== null && f.trueClass !== null && f.predClass !== null
          ? html`<span id="cell-filter">cell ${this.cls(f.trueClass)} → ${this.cls(f.predClass)} (${f.cell === 'run' ? 'as trained' : 'corrected'})</span>
              <button class="secondary" id="all-mistakes" @click=${() => this.setFilter({ trueClass: null, predClass: null, cell: null })}>All mistakes</button>`
          : html`<span class="muted" id="mistakes-label">misclassified samples</span>`}
        <label>sort <select id="sort" @change=${(e: Event) => this.setSort((e.target as HTMLSelectElement).value as SortKey)}>
          ${sorts.map((k) => html`<option value=${k} ?selected=${this.sort === k}>${SORT_LABELS[k]}</option>`)}</select></label>
        <span class="muted" id="count">${this.total} samples</span>
        ${this.view === 'diagnosticsView' ? html`<button class="secondary" @click=${() => send({ type: 'openFull', runDir: this.runDir })}>Open panel</button>` : nothing}
        <button class="secondary" id="export" ?disabled=${!this.run} title="Write corrected label files (the dataset's own format) under .kefer/exports/" @click=${() => send({ type: 'exportLabels', runDir: this.runDir })}>Export labels</button>
        <button id="retrain" ?disabled=${!this.run || this.retraining} title="Retrain the head on the frozen encoder with the corrected labels (seconds)" @click=${() => this.retrain('head')}>${this.retraining ? 'Retraining…' : 'Quick retrain'}</button>
        <button class="secondary" id="retrain-full" ?disabled=${!this.run || this.retraining} title="Train the whole model again with the corrected labels" @click=${() => this.retrain('full')}>Full retrain</button>
      </div>
      ${this.overview?.weak ? html`<p class="warn" id="weak-warning" role="note">⚠ ${this.overview.weak}</p>` : nothing}
      <div class="main">
        <kefer-grid .total=${this.total} .rowsAt=${this.rowAt} .classes=${this.classes} .sort=${this.sort} .selected=${this.selected} .generation=${this.generation}
          @range=${(e: CustomEvent<[number, number]>) => this.onRange(e)} @thumbs=${(e: CustomEvent<{ ids: string[]; urgent: number }>) => this.onThumbs(e)} @pick=${(e: CustomEvent<number>) => { this.select(e.detail); this.grid.focus(); }}></kefer-grid>
        <kefer-splitter label="Resize the inspector" @resize=${(e: CustomEvent<number>) => this.resize('inspector', e.detail)} @resize-end=${() => viewState.set({ widths: this.widths })}></kefer-splitter>
        <section class="pane inspector-pane" id="inspector-pane" aria-label="Inspector" ${cssProps({ width: `${this.widths.inspector}px` })}>
          ${this.renderComparison()}
          ${this.renderCalibration()}
          <kefer-inspector .detail=${this.detail} .classes=${this.classes} .sort=${this.sort} .calibration=${this.calibration}></kefer-inspector>
          <div class="keys">Keys: 1–${this.classes.length || 8} set class (auto-advance) · A accept the suggestion (predicted class) · C confirm the label · U undo · R redo · X exclude · ? unsure · ←/→ move</div>
        </section>
        <kefer-splitter label="Resize the analysis panes" @resize=${(e: CustomEvent<number>) => this.resize('analysis', e.detail)} @resize-end=${() => viewState.set({ widths: this.widths })}></kefer-splitter>
        <section class="pane analysis" id="analysis-pane" aria-label="Analysis" ${cssProps({ width: `${this.widths.analysis}px` })}>
          ${this.renderAnalysisPanes()}
        </section>
      </div>
      <div class="status" id="status" role="status">${this.error ? html`<span class="error">${this.error}</span>` : this.status}</div>
    `;
  }

  /** The analysis column's panes, top to bottom (another view adds its element here). */
  private renderAnalysisPanes(): unknown {
    const f = this.filter;
    const active = f.cell !== null && f.trueClass !== null && f.predClass !== null ? { row: f.trueClass, col: f.predClass } : null;
    return html`
      <kefer-confusion .matrix=${this.matrix} .classes=${this.classes} .active=${active} basis=${this.basis} .smallClasses=${this.overview?.smallClasses ?? []}
        @pick-cell=${(e: CustomEvent<{ row: number; col: number }>) => this.pickCell(e.detail.row, e.detail.col)}
        @clear-cell=${() => this.setFilter({ trueClass: null, predClass: null, cell: null })}
        @basis=${(e: CustomEvent<LabelBasis>) => this.setBasis(e.detail)}></kefer-confusion>
      <kefer-scatter class="wide" .points=${this.scatterPoints} .classes=${this.classes} method=${this.scatterMethod} .available=${this.scatterAvailable} source=${this.scatterSource}
        .selectedId=${this.detail?.id ?? null} .selection=${f.ids} ?busy=${this.scatterBusy}
        @lasso=${(e: CustomEvent<string[] | null>) => this.setSelection(e.detail)} @pick-point=${(e: CustomEvent<string>) => this.pickPoint(e.detail)}
        @method=${(e: CustomEvent<ScatterMethod>) => this.setScatterMethod(e.detail)}></kefer-scatter>
      <kefer-dups class="wide" id="dups" .source=${this.dupDataset} .scan=${this.dupScan} .filter=${this.dupFilter} .page=${this.dupPage} .pageIndex=${this.dupCursors.length - 1}
        ?busy=${this.dupBusy} status=${this.dupStatus} .generation=${this.dupGen}
        @dup-filter=${(e: CustomEvent<Partial<DupFilter>>) => this.setDupFilter(e.detail)} @dup-page=${(e: CustomEvent<number>) => this.turnDupPage(e.detail)}
        @dup-fix=${(e: CustomEvent<{ cid: number; fix: DupFix }>) => this.dupFix(e.detail.cid, e.detail.fix)}
        @dup-step=${(e: CustomEvent<'undo' | 'redo'>) => this.dupDataset && send({ type: e.detail === 'undo' ? 'dupUndo' : 'dupRedo', dataset: this.dupDataset.root })}
        @dup-find=${() => this.dupDataset && send({ type: 'findDuplicates', dataset: this.dupDataset.root })}></kefer-dups>`;
  }
}
