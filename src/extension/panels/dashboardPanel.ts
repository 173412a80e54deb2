// Training dashboard: a singleton editor panel that replays the current run's events and then
// streams new ones as `engine` messages.
import * as vscode from 'vscode';
import type { CspViolation, HostMessage } from '../../webviews/protocol.js';
import { parseWebviewMessage } from '../../webviews/protocol.js';
import type { TrainingController } from '../training.js';
import { resourceRoots, webviewHtml } from './html.js';
import { readyWatchdog } from './readyWatchdog.js';

export class DashboardPanel {
  private static current: DashboardPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  static show(extensionUri: vscode.Uri, training: TrainingController, onCspViolation: (v: CspViolation) => void, log?: (line: string) => void): void {
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return;
    }
    const panel = vscode.window.createWebviewPanel('kefer.dashboard', 'KE-FER Training', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: resourceRoots(extensionUri, []),
    });
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, training, onCspViolation, log);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    training: TrainingController,
    onCspViolation: (v: CspViolation) => void,
    log?: (line: string) => void,
  ) {
    const load = () => {
      panel.webview.html = webviewHtml(panel.webview, extensionUri, 'dashboard', 'dashboard', 'KE-FER Training');
    };
    let isReady = false;
    // A hidden webview may not load until shown: only a visible one that stays silent is reloaded or reported.
    const watchdog = readyWatchdog(() => panel.visible && load(), {
      onReload: (attempt, ms) => log?.(`training dashboard: no 'ready' from the webview after ${ms / 1000} s; reloading it (try ${attempt})`),
      onGiveUp: (ms) => {
        if (panel.visible) void vscode.window.showWarningMessage(`KE-FER Training view did not load in ${ms / 1000} s (its script never ran). Close and reopen it, or run "Developer: Reload Window".`);
      },
    });
    load();
    watchdog.arm();
    const post = (m: HostMessage): void => void panel.webview.postMessage(m);
    this.disposables.push(
      { dispose: () => watchdog.dispose() },
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const m = parseWebviewMessage(raw);
        if (m?.type === 'ready') {
          isReady = true;
          watchdog.ready();
          post({ type: 'init', view: 'dashboard', classes: [], run: null, runs: [] });
          for (const e of training.history) post({ type: 'engine', event: e });
        } else if (m?.type === 'cancelTraining') training.cancel();
        else if (m?.type === 'cspViolation') onCspViolation(m.violation);
      }),
      training.onEvent((e) => post({ type: 'engine', event: e })),
      panel.onDidChangeViewState(() => {
        if (panel.visible && !isReady) watchdog.arm();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private dispose(): void {
    DashboardPanel.current = undefined;
    for (const d of this.disposables) d.dispose();
  }
}
