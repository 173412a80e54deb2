// The host's answer to a diagnostics webview's messages, without vscode (DiagnosticsSession wraps it
// with the webview; the unit tests drive it with crafted messages). A webview is less trusted than
// the host: every message is validated (parseWebviewMessage), every run folder it names must be one
// of the runs the host lists, and every file it is given a URI for goes through the roots authority
// (../roots.ts: inside a dataset root registered in the store or the thumbnail cache, symlinks
// resolved, an image; the URI names the resolved file). A refused request is answered with an
// `error` message, logged and counted; nothing outside is read, thumbnailed or served. The duplicates
// view names its dataset by its root, which must be a dataset root the store registered (roots.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CspViolation, DupClusterView, HostMessage, RetrainMode, RunSummary, SortKey, ViewKind, WebviewMessage } from '../../webviews/protocol.js';
import { parseWebviewMessage } from '../../webviews/protocol.js';
import type { CurationService, RawDupCluster } from '../curation/service.js';
import type { ResourceRoots } from '../roots.js';
import { gridRows, ThumbRequests } from './gridThumbs.js';

type Api = { [K in keyof CurationService as CurationService[K] extends (...a: never[]) => unknown ? K : never]: CurationService[K] };

/** The curation worker's call (CurationClient.call), or the service itself in-process. */
export type CurationCall = <K extends keyof Api>(method: K, ...params: Parameters<Api[K]>) => Promise<Awaited<ReturnType<Api[K]>>>;

export interface HandlerDeps {
  call: CurationCall;
  /** Which files a webview may be given (the thumbnail cache and the store's dataset roots). */
  roots: ResourceRoots;
  runs: () => RunSummary[];
  /** The webview URI of a file the roots authority let through (webview.asWebviewUri). */
  toUri: (file: string) => string;
  post: (m: HostMessage) => void;
  /** To every open diagnostics webview (label changes keep the side view and the panel in step). */
  broadcast: (m: HostMessage) => void;
  retrain: (runDir: string, mode: RetrainMode) => Promise<string | undefined>;
  exportLabels: (runDir: string) => Promise<string | undefined>;
  openFull: (runDir: string) => void;
  cancelTraining: () => PromiseLike<unknown> | void;
  /** After a relabel (the walkthrough's relabel step completes on it). */
  onRelabel?: () => void;
  log: (line: string) => void;
  onCspViolation: (v: CspViolation) => void;
  /** The grid's initial order (kefer.suspiciousLabels.ranker); absent: the webview's default (issue score). */
  initialSort?: () => SortKey;
  /** "KE-FER: Find Duplicates" on a dataset root (the duplicates view's button); absent: refused. */
  findDuplicates?: (root: string) => PromiseLike<unknown> | void;
}

/** Duplicate clusters as the webview gets them: cached thumbnails as webview URIs (null: not made yet, or refused). */
export function dupRows(rows: RawDupCluster[], toUri: (file: string) => string | null): DupClusterView[] {
  return rows.map((c) => ({ ...c, members: c.members.map((m) => ({ ...m, thumb: m.thumb === null ? null : toUri(m.thumb) })) }));
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export class DiagnosticsHandler {
  runDir: string | undefined;
  /** Comparison to send once the (re-rendered) webview says it is ready. */
  pendingComparison: [string, string] | undefined;
  /** Requests refused: malformed, naming a run the host does not list, or asking for a file outside. */
  refused = 0;
  private readonly thumbs: ThumbRequests;
  /** A calibration request is with the curation worker; and the one to send when it is back. */
  private calibrating = false;
  private calibrateAgain: { runDir: string; to: (m: HostMessage) => void } | undefined;
  /** Unreadable images reported to the output channel, at most a few per panel. */
  private thumbErrors = 0;
  private readonly dupThumbs: ThumbRequests;
  /**
   * The dataset the duplicates view shows when "Find Duplicates" chose it; otherwise the run's. Cleared
   * when the panel switches runs.
   */
  dupsRoot: string | undefined;
  /** Bring the duplicates view into sight at the next dupScan (after Find Duplicates). */
  private dupsFocus = false;
  /** The webview said `ready` since it was last rendered (messages posted before that are lost). */
  private ready = false;

  constructor(
    private readonly view: ViewKind,
    private readonly deps: HandlerDeps,
    runDir: string | undefined,
  ) {
    this.runDir = runDir;
    this.thumbs = new ThumbRequests(
      (dir, ids, priority) => deps.call('thumbnails', dir, ids, priority),
      (file) => this.serve(file),
      (m) => deps.post(m),
      (e) => {
        if (this.thumbErrors++ < 5) deps.log(`grid thumbnail: ${e}`);
      },
    );
    this.dupThumbs = new ThumbRequests(
      (root, ids, priority) => deps.call('dupThumbnails', root, ids, priority),
      (file) => this.serve(file),
      (m) => deps.post(m),
      (e) => {
        if (this.thumbErrors++ < 5) deps.log(`duplicate thumbnail: ${e}`);
      },
      (dataset, thumbs) => ({ type: 'dupThumbs', dataset, thumbs }),
    );
  }

  /** The webview is being rendered again: it will say `ready` (until then nothing posted reaches it). */
  rendered(): void {
    this.ready = false;
  }

  /** "Find Duplicates" finished on `root`: the duplicates view shows its scan and takes the keyboard. */
  async showDuplicates(root: string): Promise<void> {
    this.dupsRoot = root;
    this.dupsFocus = true;
    if (this.ready) await this.sendDupScan(root);
  }

  private async sendDupScan(root: string): Promise<void> {
    const focus = this.dupsFocus;
    this.dupsFocus = false;
    const r = await this.deps.call('dupScan', root);
    this.deps.post({ type: 'dupScan', dataset: r.dataset, scan: r.scan, ...(focus ? { focus: true } : {}) });
  }

  /**
   * The webview URI of `file` (of its resolved path); null when it is not an existing file (nothing to
   * show: a name that merely looks inside, like `%2e%2e/...`, is never handed to the webview's resource
   * loader to interpret) or the roots authority refuses it (refused, logged).
   */
  serve(file: string): string | null {
    if (!isFile(file)) return null;
    const r = this.deps.roots.serve(file);
    if (r.ok) return this.deps.toUri(r.file);
    this.refuse(r.why);
    return null;
  }

  private refuse(what: string): void {
    this.refused++;
    this.deps.log(`refused webview request: ${what}`);
  }

  /** A run folder the host lists (compared resolved: `runs/a/../a` names run a, `../x` names nothing). */
  private knownRun(runDir: string): boolean {
    const want = path.resolve(runDir);
    return this.deps.runs().some((r) => path.resolve(r.runDir) === want);
  }

  private src(root: string, rel: string): string {
    return this.serve(path.resolve(root, rel)) ?? '';
  }

  async handle(raw: unknown): Promise<void> {
    const m: WebviewMessage | undefined = parseWebviewMessage(raw);
    if (!m) {
      this.refuse(`malformed message ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    const runDir = 'runDir' in m ? m.runDir : m.type === 'requestPage' ? m.query.runDir : undefined;
    if (runDir !== undefined && !this.knownRun(runDir)) {
      this.refuse(`${m.type} for ${JSON.stringify(runDir.slice(0, 300))}, not a listed run folder`);
      this.deps.post({ type: 'error', message: `refused: ${runDir.slice(0, 300)} is not a run folder of this workspace` });
      return;
    }
    const dataset = 'dataset' in m ? m.dataset : m.type === 'requestDups' ? m.query.dataset : undefined;
    if (dataset !== undefined && !this.deps.roots.isDatasetRoot(dataset)) {
      this.refuse(`${m.type} for ${JSON.stringify(dataset.slice(0, 300))}, not a dataset root of the workspace store`);
      this.deps.post({ type: 'error', message: `refused: ${dataset.slice(0, 300)} is not a dataset of this workspace` });
      return;
    }
    const c = this.deps.call;
    try {
      switch (m.type) {
        case 'ready': {
          const runs = this.deps.runs();
          const dir = this.runDir ?? runs.find((r) => r.status === 'done' && r.inStore !== false)?.runDir;
          this.runDir = dir;
          const info = dir ? await c('info', dir) : undefined;
          // a run still training (or trained without the store) has nothing to show yet
          const listed = dir ? runs.find((r) => path.resolve(r.runDir) === path.resolve(dir)) : undefined;
          const run = listed && info?.inStore ? { ...listed, inStore: true, classes: listed.classes.length ? listed.classes : info.classes } : null;
          const sort = this.deps.initialSort?.();
          this.deps.post({ type: 'init', view: this.view, classes: info?.classes ?? [], run, runs, ...(sort ? { sort } : {}) });
          if (run && dir) {
            this.deps.post({ type: 'overview', overview: await c('overview', dir) });
            await this.sendCalibration(dir, (m) => this.deps.post(m));
          }
          const pc = this.pendingComparison;
          this.pendingComparison = undefined;
          if (pc) await this.sendComparison(pc[0], pc[1]);
          this.ready = true;
          // the panel's duplicates view: the dataset Find Duplicates chose, else the run's (the side view has none)
          const root = this.view === 'diagnostics' ? (this.dupsRoot ?? (run && dir ? await c('runDatasetRoot', dir) : null)) : null;
          if (root && this.deps.roots.isDatasetRoot(root)) await this.sendDupScan(root);
          break;
        }
        case 'requestPage': {
          const q = m.query;
          const r = await c('page', q.runDir, q.filter, q.sort, q.offset, q.limit);
          this.deps.post({ type: 'page', page: { query: q, total: r.total, rows: gridRows(r.rows, (f) => this.serve(f)) } });
          break;
        }
        case 'requestThumbs':
          await this.thumbs.request(m.runDir, m.ids, m.urgent);
          break;
        case 'requestConfusion': {
          const r = await c('confusion', m.runDir, m.basis);
          this.deps.post({ type: 'confusion', runDir: m.runDir, basis: m.basis, classes: r.classes, matrix: r.matrix });
          break;
        }
        case 'requestSample': {
          const s = await c('sample', m.runDir, m.id);
          if (s) {
            const { root, ...rest } = s;
            const file = path.resolve(root, s.path);
            const src = this.serve(file);
            if (src === null && isFile(file)) throw new Error(`refused: the image of sample ${m.id} lies outside the dataset root`);
            // a missing image: the inspector shows the record without it
            this.deps.post({ type: 'sample', sample: { ...rest, src: src ?? '' } });
          }
          break;
        }
        case 'requestScatter': {
          const r = await c('scatter', m.runDir, m.method ?? 'pca');
          this.deps.post({ type: 'scatter', runDir: m.runDir, ...r });
          break;
        }
        case 'setLabel':
          this.deps.broadcast({ type: 'labelChanged', ids: await c('change', m.runDir, m.id, 'relabel', m.label, m.spotCheck === true) });
          this.deps.onRelabel?.();
          await this.sendCalibration(m.runDir, this.deps.broadcast);
          break;
        case 'exclude':
        case 'unsure':
        case 'confirm':
          this.deps.broadcast({ type: 'labelChanged', ids: await c('change', m.runDir, m.id, m.type, null, m.spotCheck === true) });
          await this.sendCalibration(m.runDir, this.deps.broadcast);
          break;
        case 'undo':
        case 'redo':
          // an undone (or redone) spot-check decision changes the reviews the ranking is calibrated on
          this.deps.broadcast({ type: 'labelChanged', ids: await c(m.type, m.runDir) });
          await this.sendCalibration(m.runDir, this.deps.broadcast);
          break;
        case 'retrain': {
          this.deps.post({ type: 'retrainState', running: true, message: m.mode === 'head' ? 'Quick retrain (head) with corrected labels…' : 'Full retrain with corrected labels…' });
          const dir = await this.deps.retrain(m.runDir, m.mode);
          if (!dir) this.deps.post({ type: 'retrainState', running: false, message: 'Retrain did not start.' });
          break;
        }
        case 'exportLabels':
          await this.deps.exportLabels(m.runDir);
          break;
        case 'openFull':
          this.deps.openFull(m.runDir);
          break;
        case 'cancelTraining':
          await this.deps.cancelTraining();
          break;
        case 'cspViolation':
          this.deps.onCspViolation(m.violation);
          break;
        case 'requestDups': {
          const r = await c('dupPage', m.query);
          this.deps.post({ type: 'dupPage', page: { query: m.query, total: r.total, rows: dupRows(r.rows, (f) => this.serve(f)), next: r.next } });
          break;
        }
        case 'requestDupThumbs':
          await this.dupThumbs.request(m.dataset, m.ids, m.urgent);
          break;
        case 'dupFix':
        case 'dupUndo':
        case 'dupRedo': {
          const r = m.type === 'dupFix' ? await c('dupFix', m.dataset, m.tier, m.cid, m.fix) : await c('dupStep', m.dataset, m.type === 'dupUndo' ? 'undo' : 'redo');
          // every open view lists its samples again (the grid's excluded and relabelled marks, the clusters)
          if (r.ids.length) this.deps.broadcast({ type: 'labelChanged', ids: r.ids });
          this.deps.post({ type: 'dupDone', dataset: m.dataset, message: r.message });
          break;
        }
        case 'findDuplicates':
          if (!this.deps.findDuplicates) throw new Error('Find Duplicates is not available here');
          await this.deps.findDuplicates(m.dataset);
          break;
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // the curation service refuses a stored path that leads out of the dataset (paths.ts)
      if (message.startsWith('refused:')) this.refuse(message);
      this.deps.post({ type: 'error', message });
    }
  }

  /**
   * The run's calibration on its spot-check reviews, refitted when they changed (after the label change
   * was acknowledged: the grid moves on while the curation worker refits). Decisions faster than a refit
   * (about 0.3 s at 30k records) do not queue one refit each: while one is in flight, the next waits and
   * covers all the decisions made meanwhile. A failed refit is logged and reported, never undoes the decision.
   */
  private async sendCalibration(runDir: string, to: (m: HostMessage) => void): Promise<void> {
    if (this.calibrating) {
      this.calibrateAgain = { runDir, to };
      return;
    }
    this.calibrating = true;
    try {
      for (let next: { runDir: string; to: (m: HostMessage) => void } | undefined = { runDir, to }; next; ) {
        const { runDir: dir, to: send } = next;
        this.calibrateAgain = undefined;
        try {
          send({ type: 'calibration', runDir: dir, calibration: await this.deps.call('calibration', dir) });
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.deps.log(`spot-check calibration of ${dir}: ${message}`);
          this.deps.post({ type: 'error', message: `spot-check calibration failed: ${message}` });
        }
        next = this.calibrateAgain;
      }
    } finally {
      this.calibrating = false;
    }
  }

  async sendComparison(beforeDir: string, afterDir: string): Promise<void> {
    const r = await this.deps.call('compare', beforeDir, afterDir);
    this.deps.post({
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
}
