// The runs the extension lists, whoever trained them: every folder under the runs directory with a
// run.json (the engine writes it: `kefer train` from a shell, the extension, the PyTorch trainer) or a
// studio.json (the extension's own notes), and every run registered in the workspace store (the
// engine records its folder, which may lie elsewhere or on another machine). Folder runs are read
// from disk when asked (at most once a second, or at once after invalidate()); the store's runs
// come from the curation worker on refresh(). No vscode import: the host wires a file watcher to
// invalidate() / refresh().
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunSummary } from '../../webviews/protocol.js';
import type { StoreCatalogue, StoreRunBrief } from '../curation/service.js';
import { readMeta, type StudioMeta } from './runFiles.js';

/** What run.json says of a run (the fields the list shows; the engine writes more). */
interface EngineRun {
  status?: string;
  started?: string;
  config?: { backbone?: string; mode?: string };
  dataset?: { root?: string; format?: string };
  valAccuracy?: number | null;
  parent?: string;
}

function readEngineRun(runDir: string): EngineRun | undefined {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as unknown;
    return j && typeof j === 'object' && !Array.isArray(j) ? (j as EngineRun) : undefined;
  } catch {
    return undefined;
  }
}

const STATUSES: readonly RunSummary['status'][] = ['running', 'done', 'cancelled', 'failed'];
function status(...candidates: (string | undefined)[]): RunSummary['status'] {
  for (const c of candidates) if (c && (STATUSES as readonly string[]).includes(c)) return c as RunSummary['status'];
  return 'done';
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** One run's summary from its folder's files and the store's record of it (either may be missing). */
export function summarize(runDir: string, meta: StudioMeta | undefined, engine: EngineRun | undefined, stored: StoreRunBrief | undefined): RunSummary {
  const datasetRoot = str(engine?.dataset?.root);
  return {
    runDir,
    name: path.basename(runDir),
    dataset: meta?.datasetName ?? stored?.dataset.name ?? (datasetRoot ? path.basename(datasetRoot) : '?'),
    date: meta?.startedAt ?? str(engine?.started) ?? stored?.created ?? '',
    backbone: meta?.backbone ?? str(engine?.config?.backbone) ?? stored?.backbone ?? '',
    accuracy: meta?.accuracy ?? stored?.accuracy ?? (typeof engine?.valAccuracy === 'number' ? engine.valAccuracy : null),
    // run.json is written as the engine goes (running -> done): the freshest word on a live run
    status: status(str(engine?.status), meta?.status, stored?.status),
    classes: meta?.classes?.length ? meta.classes : (stored?.dataset.classes ?? []),
    parent: meta?.parent ?? stored?.parent ?? undefined,
    trainedBy: meta ? 'extension' : engine ? 'cli' : 'store',
    inStore: stored !== undefined && stored.records > 0,
  };
}

/** Run folders under runsDir (run.json or studio.json in them), with what the store knows of each. */
export function listRunFolders(runsDir: string, stored: ReadonlyMap<string, StoreRunBrief> = new Map()): RunSummary[] {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(runsDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: RunSummary[] = [];
  for (const e of names) {
    if (!e.isDirectory()) continue;
    const dir = path.join(runsDir, e.name);
    const meta = readMeta(dir);
    const engine = readEngineRun(dir);
    if (meta || engine) out.push(summarize(dir, meta, engine, stored.get(e.name)));
  }
  return out;
}

/** Folder runs plus the store's runs without a folder here; newest first. A store run is matched to a folder by id (= folder name). */
export function mergeRuns(runsDir: string | undefined, store: StoreCatalogue): RunSummary[] {
  const byId = new Map(store.runs.map((r) => [r.id, r]));
  const folders = runsDir ? listRunFolders(runsDir, byId) : [];
  const seen = new Set(folders.map((r) => r.name));
  const storeOnly = store.runs
    .filter((r) => !seen.has(r.id))
    // the engine's recorded folder, when it is named after the run (else the panel could not find it by name)
    .map((r) => summarize(r.runDir && path.basename(r.runDir) === r.id ? r.runDir : path.join(runsDir ?? '.', r.id), undefined, undefined, r));
  return [...folders, ...storeOnly].sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : a.name.localeCompare(b.name)));
}

/** How long a folder listing is reused before the disk is read again. */
const FOLDER_TTL_MS = 1000;

export class RunCatalogue {
  private store: StoreCatalogue = { runs: [], datasetRoots: [] };
  private cached: { at: number; runs: RunSummary[] } | undefined;
  private refreshing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly runsDir: () => string | undefined,
    /** The curation worker's `catalogue` call. */
    private readonly fetchStore: () => Promise<StoreCatalogue>,
    /** Told after a refresh that changed the list or the dataset roots. */
    private readonly onChange: () => void = () => undefined,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  runs(): RunSummary[] {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > FOLDER_TTL_MS) this.cached = { at: now, runs: mergeRuns(this.runsDir(), this.store) };
    return this.cached.runs;
  }

  /** Dataset roots registered in the store (the webviews' roots; ResourceRoots checks them). */
  datasetRoots(): string[] {
    return this.store.datasetRoots;
  }

  /** The store's record of a run, when it has one. */
  stored(runId: string): StoreRunBrief | undefined {
    return this.store.runs.find((r) => r.id === runId);
  }

  /** Forget the folder listing (a watcher saw a run.json or studio.json change). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** Reads the store's runs again (coalesced: one refresh at a time, one more after it if asked meanwhile). */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        const before = JSON.stringify([this.runs(), this.store.datasetRoots]);
        try {
          this.store = await this.fetchStore();
        } catch (err) {
          this.log(`runs list: the workspace store could not be read: ${err instanceof Error ? err.message : String(err)}`);
        }
        this.invalidate();
        if (JSON.stringify([this.runs(), this.store.datasetRoots]) !== before) this.onChange();
      } while (this.again);
    })().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }
}
