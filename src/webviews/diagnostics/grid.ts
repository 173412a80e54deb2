// Virtualized thumbnail grid: only the visible rows exist in the DOM, and rows are fetched from the
// host in pages as they scroll into view, so 300,000 samples cost what one screen costs.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { GridRow } from '../protocol.js';
import { cssProps } from '../shared/cssProps.js';
import { CLASS_COLORS } from '../shared/vscode.js';

export const PAGE_SIZE = 120;
const CELL = 104;

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
    .cell.sel { border-color: var(--vscode-focusBorder); box-shadow: 0 0 0 1px var(--vscode-focusBorder); }
    .badge { position: absolute; left: 0; right: 0; bottom: 0; border-left: 4px solid transparent; font-size: 10px; line-height: 13px; padding: 0 3px; background: rgba(0,0,0,0.65); color: #fff; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .tag { position: absolute; top: 2px; right: 2px; font-size: 10px; padding: 0 3px; border-radius: 2px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
    .excluded img { opacity: 0.3; }
    .placeholder { opacity: 0.3; }
  `;

  @property({ type: Number }) total = 0;
  @property({ attribute: false }) rowsAt: (i: number) => GridRow | undefined = () => undefined;
  @property({ attribute: false }) classes: string[] = [];
  @property({ type: Number }) selected = 0;
  /** Bumped by the parent when pages arrive, to re-render. */
  @property({ type: Number }) generation = 0;
  @state() private scrollPos = 0;
  @state() private width = 600;
  @state() private height = 400;
  private ro: ResizeObserver | undefined;

  get columns(): number {
    return Math.max(1, Math.floor(this.width / CELL));
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.tabIndex = 0;
    this.setAttribute('role', 'grid');
    this.setAttribute('aria-label', 'Samples');
    this.addEventListener('scroll', () => (this.scrollPos = this.scrollTop));
    this.ro = new ResizeObserver(() => {
      this.width = this.clientWidth;
      this.height = this.clientHeight;
    });
    this.ro.observe(this);
  }

  override disconnectedCallback(): void {
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

  override updated(): void {
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
    for (let i = a; i <= b; i++) {
      const r = this.rowsAt(i);
      const x = (i % cols) * CELL;
      const y = Math.floor(i / cols) * CELL;
      // positions go through the CSSOM (cssProps): a style="" attribute is blocked by the webview CSP
      const pos = cssProps({ left: `${x}px`, top: `${y}px` });
      if (!r) {
        slots[i % slots.length] = html`<div class="cell placeholder" ${pos}></div>`;
        continue;
      }
      const cur = this.classes[r.currentLabel] ?? r.currentLabel;
      const pred = this.classes[r.pred] ?? r.pred;
      slots[i % slots.length] = html`<div class="cell ${i === this.selected ? 'sel' : ''} ${r.excluded ? 'excluded' : ''}" ${pos} data-id=${r.id} data-index=${i} data-label=${r.currentLabel} data-run-label=${r.label} data-pred=${r.pred} data-split=${r.split}
          role="gridcell" aria-selected=${i === this.selected} title="${r.id}: label ${cur}${r.currentLabel !== r.label ? ` (run scored ${this.classes[r.label] ?? r.label})` : ''}, predicted ${pred}, p(label) ${(r.confidence * 100).toFixed(0)}%"
          @click=${() => this.dispatchEvent(new CustomEvent('pick', { detail: i }))}>
        <img src=${r.src} alt="${r.id}" loading="lazy">
        ${r.relabeled || r.excluded || r.unsure ? html`<span class="tag">${r.excluded ? 'excl' : r.unsure ? '?' : 'relabeled'}</span>` : nothing}
        <span class="badge" ${cssProps({ 'border-left-color': CLASS_COLORS[r.currentLabel % 8] })}>${cur} → ${pred}</span>
      </div>`;
    }
    return html`<div class="spacer" ${cssProps({ height: `${Math.ceil(this.total / cols) * CELL}px` })}>${slots}</div>`;
  }
}
