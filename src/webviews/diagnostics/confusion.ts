// The confusion heat map pane: row-normalised percentages (each true class's row sums to 100%, so a
// rare class reads as clearly as a common one), counts in the tooltip and the ARIA name, full class
// names on the row headers and (rotated) on the columns, small classes marked. A click or Enter drills
// the grid into a cell (`pick-cell`), Escape clears it (`clear-cell`); keyboard model: matrixKeys.ts
// (WAI-ARIA grid, roving tabindex).
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { LabelBasis } from '../protocol.js';
import { cssProps } from '../shared/cssProps.js';
import { matrixCellLabel, matrixKeyAction, rowShareText, type MatrixCell } from './matrixKeys.js';

@customElement('kefer-confusion')
export class ConfusionPane extends LitElement {
  static override styles = css`
    :host { display: block; }
    h3 { font-size: 0.95em; margin: 4px 0; }
    .muted { opacity: 0.75; font-size: 0.9em; }
    select { font: inherit; background: var(--vscode-dropdown-background); color: var(--vscode-dropdown-foreground); border: 1px solid var(--vscode-dropdown-border, transparent); }
    select:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
    .wrap { overflow-x: auto; }
    table.cm { border-collapse: collapse; font-size: 11px; margin-top: 4px; }
    table.cm th { font-weight: normal; opacity: 0.85; padding: 0 4px; }
    table.cm th.row { text-align: right; white-space: nowrap; max-width: 110px; overflow: hidden; text-overflow: ellipsis; }
    table.cm th.col { height: 78px; vertical-align: bottom; width: 40px; max-width: 40px; }
    table.cm th.col span { display: inline-block; writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; max-height: 76px; overflow: hidden; text-overflow: ellipsis; }
    table.cm td { width: 40px; min-width: 40px; height: 30px; text-align: center; padding: 0; cursor: pointer; border: 1px solid var(--vscode-editor-background); position: relative; font-variant-numeric: tabular-nums; }
    table.cm td .n { display: block; font-size: 9px; opacity: 0.7; line-height: 9px; }
    /* the drill-down cell: a bold inset frame in the text colour; keyboard focus: the theme's focus ring on top */
    table.cm td.active { box-shadow: inset 0 0 0 2px var(--vscode-foreground); font-weight: bold; }
    table.cm td:focus { outline: none; }
    table.cm td:focus-visible { outline: 2px solid var(--vscode-focusBorder); outline-offset: 1px; z-index: 1; }
    .small { color: var(--vscode-editorWarning-foreground, orange); }
  `;

  @property({ attribute: false }) matrix: number[][] = [];
  @property({ attribute: false }) classes: string[] = [];
  @property({ attribute: false }) active: MatrixCell | null = null;
  @property() basis: LabelBasis = 'run';
  /** Classes with fewer samples than a class reference needs (RunOverview.smallClasses). */
  @property({ attribute: false }) smallClasses: number[] = [];
  /** The cell in the tab order (roving tabindex); keyboard moves start from it. */
  @state() private focusCell: MatrixCell = { row: 0, col: 0 };

  private cls(i: number): string {
    return this.classes[i] ?? String(i);
  }

  /** Arrow keys / Home / End / PageUp / PageDown move the focused cell, Enter / Space drill into it, Escape clears the drill-down. */
  private onKey(e: KeyboardEvent): void {
    const n = this.matrix.length;
    const a = matrixKeyAction(e.key, this.focusCell, n, n, e);
    if (!a) return;
    if (a.kind === 'clear') {
      if (this.active === null) return; // nothing to clear: Escape stays the workbench's
      this.dispatchEvent(new CustomEvent('clear-cell', { bubbles: true, composed: true }));
    } else if (a.kind === 'activate') this.pick(a.cell.row, a.cell.col);
    else void this.focusAt(a.cell);
    // the panel's window-level keys (←/→ move the sample selection) must not act too; Space would scroll
    e.preventDefault();
    e.stopPropagation();
  }

  /** Keeps the roving position where focus is (a click, or Tab back into the matrix). */
  private onFocus(e: FocusEvent): void {
    const td = (e.target as HTMLElement).closest?.('td[data-true]');
    if (!td) return;
    const row = Number(td.getAttribute('data-true'));
    const col = Number(td.getAttribute('data-pred'));
    if (row !== this.focusCell.row || col !== this.focusCell.col) this.focusCell = { row, col };
  }

  private async focusAt(cell: MatrixCell): Promise<void> {
    this.focusCell = cell;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(`#confusion td[data-true="${cell.row}"][data-pred="${cell.col}"]`)?.focus();
  }

  private pick(row: number, col: number): void {
    this.dispatchEvent(new CustomEvent('pick-cell', { detail: { row, col }, bubbles: true, composed: true }));
  }

  override render(): unknown {
    if (!this.matrix.length) return html`<h3 id="confusion-title">Confusion matrix</h3><div class="muted">no records</div>`;
    const n = this.matrix.length;
    const totals = this.matrix.map((row) => row.reduce((a, b) => a + b, 0));
    // roving tabindex: exactly one cell is in the tab order (the last focused one, clamped)
    const fr = Math.min(this.focusCell.row, n - 1);
    const fc = Math.min(this.focusCell.col, n - 1);
    const small = new Set(this.smallClasses);
    return html`<h3 id="confusion-title">Confusion matrix <span class="muted">(rows: label, each row 100%; columns: prediction — click a cell or press Enter to list it, Esc to clear)</span></h3>
      <label class="muted">labels <select id="basis" @change=${(e: Event) => this.dispatchEvent(new CustomEvent('basis', { detail: (e.target as HTMLSelectElement).value as LabelBasis, bubbles: true, composed: true }))}>
        <option value="run" ?selected=${this.basis === 'run'}>as trained (run metrics)</option>
        <option value="effective" ?selected=${this.basis === 'effective'}>corrected (relabels applied)</option></select></label>
      <div class="wrap"><table class="cm" id="confusion" role="grid" aria-labelledby="confusion-title" @keydown=${(e: KeyboardEvent) => this.onKey(e)} @focusin=${(e: FocusEvent) => this.onFocus(e)}>
        <tr role="row"><th role="columnheader" aria-label="true label by predicted class"></th>${this.classes.slice(0, n).map((c) => html`<th role="columnheader" class="col" title="predicted ${c}" aria-label="predicted ${c}"><span>${c}</span></th>`)}</tr>
        ${this.matrix.map((row, i) => html`<tr role="row"><th role="rowheader" class="row ${small.has(i) ? 'small' : ''}" title="true ${this.cls(i)}: ${totals[i]} samples${small.has(i) ? ' — a small class: its statistics say little' : ''}" aria-label="true ${this.cls(i)}">${this.cls(i)}${small.has(i) ? ' ⚠' : ''}</th>${row.map((v, j) => {
          const share = totals[i] ? v / totals[i] : 0;
          const bg = i === j ? `rgba(80,160,90,${0.12 + 0.88 * share})` : `rgba(220,80,70,${v ? 0.12 + 0.88 * share : 0})`;
          const active = this.active !== null && this.active.row === i && this.active.col === j;
          // the heat colour goes through the CSSOM (cssProps): a style="" attribute is blocked by the CSP
          return html`<td role="gridcell" class=${active ? 'active' : ''} ${cssProps({ 'background-color': bg })} tabindex=${i === fr && j === fc ? 0 : -1}
            aria-selected=${active ? 'true' : 'false'} aria-label=${matrixCellLabel(this.cls(i), this.cls(j), v, totals[i])} data-true=${i} data-pred=${j} data-count=${v}
            title="true ${this.cls(i)} predicted as ${this.cls(j)}: ${v} of ${totals[i]} (${rowShareText(v, totals[i])})" @click=${() => this.pick(i, j)}>${rowShareText(v, totals[i])}${v ? html`<span class="n">${v}</span>` : nothing}</td>`;
        })}</tr>`)}
      </table></div>`;
  }
}
