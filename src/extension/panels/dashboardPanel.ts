// Training dashboard: a singleton editor panel that replays the current run's events and then
// streams new ones as `engine` messages.
import * as vscode from 'vscode';
import type { CspViolation, HostMessage } from '../../webviews/protocol.js';
import { parseWebviewMessage } from '../../webviews/protocol.js';
import type { TrainingController } from '../training.js';
import { resourceRoots, webviewHtml } from './html.js';

export class DashboardPanel {
  private static current: DashboardPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  static show(extensionUri: vscode.Uri, training: TrainingController, onCspViolation: (v: CspViolation) => void): void {
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return;
    }
    const panel = vscode.window.createWebviewPanel('kefer.dashboard', 'KE-FER Training', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: resourceRoots(extensionUri, []),
    });
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, training, onCspViolation);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    training: TrainingController,
    onCspViolation: (v: CspViolation) => void,
  ) {
    panel.webview.html = webviewHtml(panel.webview, extensionUri, 'dashboard', 'dashboard', 'KE-FER Training');
    const post = (m: HostMessage): void => void panel.webview.postMessage(m);
    this.disposables.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const m = parseWebviewMessage(raw);
        if (m?.type === 'ready') {
          post({ type: 'init', view: 'dashboard', classes: [], run: null, runs: [] });
          for (const e of training.history) post({ type: 'engine', event: e });
        } else if (m?.type === 'cancelTraining') training.cancel();
        else if (m?.type === 'cspViolation') onCspViolation(m.violation);
      }),
      training.onEvent((e) => post({ type: 'engine', event: e })),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private dispose(): void {
    DashboardPanel.current = undefined;
    for (const d of this.disposables) d.dispose();
  }
}
