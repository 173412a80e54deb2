// Virtualized thumbnail grid: only the visible rows exist in the DOM, and rows are fetched from the
// host in pages as they scroll into view, so 300,000 samples cost what one screen costs. Images are
// the host's small cached thumbnails, asked for (a `thumbs` event) for what is on screen and, once
// the grid is at rest, its page and the next one; a fast scroll starts no image for a row it passes.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { GridRow, SortKey } from '../protocol.js';
import { cssProps } from '../shared/cssProps.js';
import { CLASS_COLORS } from '../shared/vscode.js';
import { NOTABLE_VOTE_SHARE } from '../../engine/data/ferplusVotes.js';
import { SCORE_TITLES, scoreText } from './signals.js';
import { voteSummary } from './votes.js';

export const PAGE_SIZE = 120;
const CELL = 104;
/** Scrolling faster than this (px/s, about 1.5 screens a second), a row's image waits DWELL_MS. */
const FAST = 1500;
/** How long a row stays in range during a fast scroll before its image loads (and is asked for). */
const DWELL_MS = 100;
/** No scroll event for this long: the grid is at rest, every row in range loads. */
const SETTLE_MS = 100;
/** A scroll event this long after the previous one starts a new motion: a jump lands at rest. */
const MOTION_GAP_MS = 250;

/** A grid row as the grid shows it: the page's row, plus why its thumbnail failed, if it did. */
export type GridCellRow = GridRow & { thumbError?: string };

/** Which pages cover rows [first, last] (inclusive). Exported for tests. */
export function pagesFor(firstItem: number, lastItem: number, pageSize = PAGE_SIZE): number[] {
  const out: number[] = [];
  for (let p = Math.floor(firstItem / pageSize); p <= Math.floor(lastItem / pageSize); p++) out.push(p);
  return out;
}

@customElement('kefer-grid')
export class ThumbGrid extends LitElement {
  static override styles = css`
    :host { display: block; position: relative; overflow-y: auto; outline: none; }
    :host(:focus-visible) { outline: 1px solid var(--vscode-focusBorder); }
    .spacer { position: relative; width: 100%; }
    .cell { position: absolute; width: ${CELL - 6}px; height: ${CELL - 6}px; box-sizing: border-box; border: 2px solid transparent; border-radius: 3px; cursor: pointer; overflow: hidden; background: var(--vscode-editorWidget-background); }
    .cell img { width: 100%; height: 100%; object-fit: cover; image-rendering: pixelated; display: block; }
    .cell img:not([src]) { visibility: hidden; }
    .broken { position: absolute; top: 40%; left: 0; right: 0; text-align: center; font-size: 10px; opacity: 0.8; }
    .cell.sel { border-color: var(--vscode-focusBorder); box-shadow: 0 0 0 1px var(--vscode-focusBorder); }
    /* label -> prediction: the label shrinks (ellipsis) first, the prediction never does */
    .badge { position: absolute; left: 0; right: 0; bottom: 0; display: flex; gap: 2px; border-left: 4px solid transparent; font-size: 10px; line-height: 13px; padding: 0 3px; background: rgba(0,0,0,0.7); color: #fff; white-space: nowrap; }
    .badge .from { flex: 0 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; }
    .badge .arrow { flex: none; opacity: 0.8; }
    .badge .to { flex: none; font-weight: bold; color: #ffcf8a; }
    .badge .ok { flex: none; color: #8fe39a; font-weight: bold; }
    .right .badge { background: rgba(20,70,30,0.75); }
    .tag { position: absolute; top: 2px; right: 2px; font-size: 10px; padding: 0 3px; border-radius: 2px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
    .chip { position: absolute; font-size: 10px; line-height: 12px; padding: 0 3px; border-radius: 2px; background: rgba(0,0,0,0.7); color: #fff; font-variant-numeric: tabular-nums; }
    .score { top: 2px; left: 2px; }
    .votes { right: 2px; bottom: 15px; }
    /* the predicted class got at least 3 of 10 votes (30%): an orange frame and wash, and the vote chip */
    .cell.predvotes { border-color: var(--vscode-charts-orange, orange); }
    .cell.predvotes::after { content: ''; position: absolute; inset: 0; background: rgba(255,150,0,0.16); pointer-events: none; }
    .cell.predvotes .votes { background: #c25e00; }
    .excluded img { opacity: 0.3; }
    .placeholder { opacity: 0.3; }
  `;

  @property({ type: Number }) total = 0;
  @property({ attribute: false }) rowsAt: (i: number) => GridCellRow | undefined = () => undefined;
  @property({ attribute: false }) classes: string[] = [];
  /** The current order: each cell shows its score (signals.ts scoreText). */
  @property() sort: SortKey = 'issue';
  @property({ type: Number }) selected = 0;
  /** Bumped by the parent when pages arrive, to re-render. */
  @property({ type: Number }) generation = 0;
  @state() private scrollPos = 0;
  @state() private width = 600;
  @state() private height = 400;
  private ro: ResizeObserver | undefined;
  private lastScrollAt = -Infinity;
  private lastTop = 0;
  /** px/s between the last two scroll events of one motion (0 after a jump). */
  private speed = 0;
  /** +1 scrolling down, -1 up: which page is "ahead". */
  private direction = 1;
  /** Item index -> when it entered the range; and the items whose image may load (while in range). */
  private entered = new Map<number, number>();
  private shown = new Set<number>();
  private range: [number, number] = [0, -1];
  /** Thumbnails to ask the host for after this render, most wanted first; the first `urgent` are in range. */
  private want: string[] = [];
  private urgent = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  get columns(): number {
    return Math.max(1, Math.floor(this.width / CELL));
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.tabIndex = 0;
    this.setAttribute('role', 'grid');
    this.setAttribute('aria-label', 'Samples');
    this.addEventListener('scroll', () => this.onScroll());
    this.ro = new ResizeObserver(() => {
      this.width = this.clientWidth;
      this.height = this.clientHeight;
    });
    this.ro.observe(this);
  }

  private onScroll(): void {
    const now = performance.now();
    const top = this.scrollTop;
    const dt = now - this.lastScrollAt;
    this.speed = dt > 0 && dt < MOTION_GAP_MS ? (Math.abs(top - this.lastTop) / dt) * 1000 : 0;
    if (top !== this.lastTop) this.direction = top > this.lastTop ? 1 : -1;
    this.lastScrollAt = now;
    this.lastTop = top;
    this.scrollPos = top;
  }

  override disconnectedCallback(): void {
    clearTimeout(this.timer);
    this.ro?.disconnect();
    super.disconnectedCallback();
  }

  /** Visible item range (with one row of margin), for the parent to fetch pages. */
  visibleRange(): [number, number] {
    const cols = this.columns;
    const firstRow = Math.max(0, Math.floor(this.scrollPos / CELL) - 1);
    const lastRow = Math.ceil((this.scrollPos + this.height) / CELL) + 1;
    return [firstRow * cols, Math.min(this.total - 1, (lastRow + 1) * cols - 1)];
  }

  scrollToItem(i: number): void {
    const row = Math.floor(i / this.columns);
    const top = row * CELL;
    if (top < this.scrollTop) this.scrollTop = top;
    else if (top + CELL > this.scrollTop + this.height) this.scrollTop = top + CELL - this.height;
  }

  override willUpdate(): void {
    const [a, b] = this.visibleRange();
    if (a === this.range[0] && b === this.range[1]) return;
    // Cells leaving the range are removed by this render; dropping their src first stops their
    // download (a fast scroll would otherwise leave a backlog that delays the next screen's images).
    for (const img of this.renderRoot.querySelectorAll<HTMLImageElement>('.cell img[src]')) {
      const i = Number((img.parentElement as HTMLElement).dataset.index);
      if (i < a || i > b) img.removeAttribute('src');
    }
    this.range = [a, b];
  }

  override updated(): void {
    if (this.want.length) this.dispatchEvent(new CustomEvent('thumbs', { detail: { ids: this.want, urgent: this.urgent } }));
    const [a, b] = this.visibleRange();
    this.dispatchEvent(new CustomEvent('range', { detail: [a, b] }));
    // Then a page beyond each edge, so rows arrive before they scroll into view. Visible pages are
    // asked for first: the curation worker answers in order.
    if (b >= a) this.dispatchEvent(new CustomEvent('range', { detail: [Math.max(0, a - PAGE_SIZE), Math.min(this.total - 1, b + PAGE_SIZE)] }));
  }

  override render(): unknown {
    const cols = this.columns;
    const [a, b] = this.visibleRange();
    // Item i always renders in slot i % slots.length, so a cell keeps its element, and its <img> its
    // src, while it stays in range. Filling cells in range order gave every cell a new item at each
    // row scrolled: thumbnails restarted loading and barely showed while scrolling (bench:ui).
    // lit's repeat() keeps cells too, but left empty comment nodes behind as rows scrolled.
    const slots: unknown[] = new Array((Math.ceil(this.height / CELL) + 4) * cols).fill(nothing);
    // A row's image loads at once when the grid is slow or at rest, else once the row has stayed in
    // range DWELL_MS: rows a fast scroll passes start no download (bench:ui: at 3000 px/s they
    // piled up behind the screen the user stopped at).
    const now = performance.now();
    const moving = this.speed > FAST && now - this.lastScrollAt < SETTLE_MS;
    for (const i of this.entered.keys()) {
      if (i < a || i > b) {
        this.entered.delete(i);
        this.shown.delete(i);
      }
    }
    let wake = moving ? this.lastScrollAt + SETTLE_MS : Infinity;
    const want: string[] = [];
    for (let i = a; i <= b; i++) {
      const r = this.rowsAt(i);
      let since = this.entered.get(i);
      if (since === undefined) this.entered.set(i, (since = now));
      if (!this.shown.has(i)) {
        if (!moving || now - since >= DWELL_MS) this.shown.add(i);
        else wake = Math.min(wake, since + DWELL_MS);
      }
      const show = this.shown.has(i);
      if (r && show && r.thumb === null && !r.thumbError) want.push(r.id);
      const x = (i % cols) * CELL;
      const y = Math.floor(i / cols) * CELL;
      // positions go through the CSSOM (cssProps): a style="" attribute is blocked by the webview CSP
      const pos = cssProps({ left: `${x}px`, top: `${y}px` });
      if (!r) {
        slots[i % slots.length] = html`<div class="cell placeholder" ${pos}></div>`;
        continue;
      }
      const cur = String(this.classes[r.currentLabel] ?? r.currentLabel);
      const pred = String(this.classes[r.pred] ?? r.pred);
      const votes = r.votes ? voteSummary(r.votes, r.currentLabel, this.classes) : undefined;
      const predVotes = votes && r.votes ? (r.votes[r.pred] ?? 0) : 0;
      const tint = !!votes && votes.total > 0 && r.pred !== r.currentLabel && predVotes >= NOTABLE_VOTE_SHARE * votes.total;
      const right = r.pred === r.currentLabel;
      const score = scoreText(this.sort, r);
      const voteText = votes && votes.total > 0 ? `${votes.labelVotes}/${votes.total}` : '';
      slots[i % slots.length] = html`<div class="cell ${i === this.selected ? 'sel' : ''} ${r.excluded ? 'excluded' : ''} ${right ? 'right' : 'wrong'} ${tint ? 'predvotes' : ''}" ${pos} data-id=${r.id} data-index=${i} data-label=${r.currentLabel} data-run-label=${r.label} data-pred=${r.pred} data-split=${r.split}
          role="gridcell" aria-selected=${i === this.selected} title="${r.id}: label ${cur}${r.currentLabel !== r.label ? ` (run scored ${this.classes[r.label] ?? r.label})` : ''}, predicted ${pred}${right ? ' (right)' : ''}, p(label) ${(r.confidence * 100).toFixed(0)}%${score ? `; ${SCORE_TITLES[this.sort]}: ${score}` : ''}${votes ? `; votes ${votes.text}${votes.disagrees ? ' (label disagrees with the votes)' : ''}${tint ? `; ${predVotes} of ${votes.total} annotators chose the prediction ${pred}` : ''}` : ''}${r.thumbError ? `; ${r.thumbError}` : ''}"
          @click=${() => this.dispatchEvent(new CustomEvent('pick', { detail: i }))}>
        <img src=${(show && r.thumb) || nothing} alt="${r.id}" decoding="async">
        ${r.thumbError ? html`<span class="broken">unreadable</span>` : nothing}
        ${score ? html`<span class="chip score">${score}</span>` : nothing}
        ${voteText ? html`<span class="chip votes">${voteText}</span>` : nothing}
        ${r.relabeled || r.excluded || r.unsure || r.confirmed ? html`<span class="tag">${r.excluded ? 'excl' : r.unsure ? '?' : r.relabeled ? 'relabeled' : '✓'}</span>` : nothing}
        <span class="badge" ${cssProps({ 'border-left-color': CLASS_COLORS[r.currentLabel % 8] })}>${right
          ? html`<span class="from">${cur}</span><span class="ok">✓</span>`
          : html`<span class="from">${cur}</span><span class="arrow">→</span><span class="to">${pred}</span>`}</span>
      </div>`;
    }
    this.urgent = want.length;
    if (!moving) this.ahead(a, b, want);
    this.want = want;
    clearTimeout(this.timer);
    if (wake < Infinity) this.timer = setTimeout(() => this.requestUpdate(), Math.max(0, wake - now) + 1);
    return html`<div class="spacer" ${cssProps({ height: `${Math.ceil(this.total / cols) * CELL}px` })}>${slots}</div>`;
  }

  /** At rest: also the thumbnails of the pages in view and the next page, so scrolling on finds them made. */
  private ahead(a: number, b: number, want: string[]): void {
    let lo = Math.floor(a / PAGE_SIZE) * PAGE_SIZE;
    let hi = (Math.floor(b / PAGE_SIZE) + 1) * PAGE_SIZE - 1;
    if (this.direction > 0) hi += PAGE_SIZE;
    else lo -= PAGE_SIZE;
    for (let i = Math.max(0, lo); i <= Math.min(this.total - 1, hi); i++) {
      if (i >= a && i <= b) continue;
      const r = this.rowsAt(i);
      if (r && r.thumb === null && !r.thumbError) want.push(r.id);
    }
  }
}
