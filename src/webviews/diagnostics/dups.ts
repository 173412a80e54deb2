// The "Duplicates & Leaks" pane: the stored duplicate scan of a dataset (kefer data dups, "KE-FER: Find
// Duplicates") as rows of thumbnails, one row per cluster, largest first, each member with its label,
// split and similarity, leaked copies and excluded images marked. Filters by tier, leak kind and
// conflicting labels; pages of DUP_PAGE_SIZE clusters (the store's keyset pages). Keyboard (dupKeys.ts):
// K keeps one image of the cluster, X excludes its leaked copies, digits relabel it, U / R undo / redo;
// each fix is one overlay action. The panel (app.ts) owns the messages: this element raises events.
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { DUP_LEAK_KINDS, type DupClusterView, type DupDataset, type DupFilter, type DupFix, type DupLeakKind, type DupPageView, type DupScanView, type DupTier } from '../protocol.js';
import { dupKeyAction, moveIndex } from './dupKeys.js';

/** Members shown in a cluster's row before "+N more". */
const SHOWN = 12;
const fmt = (n: number): string => n.toLocaleString('en-US');

@customElement('kefer-dups')
export class DupsPane extends LitElement {
  static override styles = css`
    :host { display: block; }
    h3 { font-size: 0.95em; margin: 4px 0; }
    .muted { opacity: 0.75; font-size: 0.9em; }
    .bar { display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center; margin: 4px 0; }
    select, button { font: inherit; }
    select { background: var(--vscode-dropdown-background); color: var(--vscode-dropdown-foreground); border: 1px solid var(--vscode-dropdown-border, transparent); }
    button { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); border: none; padding: 2px 8px; cursor: pointer; border-radius: 2px; }
    button.primary { background: var(--vscode-button-background); color: var(--vscode-button-foreground); }
    button:disabled { opacity: 0.45; cursor: default; }
    select:focus-visible, button:focus-visible, input:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
    .list { display: flex; flex-direction: column; gap: 4px; outline: none; }
    .cluster { border: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.35)); border-radius: 3px; padding: 3px 4px; cursor: pointer; }
    .cluster.sel { border-color: var(--vscode-focusBorder); box-shadow: 0 0 0 1px var(--vscode-focusBorder); }
    .cluster:focus { outline: none; }
    .cluster:focus-visible { outline: 2px solid var(--vscode-focusBorder); outline-offset: 1px; }
    .chead { display: flex; flex-wrap: wrap; gap: 2px 6px; font-size: 11px; align-items: center; }
    .tag { font-size: 10px; padding: 0 4px; border-radius: 2px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
    .tag.leak { background: var(--vscode-inputValidation-errorBackground, #5a1d1d); color: var(--vscode-errorForeground, #f48771); border: 1px solid var(--vscode-inputValidation-errorBorder, #be1100); }
    .tag.conflict { background: var(--vscode-inputValidation-warningBackground, #352a05); color: var(--vscode-editorWarning-foreground, #cca700); }
    .members { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 3px; }
    figure { margin: 0; width: 62px; font-size: 10px; line-height: 12px; text-align: center; position: relative; }
    figure img { width: 58px; height: 58px; object-fit: cover; image-rendering: pixelated; display: block; margin: 0 auto; border: 2px solid transparent; border-radius: 2px; background: var(--vscode-editorWidget-background); }
    figure img:not([src]) { visibility: hidden; }
    figure.leaked img { border-color: var(--vscode-errorForeground, #f48771); }
    figure.msel img { border-color: var(--vscode-focusBorder); box-shadow: 0 0 0 1px var(--vscode-focusBorder); }
    figure.excluded img { opacity: 0.3; }
    figure .cap { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    figure .split-test { color: var(--vscode-errorForeground, #f48771); }
    figure .split-valid, figure .split-val { color: var(--vscode-editorWarning-foreground, #cca700); }
    figure .x { position: absolute; top: 2px; left: 4px; font-size: 9px; padding: 0 2px; background: rgba(0,0,0,0.7); color: #fff; border-radius: 2px; }
    .more { align-self: center; font-size: 11px; opacity: 0.8; }
    .keys { font-size: 11px; opacity: 0.75; margin-top: 6px; }
    .status { font-size: 0.9em; margin: 4px 0; min-height: 1.2em; }
  `;

  @property({ attribute: false }) source: DupDataset | null = null;
  @property({ attribute: false }) scan: DupScanView | null = null;
  @property({ attribute: false }) filter: DupFilter = { tier: 'near', leak: null, conflicting: false };
  @property({ attribute: false }) page: DupPageView | undefined;
  /** 0-based number of the page shown (the panel keeps the keyset cursors). */
  @property({ type: Number }) pageIndex = 0;
  @property({ type: Boolean }) busy = false;
  @property() status = '';
  /** Bumped by the panel when thumbnails arrive. */
  @property({ type: Number }) generation = 0;
  /** The focused cluster (index in the page) and member (index in the cluster; -1: none). */
  @state() private at = 0;
  @state() private member = -1;
  /** Clusters whose members are all shown ("+N more" opened). */
  @state() private opened = new Set<number>();
  private lastCid: number | undefined;

  private get rows(): DupClusterView[] {
    return this.page?.rows ?? [];
  }

  private get classes(): string[] {
    return this.source?.classes ?? [];
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (!changed.has('page')) return;
    // a page listed again (after a fix) keeps its focus; another page starts at its first cluster
    const same = this.rows.findIndex((r) => r.cid === this.lastCid);
    if (same >= 0) this.at = same;
    else {
      this.at = 0;
      this.member = -1;
    }
    this.lastCid = this.rows[this.at]?.cid;
  }

  private emit(name: string, detail?: unknown): void {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  /** Scrolls the view into sight and gives the keyboard to its focused cluster (after Find Duplicates). */
  async focusList(): Promise<void> {
    await this.updateComplete;
    this.scrollIntoView({ block: 'start' });
    const el = this.renderRoot.querySelector<HTMLElement>(`.cluster[data-index="${this.at}"]`) ?? this.renderRoot.querySelector<HTMLElement>('#dups-list');
    el?.focus();
  }

  private async focusCluster(i: number): Promise<void> {
    if (i !== this.at) this.member = -1;
    this.at = i;
    this.lastCid = this.rows[i]?.cid;
    await this.updateComplete;
    const el = this.renderRoot.querySelector<HTMLElement>(`.cluster[data-index="${i}"]`);
    el?.focus();
    el?.scrollIntoView({ block: 'nearest' });
  }

  private fix(fix: DupFix): void {
    const c = this.rows[this.at];
    if (!c) return;
    this.emit('dup-fix', { cid: c.cid, fix });
  }

  private keepOne(): void {
    const c = this.rows[this.at];
    const m = c && this.member >= 0 ? c.members[this.member] : undefined;
    this.fix(m ? { kind: 'keepOne', keep: m.id } : { kind: 'keepOne' });
  }

  private onKey(e: KeyboardEvent): void {
    const t = e.composedPath()[0] as HTMLElement | undefined;
    if (t && (t.tagName === 'SELECT' || t.tagName === 'INPUT' || t.tagName === 'BUTTON')) return;
    const a = dupKeyAction(e.key, this.classes.length, e);
    if (!a) return;
    // the panel's own keys (the grid's relabel, X, U, ←/→) must not act on the grid's sample too
    e.preventDefault();
    e.stopPropagation();
    const c = this.rows[this.at];
    switch (a.kind) {
      case 'cluster': {
        const i = moveIndex(this.at, a.delta, this.rows.length);
        if (i >= 0) void this.focusCluster(i);
        break;
      }
      case 'member':
        if (c) {
          this.member = moveIndex(this.member, a.delta, c.members.length);
          // a member beyond the shown ones opens the row
          if (this.member >= SHOWN) this.opened = new Set([...this.opened, c.cid]);
        }
        break;
      case 'clearMember':
        this.member = -1;
        break;
      case 'page':
        this.turn(a.delta);
        break;
      case 'keepOne':
        this.keepOne();
        break;
      case 'excludeLeaks':
        this.fix({ kind: 'excludeLeaks' });
        break;
      case 'relabel':
        this.fix({ kind: 'relabel', label: a.label });
        break;
      case 'undo':
      case 'redo':
        this.emit('dup-step', a.kind);
        break;
    }
  }

  private turn(delta: 1 | -1): void {
    if (delta > 0 && !this.page?.next) return;
    if (delta < 0 && this.pageIndex === 0) return;
    this.emit('dup-page', delta);
  }

  private tierSummary() {
    return this.scan?.tiers.find((t) => t.tier === this.filter.tier);
  }

  override render(): unknown {
    const d = this.source;
    if (!d) {
      return html`<h3 id="dups-title">Duplicates &amp; Leaks</h3><div class="muted" id="dups-empty">Run <b>KE-FER: Find Duplicates</b> to look for copies and split leaks in a dataset.</div>`;
    }
    if (!this.scan) {
      return html`<h3 id="dups-title">Duplicates &amp; Leaks <span class="muted">${d.name}</span></h3>
        <div class="muted" id="dups-empty">No duplicate scan of ${d.name} yet.</div>
        <button class="primary" id="dups-find" @click=${() => this.emit('dup-find')}>Find Duplicates</button>`;
    }
    const t = this.tierSummary();
    const f = this.filter;
    const leakCount = (k: DupLeakKind | 'any'): string => {
      if (!t) return '';
      return k === 'any' ? '' : ` (${fmt(t.leaks[k].clusters)})`;
    };
    const total = this.page?.total ?? 0;
    const first = this.pageIndex * (this.page?.query.limit ?? 0);
    const c = this.rows[this.at];
    return html`
      <h3 id="dups-title">Duplicates &amp; Leaks <span class="muted">${d.name} · scan of ${new Date(this.scan.created).toLocaleString()}</span></h3>
      <div class="bar">
        <label>tier <select id="dups-tier" @change=${(e: Event) => this.emit('dup-filter', { tier: (e.target as HTMLSelectElement).value as DupTier })}>
          ${this.scan.tiers.map((x) => html`<option value=${x.tier} ?selected=${x.tier === f.tier}>${x.tier} (${fmt(x.clusters)})</option>`)}</select></label>
        <label>leak <select id="dups-leak" @change=${(e: Event) => { const v = (e.target as HTMLSelectElement).value; this.emit('dup-filter', { leak: v === '' ? null : v }); }}>
          <option value="" ?selected=${f.leak === null}>every cluster</option>
          <option value="any" ?selected=${f.leak === 'any'}>any leak</option>
          ${DUP_LEAK_KINDS.map((k) => html`<option value=${k} ?selected=${f.leak === k}>${k}${leakCount(k)}</option>`)}</select></label>
        <label title="members carried different labels when the scan ran"><input type="checkbox" id="dups-conflict" .checked=${f.conflicting}
          @change=${(e: Event) => this.emit('dup-filter', { conflicting: (e.target as HTMLInputElement).checked })}> conflicting labels${t ? ` (${fmt(t.conflicts)})` : ''}</label>
      </div>
      ${t ? html`<div class="muted" id="dups-tier-info" title=${t.how}>${t.tier === 'exact' ? 'identical decoded pixels' : `threshold ${t.threshold}`} · ${fmt(t.images)} images in ${fmt(t.clusters)} clusters · ${fmt(t.leakedCopies)} leaked cop${t.leakedCopies === 1 ? 'y' : 'ies'}${t.tier === 'exact' ? '' : html` · <span class="muted">${t.how.split(':')[0]}</span>`}</div>` : nothing}
      <div class="bar">
        <span id="dups-count" data-total=${total}>${total ? `clusters ${fmt(first + 1)}–${fmt(first + this.rows.length)} of ${fmt(total)}` : this.busy ? 'loading…' : 'no cluster'}</span>
        <button id="dups-prev" ?disabled=${this.pageIndex === 0 || this.busy} @click=${() => this.turn(-1)} title="Previous page (PageUp)">‹ Prev</button>
        <button id="dups-next" ?disabled=${!this.page?.next || this.busy} @click=${() => this.turn(1)} title="Next page (PageDown)">Next ›</button>
        <button id="dups-keep" ?disabled=${!c} @click=${() => this.keepOne()} title="Keep one image of the selected cluster (the selected member, else the earliest split's), exclude the others: K">Keep one</button>
        <button id="dups-exclude" ?disabled=${!c || !c.members.some((m) => m.leaked && !m.excluded)} @click=${() => this.fix({ kind: 'excludeLeaks' })} title="Exclude the selected cluster's leaked copies: X">Exclude leaked</button>
        <button id="dups-undo" @click=${() => this.emit('dup-step', 'undo')} title="Undo the last action: U">Undo</button>
      </div>
      <div class="list" id="dups-list" role="listbox" aria-label="duplicate clusters, largest first" @keydown=${(e: KeyboardEvent) => this.onKey(e)}>
        ${this.rows.map((r, i) => this.renderCluster(r, i))}
      </div>
      <div class="status" id="dups-status" role="status">${this.status}</div>
      <div class="keys">Keys: ↑/↓ cluster · ←/→ member · K keep one (the selected member, else the earliest split's) · X exclude the leaked copies · 1–${this.classes.length || 8} relabel the cluster · U undo · R redo · PageDown/PageUp page</div>`;
  }

  private renderCluster(r: DupClusterView, i: number): unknown {
    const sel = i === this.at;
    const all = this.opened.has(r.cid) || r.members.length <= SHOWN;
    const shown = all ? r.members : r.members.slice(0, SHOWN);
    const cls = (k: number): string => this.classes[k] ?? String(k);
    const labels = new Set(r.members.map((m) => m.label));
    return html`<div class="cluster ${sel ? 'sel' : ''}" role="option" tabindex=${sel ? 0 : -1} aria-selected=${sel ? 'true' : 'false'}
        data-index=${i} data-cid=${r.cid} data-size=${r.size} data-leaks=${r.leaks.join(',')} data-conflict=${r.conflict ? 'true' : 'false'}
        aria-label="cluster ${r.cid}: ${r.size} images${r.leaks.length ? `, leaks ${r.leaks.join(', ')}` : ''}${labels.size > 1 ? ', labels differ' : ''}"
        @click=${() => void this.focusCluster(i)}>
      <div class="chead"><b>#${r.cid}</b><span>${r.size} images</span><span class="muted">similarity ≥ ${r.score.toFixed(3)}</span>
        ${r.leaks.map((k) => html`<span class="tag leak">leak ${k}</span>`)}${labels.size > 1 ? html`<span class="tag conflict" title="the members' labels now">labels ${[...labels].map(cls).join(' / ')}</span>` : r.conflict ? html`<span class="tag conflict" title="at scan time">conflict (at scan)</span>` : nothing}</div>
      <div class="members">
        ${shown.map((m, j) => html`<figure class="${m.leaked ? 'leaked' : ''} ${m.excluded ? 'excluded' : ''} ${sel && j === this.member ? 'msel' : ''}"
            data-id=${m.id} data-split=${m.split} data-label=${m.label} data-excluded=${m.excluded ? 'true' : 'false'} data-leaked=${m.leaked ? 'true' : 'false'} data-score=${m.score ?? ''}
            title="${m.id}: ${cls(m.label)}${m.label !== m.origLabel ? ` (was ${cls(m.origLabel)})` : ''}, ${m.split}${m.score === null ? '' : `, similarity ${m.score.toFixed(3)}`}${m.leaked ? ' — a leaked copy' : ''}${m.excluded ? ' — excluded' : ''}"
            @click=${(e: Event) => { e.stopPropagation(); void this.focusCluster(i).then(() => (this.member = j)); }}>
          <img src=${m.thumb ?? nothing} alt=${m.id} loading="lazy">
          ${m.excluded ? html`<span class="x">excluded</span>` : nothing}
          <div class="cap">${cls(m.label)}${m.label !== m.origLabel ? '*' : ''}</div>
          <div class="cap split-${m.split}">${m.split}${m.score === null ? '' : ` · ${m.score.toFixed(2)}`}</div>
        </figure>`)}
        ${all ? nothing : html`<button class="more" @click=${(e: Event) => { e.stopPropagation(); this.opened = new Set([...this.opened, r.cid]); }}>+${r.members.length - SHOWN} more</button>`}
      </div>
    </div>`;
  }
}
