// A webview whose module script never runs stays blank and never sends `ready`; nothing else tells the
// host. Seen in code-server on a loaded machine (the training dashboard blank while training ran). Setting
// the html again (a fresh nonce, so the webview reloads) recovers it. Waits double on each try, so a
// merely slow webview is not reloaded in a loop; after the last try the caller is told (onGiveUp).
// No vscode import: the panels pass their own load function, and the unit test fake timers.

export interface ReadyWatchdogOptions {
  /** First wait in ms (default 10 s); each retry waits twice as long. */
  firstWaitMs?: number;
  /** Reloads before giving up (default 3). */
  reloads?: number;
  onReload?: (attempt: number, waitedMs: number) => void;
  onGiveUp?: (waitedMs: number) => void;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export interface ReadyWatchdog {
  /** The webview said `ready`: stop watching. Later loads (e.g. a re-render) call arm() again. */
  ready(): void;
  /** Start (or restart) watching after the html was set. */
  arm(): void;
  dispose(): void;
}

export function readyWatchdog(reload: () => void, opts: ReadyWatchdogOptions = {}): ReadyWatchdog {
  const setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  const first = opts.firstWaitMs ?? 10_000;
  const reloads = opts.reloads ?? 3;
  let timer: unknown;
  let attempt = 0;
  let waited = 0;

  const stop = () => {
    if (timer !== undefined) clearTimer(timer);
    timer = undefined;
  };
  const wait = (ms: number) => {
    timer = setTimer(() => {
      timer = undefined;
      waited += ms;
      if (attempt >= reloads) {
        opts.onGiveUp?.(waited);
        return;
      }
      attempt++;
      opts.onReload?.(attempt, waited);
      reload();
      wait(ms * 2);
    }, ms);
  };
  return {
    ready: stop,
    arm() {
      stop();
      attempt = 0;
      waited = 0;
      wait(first);
    },
    dispose: stop,
  };
}
