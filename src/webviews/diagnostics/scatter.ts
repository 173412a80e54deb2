// The embedding scatter pane, linked to the grid: PCA (every record, from the trainer) or UMAP (a
// seeded sample, computed by the curation worker on a worker thread). Drawn on a canvas (300,000 points
// are one pass of fillRect), framed on the 0.5-99.5% range of each axis so a few far points do not squeeze
// the rest into a corner (those beyond are drawn on the edge). Drag a lasso around points: `lasso` with
// their ids (the grid lists exactly them); click a point: `pick-point` with its id; Escape or the clear
// button: `lasso` with null. The selected sample is ringed, points outside a lasso dimmed.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import type { ScatterMethod, ScatterPoint } from '../protocol.js';
import { cssProps } from '../shared/cssProps.js';
import { CLASS_COLORS, themeColor } from '../shared/vscode.js';
import { frameOf, insidePolygon, nearestPoint, toScreen, type Frame } from './scatterGeometry.js';

@customElement('kefer-scatter')
export class ScatterPane extends LitElement {
  static override styles = css`
    :host { display: block; }
    h3 { font-size: 0.95em; margin: 10px 0 4px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
    .muted { opacity: 0.75; font-size: 0.9em; }
    select, button { font: inherit; }
    select { background: var(--vscode-dropdown-background); color: var(--vscode-dropdown-foreground); border: 1px solid var(--vscode-dropdown-border, transparent); }
    button { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); border: none; padding: 2px 8px; cursor: pointer; border-radius: 2px; }
    .plot { position: relative; height: 300px; border: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.3)); cursor: crosshair; touch-action: none; }
    canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
    .legend { display: flex; flex-wrap: wrap; gap: 2px 10px; font-size: 10px; margin-top: 3px; }
    .legend i { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 3px; }
    .busy { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; background: rgba(0,0,0,0.25); font-size: 0.9em; }
  `;

  @property({ attribute: false }) points: ScatterPoint[] = [];
  @property({ attribute: false }) classes: string[] = [];
  @property() method: ScatterMethod = 'pca';
  @property({ attribute: false }) available: ScatterMethod[] = [];
  @property() source = '';
  /** The inspector's sample: ringed. */
  @property() selectedId: string | null = null;
  /** The lasso the grid is filtered to (ids), or null. */
  @property({ attribute: false }) selection: string[] | null = null;
  /** A projection is being computed (UMAP: seconds). */
  @property({ type: Boolean }) busy = false;
  @state() private drawing: [number, number][] | null = null;
  @query('canvas') private canvas!: HTMLCanvasElement;
  private frame: Frame | undefined;
  private ro: ResizeObserver | undefined;
  private down: [number, number] | null = null;

  override disconnectedCallback(): void {
    this.ro?.disconnect();
    super.disconnectedCallback();
  }

  override firstUpdated(): void {
    const plot = this.renderRoot.querySelector('.plot')!;
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(plot);
  }

  override updated(): void {
    this.draw();
  }

  private local(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  private onDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.down = this.local(e);
    this.drawing = [this.down];
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
  }

  private onMove(e: PointerEvent): void {
    if (!this.drawing) return;
    this.drawing = [...this.drawing, this.local(e)];
  }

  private onUp(e: PointerEvent): void {
    const path = this.drawing;
    const start = this.down;
    this.drawing = null;
    this.down = null;
    if (!path || !start || !this.frame) return;
    const end = this.local(e);
    const moved = path.reduce((m, [x, y]) => Math.max(m, Math.hypot(x - start[0], y - start[1])), Math.hypot(end[0] - start[0], end[1] - start[1]));
    if (moved < 5) {
      // a click: the nearest point within 10 px
      const i = nearestPoint(this.points, this.frame, end, 10);
      if (i >= 0) this.dispatchEvent(new CustomEvent('pick-point', { detail: this.points[i].id, bubbles: true, composed: true }));
      return;
    }
    const poly = [...path, end];
    const ids = this.points.filter((p) => insidePolygon(toScreen(p, this.frame!), poly)).map((p) => p.id);
    this.dispatchEvent(new CustomEvent('lasso', { detail: ids, bubbles: true, composed: true }));
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Escape' && this.selection) {
      e.stopPropagation();
      this.dispatchEvent(new CustomEvent('lasso', { detail: null, bubbles: true, composed: true }));
    }
  }

  private draw(): void {
    const c = this.canvas;
    if (!c) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    this.frame = frameOf(this.points, w, h, 8);
    const fg = themeColor('--vscode-foreground', '#ccc');
    const sel = this.selection ? new Set(this.selection) : null;
    const big = this.points.length < 5000;
    // correct predictions first, mistakes over them; outside a lasso faint
    for (const pass of [false, true]) {
      for (const p of this.points) {
        if (p.mistake !== pass) continue;
        const [x, y] = toScreen(p, this.frame);
        ctx.globalAlpha = sel && !sel.has(p.id) ? 0.15 : 0.9;
        ctx.fillStyle = CLASS_COLORS[p.label % 8];
        const r = p.mistake ? (big ? 3 : 2) : big ? 2 : 1;
        ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
        if (p.mistake && big) {
          ctx.strokeStyle = fg;
          ctx.lineWidth = 0.8;
          ctx.strokeRect(x - r - 0.5, y - r - 0.5, 2 * r + 1, 2 * r + 1);
        }
      }
    }
    ctx.globalAlpha = 1;
    const s = this.selectedId !== null ? this.points.find((p) => p.id === this.selectedId) : undefined;
    if (s) {
      const [x, y] = toScreen(s, this.frame);
      ctx.strokeStyle = themeColor('--vscode-focusBorder', '#3794ff');
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(x, y, 8, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(x - 13, y);
      ctx.lineTo(x - 9, y);
      ctx.moveTo(x + 9, y);
      ctx.lineTo(x + 13, y);
      ctx.stroke();
    }
    if (this.drawing && this.drawing.length > 1) {
      ctx.strokeStyle = fg;
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      this.drawing.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  override render(): unknown {
    const counts = new Map<number, number>();
    for (const p of this.points) counts.set(p.label, (counts.get(p.label) ?? 0) + 1);
    return html`<h3>Embedding scatter
        <select id="scatter-method" aria-label="projection" @change=${(e: Event) => this.dispatchEvent(new CustomEvent('method', { detail: (e.target as HTMLSelectElement).value as ScatterMethod, bubbles: true, composed: true }))}>
          <option value="pca" ?selected=${this.method === 'pca'}>PCA</option>
          <option value="umap" ?selected=${this.method === 'umap'} ?disabled=${!this.available.includes('umap')}>UMAP${this.available.includes('umap') ? '' : ' (no embedding sample)'}</option>
        </select>
        ${this.selection ? html`<button id="scatter-clear" @click=${() => this.dispatchEvent(new CustomEvent('lasso', { detail: null, bubbles: true, composed: true }))}>Clear selection (${this.selection.length})</button>` : nothing}
      </h3>
      <div class="muted" id="scatter-source">${this.source}</div>
      <div class="muted">drag a lasso to list those samples in the grid, click a point to show it; outlined = mistakes</div>
      <div class="plot" tabindex="0" aria-label="embedding scatter: drag to select samples" @pointerdown=${(e: PointerEvent) => this.onDown(e)} @pointermove=${(e: PointerEvent) => this.onMove(e)}
        @pointerup=${(e: PointerEvent) => this.onUp(e)} @pointercancel=${() => (this.drawing = null)} @keydown=${(e: KeyboardEvent) => this.onKey(e)}>
        <canvas id="scatter"></canvas>
        ${this.busy ? html`<div class="busy" id="scatter-busy">computing ${this.method.toUpperCase()}…</div>` : nothing}
      </div>
      <div class="legend">${this.classes.map((c, k) => (counts.get(k) ? html`<span title="${counts.get(k)} points"><i ${cssProps({ background: CLASS_COLORS[k % 8] })}></i>${c}</span>` : nothing))}</div>`;
  }
}
