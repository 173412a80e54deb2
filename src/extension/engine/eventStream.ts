// Turns the engine's stdout (JSON lines, `--events json`) into typed EngineEvents. Chunks from a pipe
// split lines anywhere, so this buffers the tail; non-JSON lines (warnings from libraries) pass
// through as log text instead of being dropped.
import type { EngineEvent } from '../../engine/events.js';

const TYPES = new Set(['start', 'step', 'epoch', 'log', 'done', 'error']);

/**
 * A JSON object line whose `type` is one of `types`, as a record for the caller's field checks;
 * undefined for anything else (the caller logs the raw text).
 */
export function eventObject(line: string, types: ReadonlySet<string>): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  return typeof o.type === 'string' && types.has(o.type) ? o : undefined;
}

/** Whether every one of `keys` is a finite number in `o`. */
export function finiteNumbers(o: Record<string, unknown>, ...keys: string[]): boolean {
  return keys.every((k) => typeof o[k] === 'number' && Number.isFinite(o[k]));
}

export function parseEventLine(line: string): EngineEvent | undefined {
  return eventObject(line, TYPES) as EngineEvent | undefined;
}

/** Splits a child's output into lines: those `parse` recognises become events, the rest log text. */
export class EventLineSplitter<E = EngineEvent> {
  private tail = '';
  constructor(
    private readonly onEvent: (e: E) => void,
    private readonly onText: (line: string) => void,
    // the default parser reads EngineEvents, which is E unless the caller passes its own parser
    private readonly parse: (line: string) => E | undefined = parseEventLine as (line: string) => E | undefined,
  ) {}

  push(chunk: string): void {
    const parts = (this.tail + chunk).split('\n');
    this.tail = parts.pop() ?? '';
    for (const p of parts) this.line(p);
  }

  end(): void {
    if (this.tail) this.line(this.tail);
    this.tail = '';
  }

  private line(l: string): void {
    if (!l.trim()) return;
    const e = this.parse(l);
    if (e) this.onEvent(e);
    else this.onText(l.replace(/\r$/, ''));
  }
}

/** One human line per event for the output channel. */
export function describeEvent(e: EngineEvent): string {
  switch (e.type) {
    case 'start':
      return `start: ${e.dataset}${e.synthetic ? ' (SYNTHETIC)' : ''}, ${e.nTrain} train / ${e.nVal} val, ${e.backbone}, ${e.epochs} epochs x ${e.stepsPerEpoch} steps, backend ${e.backend.name} (${e.backend.detail}), text ${e.textKind}: ${e.textSource}`;
    case 'step':
      return `step ${e.step}/${e.totalSteps} epoch ${e.epoch}: loss ${e.loss.toFixed(4)} (Ls ${e.ls.toFixed(4)} Lt ${e.lt.toFixed(4)} Lc ${e.lc.toFixed(4)}) acc ${(e.trainAcc * 100).toFixed(1)}% lr ${e.lr.toExponential(2)} ${e.imgPerSec.toFixed(1)} img/s ETA ${Math.round(e.etaSec)}s`;
    case 'epoch':
      return `epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, val acc ${e.valAccuracy === null ? 'n/a' : (e.valAccuracy * 100).toFixed(2) + '%'}${e.best ? ' (best)' : ''} -> ${e.checkpoint}`;
    case 'log':
      return `${e.level}: ${e.message}`;
    case 'done':
      return `done${e.cancelled ? ' (cancelled)' : ''}: best epoch ${e.bestEpoch} on ${e.selectedOn}, val acc ${e.valAccuracy === null ? 'n/a' : (e.valAccuracy * 100).toFixed(2) + '%'}, checkpoint ${e.checkpoint}`;
    case 'error':
      return `error: ${e.message}`;
  }
}
