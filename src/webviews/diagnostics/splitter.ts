// A vertical separator between two panes of the diagnostics panel: drag it (pointer capture) or focus
// it and press ←/→ (Shift: larger steps) to move it. It only reports the movement (`resize`, detail:
// pixels, positive = rightwards); the layout owns the widths.
import { LitElement, css } from 'lit';
import { customElement, property } from 'lit/decorators.js';

@customElement('kefer-splitter')
export class Splitter extends LitElement {
  static override styles = css`
    :host { flex: 0 0 5px; cursor: col-resize; background: var(--vscode-panel-border, rgba(128,128,128,0.35)); touch-action: none; outline: none; }
    :host(:hover), :host(.dragging) { background: var(--vscode-sash-hoverBorder, var(--vscode-focusBorder)); }
    :host(:focus-visible) { background: var(--vscode-focusBorder); }
  `;

  /** What the separator resizes, for screen readers ("Resize the inspector"). */
  @property() label = 'Resize';
  private lastX: number | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    this.tabIndex = 0;
    this.setAttribute('role', 'separator');
    this.setAttribute('aria-orientation', 'vertical');
    this.setAttribute('aria-label', this.label);
    this.addEventListener('pointerdown', (e) => {
      this.lastX = e.clientX;
      this.setPointerCapture(e.pointerId);
      this.classList.add('dragging');
      e.preventDefault();
    });
    this.addEventListener('pointermove', (e) => {
      if (this.lastX === null) return;
      const dx = e.clientX - this.lastX;
      if (dx === 0) return;
      this.lastX = e.clientX;
      this.emit(dx);
    });
    const end = (e: PointerEvent): void => {
      if (this.lastX === null) return;
      this.lastX = null;
      this.classList.remove('dragging');
      if (this.hasPointerCapture(e.pointerId)) this.releasePointerCapture(e.pointerId);
      this.dispatchEvent(new CustomEvent('resize-end'));
    };
    this.addEventListener('pointerup', end);
    this.addEventListener('pointercancel', end);
    this.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
      // the panel's own ←/→ move the sample selection: not while the separator has focus
      e.preventDefault();
      e.stopPropagation();
      this.emit((e.key === 'ArrowLeft' ? -1 : 1) * (e.shiftKey ? 64 : 16));
      this.dispatchEvent(new CustomEvent('resize-end'));
    });
  }

  private emit(dx: number): void {
    this.dispatchEvent(new CustomEvent('resize', { detail: dx }));
  }

  override updated(): void {
    this.setAttribute('aria-label', this.label);
  }
}

/** A pane's new width after its separator moved by dx (the pane right of it: moving right shrinks it), kept within [min, max]. */
export function paneWidth(width: number, dx: number, min: number, max: number, paneIsRightOfSeparator = true): number {
  const w = paneIsRightOfSeparator ? width - dx : width + dx;
  return Math.round(Math.min(Math.max(w, min), Math.max(min, max)));
}
