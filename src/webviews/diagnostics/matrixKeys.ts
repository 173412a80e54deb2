// Keyboard model of the confusion-matrix heat map (WAI-ARIA grid pattern), kept free of the DOM so
// unit tests can check it: arrows move one cell, Home/End go to the row's ends (with Ctrl: the
// matrix's), PageUp/PageDown to the column's ends, Enter/Space filter the grid to the cell (like a
// click), Escape clears the cell filter.

export interface MatrixCell {
  /** True (label) class: the row. */
  row: number;
  /** Predicted class: the column. */
  col: number;
}

export type MatrixKeyAction = { kind: 'move'; cell: MatrixCell } | { kind: 'activate'; cell: MatrixCell } | { kind: 'clear' };

export interface MatrixKeyMods {
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  shiftKey?: boolean;
}

/**
 * What `key` does with focus on `cell` of a rows x cols matrix; undefined when the matrix does not
 * handle the key (so it can reach the panel's relabel keys). A move that would leave the matrix
 * stays on the edge cell.
 */
export function matrixKeyAction(key: string, cell: MatrixCell, rows: number, cols: number, mods: MatrixKeyMods = {}): MatrixKeyAction | undefined {
  if (rows <= 0 || cols <= 0 || mods.altKey) return undefined;
  const clamp = (v: number, n: number): number => Math.min(n - 1, Math.max(0, v));
  const at = { row: clamp(cell.row, rows), col: clamp(cell.col, cols) };
  const move = (row: number, col: number): MatrixKeyAction => ({ kind: 'move', cell: { row: clamp(row, rows), col: clamp(col, cols) } });
  const ctrl = !!(mods.ctrlKey || mods.metaKey);
  switch (key) {
    case 'ArrowRight': return ctrl ? undefined : move(at.row, at.col + 1);
    case 'ArrowLeft': return ctrl ? undefined : move(at.row, at.col - 1);
    case 'ArrowDown': return ctrl ? undefined : move(at.row + 1, at.col);
    case 'ArrowUp': return ctrl ? undefined : move(at.row - 1, at.col);
    case 'Home': return ctrl ? move(0, 0) : move(at.row, 0);
    case 'End': return ctrl ? move(rows - 1, cols - 1) : move(at.row, cols - 1);
    case 'PageUp': return ctrl ? undefined : move(0, at.col);
    case 'PageDown': return ctrl ? undefined : move(rows - 1, at.col);
    case 'Enter':
    case ' ':
      return ctrl ? undefined : { kind: 'activate', cell: at };
    case 'Escape': return { kind: 'clear' };
    default: return undefined;
  }
}

/**
 * Screen-reader name of a cell, e.g. "true anger, predicted fear: 12 samples", and with the row's total
 * the row-normalised share the heat map shows: "... 12 samples (25% of anger)".
 */
export function matrixCellLabel(trueClass: string, predClass: string, count: number, rowTotal?: number): string {
  const share = rowTotal === undefined ? '' : ` (${rowShareText(count, rowTotal)} of ${trueClass})`;
  return `true ${trueClass}, predicted ${predClass}: ${count} sample${count === 1 ? '' : 's'}${share}`;
}

/** A cell's share of its row (its true class), as the heat map writes it: "25%", "0.4%", "–" for an empty row. */
export function rowShareText(count: number, rowTotal: number): string {
  if (rowTotal <= 0) return '–';
  const p = (100 * count) / rowTotal;
  return p > 0 && p < 1 ? `${p.toFixed(1)}%` : `${Math.round(p)}%`;
}
