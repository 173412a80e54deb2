// Runs the `kefer` CLI in a child process (never on the extension host's thread) and streams its
// JSON-line events. Cancel sends SIGTERM: the engine saves a checkpoint and emits `done` (cancelled).
import { spawn, type ChildProcess } from 'node:child_process';
import type { EngineEvent } from '../../engine/events.js';
import { EventLineSplitter } from './eventStream.js';

export interface EngineLaunch {
  nodePath: string;
  cliPath: string;
  args: string[];
  cwd: string;
  env?: Record<string, string>;
}

/** E: the events the command prints (EngineEvent for train / eval; kefer issues --cross-val has its own). */
export interface EngineResult<E extends { type: string } = EngineEvent> {
  code: number | null;
  signal: NodeJS.Signals | null;
  done?: Extract<E, { type: 'done' }>;
  error?: string;
}

export class EngineProcess<E extends { type: string } = EngineEvent> {
  private proc: ChildProcess | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  readonly result: Promise<EngineResult<E>>;

  /** parse: the command's event lines (default: EngineEvents); other lines go to onText. */
  constructor(launch: EngineLaunch, onEvent: (e: E) => void, onText: (line: string) => void, parse?: (line: string) => E | undefined) {
    this.result = new Promise((resolve) => {
      let done: EngineResult<E>['done'];
      let error: string | undefined;
      const p = spawn(launch.nodePath, [launch.cliPath, ...launch.args], {
        cwd: launch.cwd,
        // ELECTRON_RUN_AS_NODE lets process.execPath (Electron in desktop VS Code) act as node
        env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...launch.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.proc = p;
      const out = new EventLineSplitter<E>((e) => {
        if (e.type === 'done') done = e as Extract<E, { type: 'done' }>;
        if (e.type === 'error' && 'message' in e && typeof e.message === 'string') error = e.message;
        onEvent(e);
      }, onText, parse);
      const err = new EventLineSplitter<E>(onEvent, onText, parse);
      p.stdout?.setEncoding('utf8').on('data', (d: string) => out.push(d));
      p.stderr?.setEncoding('utf8').on('data', (d: string) => err.push(d));
      p.on('error', (e) => {
        error = e.message;
        onText(`failed to start engine: ${e.message}`);
      });
      p.on('close', (code, signal) => {
        out.end();
        err.end();
        if (this.killTimer) clearTimeout(this.killTimer);
        this.proc = undefined;
        resolve({ code, signal, done, error });
      });
    });
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Asks the engine to stop (SIGTERM); forces SIGKILL if it has not exited after graceMs. */
  cancel(graceMs = 15000): void {
    const p = this.proc;
    if (!p) return;
    p.kill('SIGTERM');
    this.killTimer = setTimeout(() => p.kill('SIGKILL'), graceMs);
  }
}
