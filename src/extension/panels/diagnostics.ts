// Diagnostics: the same lit app serves the side view (webview view) and the full editor panel.
// DiagnosticsSession ties one webview to a DiagnosticsHandler (diagnosticsHandler.ts: the messages,
// answered through the curation worker, with every run folder and served file checked); panel and
// view differ only in how they are created.
import * as vscode from 'vscode';
import type { CspViolation, HostMessage, RetrainMode, RunSummary, SortKey, ViewKind } from '../../webviews/protocol.js';
import type { CurationClient } from '../curation/client.js';
import type { ResourceRoots } from '../roots.js';
import { DiagnosticsHandler } from './diagnosticsHandler.js';
import { resourceRoots, webviewHtml } from './html.js';

export interface DiagnosticsDeps {
  extensionUri: vscode.Uri;
  curation: CurationClient;
  /** The one authority over the files a webview may load (the thumbnail cache, the store's dataset roots). */
  roots: ResourceRoots;
  runs: () => RunSummary[];
  retrain: (runDir: string, mode: RetrainMode) => Promise<string | undefined>;
  exportLabels: (runDir: string) => Promise<string | undefined>;
  openFull: (runDir: string) => void;
  log: (line: string) => void;
  onCspViolation: (v: CspViolation) => void;
  /** kefer.suspiciousLabels.ranker, read when a webview (re)opens. */
  initialSort: () => SortKey;
  /** "KE-FER: Find Duplicates" on a dataset root (the duplicates view's button). */
  findDuplicates: (root: string) => PromiseLike<unknown>;
}

class DiagnosticsSession implements vscode.Disposable {
  private readonly subs: vscode.Disposable[] = [];
  /** Answers the webview's messages; every run folder and file it names is checked there. */
  readonly handler: DiagnosticsHandler;

  constructor(
    private readonly webview: vscode.Webview,
    private readonly view: ViewKind,
    private readonly deps: DiagnosticsDeps,
    runDir: string | undefined,
  ) {
    this.handler = new DiagnosticsHandler(view, {
      call: (method, ...params) => deps.curation.call(method, ...params),
      roots: deps.roots,
      runs: deps.runs,
      toUri: (file) => this.webview.asWebviewUri(vscode.Uri.file(file)).toString(),
      post: (m) => this.post(m),
      broadcast: (m) => DiagnosticsHub.broadcast(m),
      retrain: deps.retrain,
      exportLabels: deps.exportLabels,
      openFull: deps.openFull,
      cancelTraining: () => vscode.commands.executeCommand('kefer.cancelTraining'),
      // completes the walkthrough's relabel step (package.json contributes.walkthroughs)
      onRelabel: () => void vscode.commands.executeCommand('setContext', 'kefer.relabeled', true),
      log: deps.log,
      onCspViolation: deps.onCspViolation,
      initialSort: deps.initialSort,
      findDuplicates: deps.findDuplicates,
    }, runDir);
    this.configure();
    this.subs.push(webview.onDidReceiveMessage((raw: unknown) => void this.handler.handle(raw)));
  }

  get runDir(): string | undefined {
    return this.handler.runDir;
  }

  set pendingComparison(c: [string, string] | undefined) {
    this.handler.pendingComparison = c;
  }

  /** The roots this webview was rendered with (localResourceRoots), to know when to render it again. */
  private rendered = '';

  private configure(): void {
    // The webview itself may load only these folders: the same list the roots authority checks.
    const roots = this.deps.roots.roots();
    this.rendered = roots.join('\0');
    this.handler.rendered();
    this.webview.options = { enableScripts: true, localResourceRoots: resourceRoots(this.deps.extensionUri, roots) };
    this.webview.html = webviewHtml(this.webview, this.deps.extensionUri, 'diagnostics', this.view, 'KE-FER Diagnostics');
  }

  /** The store registered another dataset (or dropped one): render again with the new roots. */
  rootsChanged(): void {
    if (this.deps.roots.roots().join('\0') !== this.rendered) this.configure();
  }

  post(m: HostMessage): void {
    void this.webview.postMessage(m);
  }

  /** Switches to another run (a new dataset folder may need a new resource root, so re-render). */
  show(runDir: string): void {
    this.handler.runDir = runDir;
    // the duplicates view follows the new run's dataset
    this.handler.dupsRoot = undefined;
    this.configure();
  }

  showDuplicates(root: string): Promise<void> {
    return this.handler.showDuplicates(root);
  }

  async sendComparison(beforeDir: string, afterDir: string): Promise<void> {
    await this.handler.sendComparison(beforeDir, afterDir);
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}

/** Tracks the open diagnostics webviews (one side view, one editor panel). */
export class DiagnosticsHub implements vscode.WebviewViewProvider {
  private static sessions = new Set<DiagnosticsSession>();
  private panel: { panel: vscode.WebviewPanel; session: DiagnosticsSession } | undefined;

  constructor(private readonly deps: DiagnosticsDeps) {}

  static broadcast(m: HostMessage): void {
    for (const s of DiagnosticsHub.sessions) s.post(m);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    // opened after the panel: it starts on the panel's run
    const s = new DiagnosticsSession(view.webview, 'diagnosticsView', this.deps, this.panel?.session.runDir);
    DiagnosticsHub.sessions.add(s);
    view.onDidDispose(() => {
      DiagnosticsHub.sessions.delete(s);
      s.dispose();
    });
  }

  /** The run the editor panel shows, when it is open. */
  panelRunDir(): string | undefined {
    return this.panel?.session.runDir;
  }

  /** A run finished: every open diagnostics webview switches to it (the side view included). */
  showRun(runDir: string): void {
    for (const s of DiagnosticsHub.sessions) if (s !== this.panel?.session) s.show(runDir);
  }

  /** The dataset roots changed (RunCatalogue refresh): webviews rendered without a root they now need render again. */
  rootsChanged(): void {
    for (const s of DiagnosticsHub.sessions) s.rootsChanged();
  }

  /** The side view follows the panel's run. */
  private followPanel(runDir: string | undefined): void {
    if (!runDir) return;
    for (const s of DiagnosticsHub.sessions) if (s !== this.panel?.session && s.runDir !== runDir) s.show(runDir);
  }

  openPanel(runDir: string | undefined, comparison?: [string, string]): void {
    this.followPanel(runDir);
    if (this.panel) {
      this.panel.session.pendingComparison = comparison;
      if (runDir && runDir !== this.panel.session.runDir) this.panel.session.show(runDir);
      this.panel.panel.reveal(vscode.ViewColumn.One);
      return;
    }
    const panel = vscode.window.createWebviewPanel('kefer.diagnostics', 'KE-FER Diagnostics', vscode.ViewColumn.One, { enableScripts: true, retainContextWhenHidden: true });
    const session = new DiagnosticsSession(panel.webview, 'diagnostics', this.deps, runDir);
    session.pendingComparison = comparison;
    DiagnosticsHub.sessions.add(session);
    this.panel = { panel, session };
    panel.onDidDispose(() => {
      DiagnosticsHub.sessions.delete(session);
      session.dispose();
      this.panel = undefined;
    });
  }

  /**
   * After "Find Duplicates": the panel (on `runDir`, a run of that dataset, when there is one) shows the
   * dataset's duplicates view, scrolled into sight with the keyboard in it.
   */
  async showDuplicates(root: string, runDir: string | undefined): Promise<void> {
    this.openPanel(runDir);
    await this.panel?.session.showDuplicates(root);
  }

  /** After a retrain: point the panel at the new run and show the before/after comparison. */
  showComparison(beforeDir: string, afterDir: string): void {
    // the webview is (re)rendered for the new run; its `ready` triggers the comparison message
    this.openPanel(afterDir, [beforeDir, afterDir]);
  }
}
