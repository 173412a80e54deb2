// The label overlay: relabels, exclusions and "unsure" marks layered over the dataset's labels, with
// undo and a full audit log. This is the interface the curation service needs; JsonOverlay is the
// file-backed implementation used until/unless the engine's SQLite store is available.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabelChange } from '../../webviews/protocol.js';
import type { OverlayState } from './queries.js';

export interface LabelOverlay {
  get(id: string): OverlayState | undefined;
  /** Applies a change and returns nothing; each call is one undo step. */
  apply(id: string, action: 'relabel' | 'exclude' | 'unsure', label: number | null): void;
  /** Reverts the most recent change; returns the id it touched. */
  undo(): string | undefined;
  history(id: string): LabelChange[];
  /** Every sample with a non-empty overlay state (for export and retrain). */
  entries(): [string, OverlayState][];
  /** Bumps on every change, so cached query results know they are stale. */
  readonly version: number;
}

interface LogEntry {
  id: string;
  action: LabelChange['action'];
  label: number | null;
  at: string;
  /** State before this change (what undo restores). */
  prev?: OverlayState;
}

export class JsonOverlay implements LabelOverlay {
  private state = new Map<string, OverlayState>();
  private log: LogEntry[] = [];
  /** Indices into log of changes that can still be undone. */
  private undoStack: number[] = [];
  version = 0;

  constructor(private readonly file: string) {
    if (fs.existsSync(file)) {
      const data = JSON.parse(fs.readFileSync(file, 'utf8')) as { log: LogEntry[] };
      for (const e of data.log) this.replay(e);
    }
  }

  get(id: string): OverlayState | undefined {
    return this.state.get(id);
  }

  apply(id: string, action: 'relabel' | 'exclude' | 'unsure', label: number | null): void {
    const prev = this.state.get(id);
    const e: LogEntry = { id, action, label, at: new Date().toISOString(), prev: prev ? { ...prev } : undefined };
    this.replay(e);
    this.save();
  }

  undo(): string | undefined {
    const i = this.undoStack.at(-1);
    if (i === undefined) return undefined;
    const target = this.log[i];
    this.replay({ id: target.id, action: 'undo', label: null, at: new Date().toISOString() });
    this.save();
    return target.id;
  }

  history(id: string): LabelChange[] {
    return this.log.filter((e) => e.id === id).map(({ label, action, at }) => ({ label, action, at }));
  }

  entries(): [string, OverlayState][] {
    return [...this.state.entries()].filter(([, s]) => s.label !== undefined || s.excluded || s.unsure);
  }

  private replay(e: LogEntry): void {
    if (e.action === 'undo') {
      const i = this.undoStack.pop();
      if (i === undefined) return;
      const prev = this.log[i].prev;
      if (prev) this.state.set(this.log[i].id, { ...prev });
      else this.state.delete(this.log[i].id);
    } else {
      const cur = { ...(this.state.get(e.id) ?? {}) };
      if (e.action === 'relabel' && e.label !== null) cur.label = e.label;
      if (e.action === 'exclude') cur.excluded = !cur.excluded;
      if (e.action === 'unsure') cur.unsure = !cur.unsure;
      this.state.set(e.id, cur);
      this.undoStack.push(this.log.length);
    }
    this.log.push(e);
    this.version++;
  }

  private save(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ log: this.log }));
    fs.renameSync(tmp, this.file);
  }
}
