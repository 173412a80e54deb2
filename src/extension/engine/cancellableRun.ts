// One engine process under a cancellable progress notification (Find Duplicates, Find Label Issues):
// the process reports its progress as fractions, Cancel stops it with SIGTERM (SIGKILL after a grace).
import * as vscode from 'vscode';
import type { EngineProcess } from './engineProcess.js';

export interface CancellableRun<E extends { type: string }> {
  title: string;
  /** Starts the process; `report(fraction, message)` moves the notification's bar to `fraction` (0..1). */
  start(report: (fraction: number, message: string) => void): EngineProcess<E>;
  /** Written to the output channel when the user cancels (what is kept, what is not). */
  cancelNote: string;
  graceMs: number;
  output: { appendLine(line: string): void };
  /** The running process while it runs, undefined after (so the owner's dispose() can stop it). */
  track(proc: EngineProcess<E> | undefined): void;
}

export async function runCancellable<E extends { type: string }>(run: CancellableRun<E>): Promise<{ code: number | null; error?: string; cancelled: boolean }> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: run.title, cancellable: true }, async (progress, token) => {
    let shown = 0;
    const proc = run.start((fraction, message) => {
      progress.report({ increment: 100 * (fraction - shown), message });
      shown = fraction;
    });
    run.track(proc);
    let cancelled = false;
    const sub = token.onCancellationRequested(() => {
      cancelled = true;
      run.output.appendLine(run.cancelNote);
      proc.cancel(run.graceMs);
    });
    try {
      const r = await proc.result;
      return { code: r.code, error: r.error, cancelled };
    } finally {
      sub.dispose();
      run.track(undefined);
    }
  });
}
