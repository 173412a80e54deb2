// Test double of the extension host at the one boundary we own, the typed message protocol
// (src/webviews/protocol.ts): it validates the webview's messages with the real parser and answers
// them the way DiagnosticsSession does (page rows and thumbnails through the same gridThumbs.ts) (src/extension/panels/diagnostics.ts, which needs vscode),
// through the real curation service, so every page, matrix and sample comes from the real store
// queries. Only the grid's read path is answered; label edits, retrain and export are not needed to
// measure the grid and are counted as ignored.
import * as path from 'node:path';
import type { CurationService } from '../../src/extension/curation/service.js';
import { gridRows, ThumbRequests } from '../../src/extension/panels/gridThumbs.js';
import { parseWebviewMessage, type HostMessage, type RunSummary, type WebviewMessage } from '../../src/webviews/protocol.js';

type Api = { [K in keyof CurationService as CurationService[K] extends (...a: never[]) => unknown ? K : never]: CurationService[K] };

/** What the host double needs of the curation worker: CurationClient, or the service in-process. */
export interface Curation {
  call<K extends keyof Api>(method: K, ...params: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>>;
}

/** The curation service in this process (tests: no worker bundle needed); same answers, no stdio hop. */
export function inProcess(service: CurationService): Curation {
  return {
    call: async (method, ...params) => (service[method] as (...a: unknown[]) => never)(...params),
  };
}

export interface HostDoubleOptions {
  curation: Curation;
  runDir: string;
  /** asWebviewUri for a dataset file. */
  src: (root: string, rel: string) => string;
  /** asWebviewUri for an absolute path (thumbnail cache files). */
  file: (file: string) => string;
  /** Delivers a message to the webview (window 'message' event). */
  post: (m: HostMessage) => Promise<void>;
}

export class HostDouble {
  /** Wall time of each requestPage round trip through the curation service, ms. */
  readonly pageMs: number[] = [];
  /** Thumbnails asked for, and the errors (unreadable images) among the answers. */
  thumbsAsked = 0;
  readonly thumbErrors: string[] = [];
  ignored = 0;
  private readonly thumbs: ThumbRequests;

  constructor(private readonly o: HostDoubleOptions) {
    // the host's own thumbnail path (src/extension/panels/gridThumbs.ts), as DiagnosticsSession uses it
    this.thumbs = new ThumbRequests((dir, ids, priority) => o.curation.call('thumbnails', dir, ids, priority), o.file, o.post, (e) => this.thumbErrors.push(e));
  }

  async handle(raw: unknown): Promise<void> {
    const m = parseWebviewMessage(raw);
    const { post } = this.o;
    if (!m) {
      this.ignored++;
      return;
    }
    try {
      await this.answer(m);
    } catch (err) {
      await post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  private async answer(m: WebviewMessage): Promise<void> {
    const { curation: c, post } = this.o;
    switch (m.type) {
      case 'ready': {
        const info = await c.call('info', this.o.runDir);
        const run: RunSummary = {
          runDir: this.o.runDir, name: path.basename(this.o.runDir), dataset: 'SYNTHETIC affectnet-like', date: new Date(0).toISOString(),
          backbone: 'resnet18', accuracy: null, status: 'done', classes: info.classes,
        };
        await post({ type: 'init', view: m.view, classes: info.classes, run: info.inStore ? run : null, runs: [run] });
        if (info.inStore) await post({ type: 'overview', overview: await c.call('overview', this.o.runDir) });
        break;
      }
      case 'requestPage': {
        const q = m.query;
        const t0 = performance.now();
        const r = await c.call('page', q.runDir, q.filter, q.sort, q.offset, q.limit);
        this.pageMs.push(performance.now() - t0);
        await post({ type: 'page', page: { query: q, total: r.total, rows: gridRows(r.rows, this.o.file) } });
        break;
      }
      case 'requestThumbs':
        this.thumbsAsked += m.ids.length;
        await this.thumbs.request(m.runDir, m.ids, m.urgent);
        break;
      case 'requestConfusion': {
        const r = await c.call('confusion', m.runDir, m.basis);
        await post({ type: 'confusion', runDir: m.runDir, basis: m.basis, classes: r.classes, matrix: r.matrix });
        break;
      }
      case 'requestSample': {
        const s = await c.call('sample', m.runDir, m.id);
        if (s) {
          const { root, ...rest } = s;
          await post({ type: 'sample', sample: { ...rest, src: this.o.src(root, s.path) } });
        }
        break;
      }
      case 'requestScatter': {
        const r = await c.call('scatter', m.runDir, m.method ?? 'pca');
        await post({ type: 'scatter', runDir: m.runDir, ...r });
        break;
      }
      default:
        this.ignored++;
    }
  }
}
