// Keyboard model of the "Duplicates & Leaks" view, free of the DOM so unit tests can check it: arrows
// move between clusters (up/down) and members (left/right), PageDown/PageUp turn the page, K keeps one
// image of the cluster, X excludes its leaked copies, digits relabel the whole cluster (as the grid's
// digits relabel a sample), U undoes and R redoes (as elsewhere in the panel). Each fix is one action.

export type DupKeyAction =
  | { kind: 'cluster'; delta: number }
  | { kind: 'member'; delta: number }
  | { kind: 'page'; delta: 1 | -1 }
  | { kind: 'keepOne' }
  | { kind: 'excludeLeaks' }
  | { kind: 'relabel'; label: number }
  | { kind: 'undo' }
  | { kind: 'redo' }
  /** Escape: drop the member selection (K then keeps the earliest split's member). */
  | { kind: 'clearMember' };

export interface DupKeyMods {
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
}

/** What `key` does in the view; undefined when the view leaves it alone (Tab, modified keys, other letters). */
export function dupKeyAction(key: string, numClasses: number, mods: DupKeyMods = {}): DupKeyAction | undefined {
  if (mods.ctrlKey || mods.metaKey || mods.altKey) return undefined;
  if (/^[1-9]$/.test(key)) {
    const label = Number(key) - 1;
    return label < numClasses ? { kind: 'relabel', label } : undefined;
  }
  switch (key) {
    case 'ArrowDown': return { kind: 'cluster', delta: 1 };
    case 'ArrowUp': return { kind: 'cluster', delta: -1 };
    case 'ArrowRight': return { kind: 'member', delta: 1 };
    case 'ArrowLeft': return { kind: 'member', delta: -1 };
    case 'PageDown': return { kind: 'page', delta: 1 };
    case 'PageUp': return { kind: 'page', delta: -1 };
    case 'k': case 'K': return { kind: 'keepOne' };
    case 'x': case 'X': return { kind: 'excludeLeaks' };
    case 'u': case 'U': return { kind: 'undo' };
    case 'r': case 'R': return { kind: 'redo' };
    case 'Escape': return { kind: 'clearMember' };
    default: return undefined;
  }
}

/** The selection after a move: clamped to [0, n - 1]; from none (-1) to the first or last; -1 when there is nothing to select. */
export function moveIndex(at: number, delta: number, n: number): number {
  if (n <= 0) return -1;
  if (at < 0) return delta >= 0 ? 0 : n - 1;
  return Math.min(n - 1, Math.max(0, at + delta));
}
