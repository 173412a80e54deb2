// Diagnostics: the same lit app serves the side view (webview view) and the full editor panel.
// DiagnosticsSession answers one webview's messages through the curation worker and turns dataset
// paths into webview URIs; panel and view differ only in how they are created.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CspViolation, HostMessage, RetrainMode, RunSummary, ViewKind, WebviewMessage } from '../../webviews/protocol.js';
import { parseWebviewMessage } from '../../webviews/protocol.js';
import type { CurationClient } from '../curation/client.js';
import { readMeta, toSummary } from '../runlist/runFiles.js';
import { gridRows, ThumbRequests } from './gridThumbs.js';
import { resourceRoots, webviewHtml } from './html.js';

export interface DiagnosticsDeps {
  extensionUri: vscode.Uri;
  curation: CurationClient;
  /** The curation worker's grid thumbnail cache folder (a webview resource root). */
  thumbDir: string;
  runs: () => RunSummary[];
  retrain: (runDir: string, mode: RetrainMode) => Promise<string | undefined>;
  exportLabels: (runDir: string) => Promise<string | undefined>;
  openFull: (runDir: string) => void;
  log: (line: string) => void;
  onCspViolation: (v: CspViolation) => void;
}

class DiagnosticsSession implements vscode.Disposable {
  private readonly subs: vscode.Disposable[] = [];
  runDir: string | undefined;
  /** Comparison to send once the (re-rendered) webview says it is ready. */
  pendingComparison: [string, string] | undefined;
  private readonly thumbs: ThumbRequests;
  /** Unreadable images reported to the output channel, at most a few per panel. */
  private thumbErrors = 0;

  constructor(
    private readonly webview: vscode.Webview,
    private readonly view: ViewKind,
    private readonly deps: DiagnosticsDeps,
    runDir: string | undefined,
  ) {
    this.runDir = runDir;
    this.thumbs = new ThumbRequests(
      (dir, ids, priority) => deps.curation.call('thumbnails', dir, ids, priority),
      (file) => this.uri(file),
      (m) => this.post(m),
      (e) => {
        if (this.thumbErrors++ < 5) deps.log(`grid thumbnail: ${e}`);
      },
    );
    this.configure();
    this.subs.push(webview.onDidReceiveMessage((raw: unknown) => void this.handle(raw)));
  }

  private configure(): void {
    const roots = this.deps.runs().map((r) => readMeta(r.runDir)?.datasetRoot).filter((x): x is string => !!x);
    this.webview.options = { enableScripts: true, localResourceRoots: resourceRoots(this.deps.extensionUri, [...new Set(roots), this.deps.thumbDir]) };
    this.webview.html = webviewHtml(this.webview, this.deps.extensionUri, 'diagnostics', this.view, 'KE-FER Diagnostics');
  }

  post(m: HostMessage): void {
    void this.webview.postMessage(m);
  }

  /** Switches to another run (a new dataset folder may need a new resource root, so re-render). */
  show(runDir: string): void {
    this.runDir = runDir;
    this.configure();
  }

  private uri(file: string): string {
    return this.webview.asWebviewUri(vscode.Uri.file(file)).toString();
  }

  private src(root: string, rel: string): string {
    return this.uri(path.join(root, rel));
  }

  private async handle(raw: unknown): Promise<void> {
    const m: WebviewMessage | undefined = parseWebviewMessage(raw);
    if (!m) {
      this.deps.log(`ignored malformed webview message: ${JSON.stringify(raw).slice(0, 200)}`);
      return;
    }
    const c = this.deps.curation;
    try {
      switch (m.type) {
        case 'ready': {
          const runs = this.deps.runs();
          const dir = this.runDir ?? runs.find((r) => r.status === 'done')?.runDir;
          this.runDir = dir;
          const meta = dir ? readMeta(dir) : undefined;
          const info = dir ? await c.call('info', dir) : undefined;
          // a run still training (or trained without the store) has nothing to show yet
          const run = dir && meta && info?.inStore ? toSummary(dir, meta) : null;
          this.post({ type: 'init', view: this.view, classes: info?.classes ?? [], run, runs });
          const pc = this.pendingComparison;
          this.pendingComparison = undefined;
          if (pc) await this.sendComparison(pc[0], pc[1]);
          break;
        }
        case 'requestPage': {
          const q = m.query;
          const r = await c.call('page', q.runDir, q.filter, q.sort, q.offset, q.limit);
          this.post({ type: 'page', page: { query: q, total: r.total, rows: gridRows(r.rows, (f) => this.uri(f)) } });
          break;
        }
        case 'requestThumbs':
          await this.thumbs.request(m.runDir, m.ids, m.urgent);
          break;
        case 'requestConfusion': {
          const r = await c.call('confusion', m.runDir, m.basis);
          this.post({ type: 'confusion', runDir: m.runDir, basis: m.basis, classes: r.classes, matrix: r.matrix });
          break;
        }
        case 'requestSample': {
          const s = await c.call('sample', m.runDir, m.id);
          if (s) {
            const { root, ...rest } = s;
            this.post({ type: 'sample', sample: { ...rest, src: this.src(root, s.path) } });
          }
          break;
        }
        case 'requestScatter': {
          const r = await c.call('scatter', m.runDir);
          this.post({ type: 'scatter', runDir: m.runDir, points: r.points, source: r.source });
          break;
        }
        case 'setLabel':
          this.changed(await c.call('change', m.runDir, m.id, 'relabel', m.label));
          // completes the walkthrough's relabel step (package.json contributes.walkthroughs)
          void vscode.commands.executeCommand('setContext', 'kefer.relabeled', true);
          break;
        case 'exclude':
        case 'unsure':
          this.changed(await c.call('change', m.runDir, m.id, m.type, null));
          break;
        case 'undo':
        case 'redo':
          this.changed(await c.call(m.type, m.runDir));
          break;
        case 'retrain': {
          this.post({ type: 'retrainState', running: true, message: m.mode === 'head' ? 'Quick retrain (head) with corrected labels…' : 'Full retrain with corrected labels…' });
          const dir = await this.deps.retrain(m.runDir, m.mode);
          if (!dir) this.post({ type: 'retrainState', running: false, message: 'Retrain did not start.' });
          break;
        }
        case 'exportLabels':
          await this.deps.exportLabels(m.runDir);
          break;
        case 'openFull':
          this.deps.openFull(m.runDir);
          break;
        case 'cancelTraining':
          await vscode.commands.executeCommand('kefer.cancelTraining');
          break;
        case 'cspViolation':
          this.deps.onCspViolation(m.violation);
          break;
      }
    } catch (err) {
      this.post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  private changed(ids: string[]): void {
    // every open diagnostics webview refreshes, so the side view and the panel stay in step
    DiagnosticsHub.broadcast({ type: 'labelChanged', ids });
  }

  async sendComparison(beforeDir: string, afterDir: string): Promise<void> {
    const r = await this.deps.curation.call('compare', beforeDir, afterDir);
    this.post({
      type: 'comparison',
      comparison: {
        before: { runDir: beforeDir, accuracy: r.accBefore },
        after: { runDir: afterDir, accuracy: r.accAfter },
        common: r.common,
        changedCount: r.changedCount,
        fixed: r.fixed,
        broken: r.broken,
        changed: r.changed.map((x) => ({ id: x.id, label: x.label, predBefore: x.predBefore, predAfter: x.predAfter, src: this.src(r.root, x.path) })),
      },
    });
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
    const s = new DiagnosticsSession(view.webview, 'diagnosticsView', this.deps, undefined);
    DiagnosticsHub.sessions.add(s);
    view.onDidDispose(() => {
      DiagnosticsHub.sessions.delete(s);
      s.dispose();
    });
  }

  /** A run finished: every open diagnostics webview switches to it (the side view included). */
  showRun(runDir: string): void {
    for (const s of DiagnosticsHub.sessions) if (s !== this.panel?.session) s.show(runDir);
  }

  openPanel(runDir: string | undefined, comparison?: [string, string]): void {
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

  /** After a retrain: point the panel at the new run and show the before/after comparison. */
  showComparison(beforeDir: string, afterDir: string): void {
    // the webview is (re)rendered for the new run; its `ready` triggers the comparison message
    this.openPanel(afterDir, [beforeDir, afterDir]);
  }
}
