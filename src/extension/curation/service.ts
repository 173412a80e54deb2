// The curation service: answers the diagnostics views' queries for a run from the workspace store
// (src/engine/store, <workspace>/.kefer/kefer.db) and records label changes there. It runs inside
// the curation worker process (the host runtime as Node), so SQLite and big record sets never load into
// the extension host. Paths come back relative to the dataset root; the host makes webview URIs.
// A run is the store run whose id is its folder name (what `kefer train --store` registers).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  cellPage, compareRuns, confirmLabel, confusion, countMistakes, describeStoreError, exportLabels, getDataset, getRun, importRecordsJsonl, latestDupScan, listDatasets, listRuns, mistakesPage, openStore,
  recalibrate, redo, relabel, runKey, runRecordBriefs, runRecordsSignature, runSampleRecords, sampleHistory, selectionPage, setMark, spotCheckNext, spotCheckPage, undo, writeCalibrationChunk,
  type DatasetRow, type ExportFormat, type ExportResult, type MistakeFilter, type PendingScores, type RunRecords,
  type LabelChange as StoreChange, type RecordRow, type Store,
} from '../../engine/store/index.js';
import { readClassStats } from '../../engine/store/reference.js';
import { percentileOf, robustZ, SMALL_CLASS, unusuallyLow, type ClassStats } from '../../engine/issues/classReference.js';
import type {
  CalibrationState, DupDataset, DupFix, DupMemberView, DupQuery, DupScanView, DupTier, GridFilter, GridRow, LabelBasis, LabelChange, RunOverview, SampleDetail, SampleReference,
  ScatterMethod, ScatterPoint, SignalReference, SortKey,
} from '../../webviews/protocol.js';
import { applyDupFix, clusterPage, datasetByRoot, scanSummary, type DupClusterWithLeaks } from './dups.js';
import { prepareRecords } from '../../engine/issues/calibrate.js';
import { insideRoot } from './paths.js';
import { ThumbnailCache, ThumbnailDropped } from './thumbnails.js';
import { embeddingFiles, type UmapResult } from './umap.js';
import { umapInThread } from './umapThread.js';
import { runOverview } from './overview.js';

/** A grid row before the host turns `thumb` (a cache file, null until made) into a webview URI. */
export type RawRow = Omit<GridRow, 'thumb'> & { path: string; root: string; thumb: string | null };
/** A grid thumbnail: its cache file, or why it could not be made (the message names the image). */
export type RawThumb = { id: string; file: string } | { id: string; error: string } | { id: string; dropped: true };
/** A duplicate cluster member before the host turns `thumb` (a cache file, null until made) into a webview URI. */
export type RawDupMember = Omit<DupMemberView, 'thumb'> & { thumb: string | null };
export type RawDupCluster = Omit<DupClusterWithLeaks, 'members' | 'tier'> & { members: RawDupMember[] };
/** A sample detail before the host turns `path` into a webview URI. */
export type RawSample = Omit<SampleDetail, 'src'> & { root: string };

export interface RunInfo {
  runId: string;
  /** False while the run is training, or when it was trained without the store. */
  inStore: boolean;
  classes: string[];
  root: string;
  records: number;
}

export interface Comparison {
  accBefore: number;
  accAfter: number;
  common: number;
  changedCount: number;
  fixed: number;
  broken: number;
  root: string;
  changed: { id: string; path: string; label: number; predBefore: number; predAfter: number }[];
}

/** A run registered in the store, as the runs list shows it (whoever trained it: CLI, extension, torch). */
export interface StoreRunBrief {
  id: string;
  /** The run folder the engine recorded when it registered the run (may be on another machine). */
  runDir: string | null;
  created: string;
  backbone: string;
  status: string;
  parent: string | null;
  records: number;
  /** Validation accuracy the engine recorded, when it did. */
  accuracy: number | null;
  dataset: { name: string; spec: string | null; root: string; classes: string[] };
}

/** The store's runs and the dataset roots it registered: the runs list and the webviews' roots. */
export interface StoreCatalogue {
  runs: StoreRunBrief[];
  datasetRoots: string[];
}

/** The store's export format that writes a dataset's own label files (folder-like layouts as folders). */
export function exportFormatFor(datasetFormat: string): ExportFormat {
  switch (datasetFormat) {
    case 'rafdb': return 'rafdb';
    case 'ferplus': return 'ferplus';
    case 'affectnet': return 'affectnet-csv';
    case 'folder': case 'synthetic': case 'ckplus': return 'folder';
    default: return 'list'; // fer2013 (pixels in a CSV), list: the KE-FER list format
  }
}

/** The value of a record's column that the grid's current order sorts by, as a cell shows it. */
export function sortScore(r: RecordRow, sort: SortKey): number | null {
  switch (sort) {
    case 'issue': return r.issue;
    case 'calibrated': return r.cal;
    case 'cl': return r.cl;
    case 'confidence': return r.confidence;
    case 'margin': return r.margin;
    case 'gap': return r.gap;
    case 'gapz': return r.gapSusp === null ? null : -r.gapSusp;
    case 'votes': return r.votesPred;
    case 'entropy': return r.voteEntropy;
    case 'spotcheck': return null;
  }
}

/** One signal of a sample against its class's statistics. */
export function signalReference(value: number | null, s: ClassStats | null): SignalReference | null {
  if (value === null || !s) return null;
  const z = robustZ(value, s);
  return { value, n: s.n, median: s.median, z, percentile: percentileOf(value, s), unusual: unusuallyLow(z, s.n), small: s.n < SMALL_CLASS, hist: s.hist };
}

export function toProtocolChange(c: StoreChange): LabelChange {
  return { kind: c.kind, from: c.oldValue, to: c.newValue, at: c.time, author: c.author, state: c.state, spotCheck: c.spotCheck };
}

export class CurationService {
  private opened: Store | undefined;
  /** Per run folder: its UMAP (the run's embedding sample never changes), or the one being computed. */
  private umapCache = new Map<string, Promise<UmapResult>>();
  /**
   * Per run: its records as the calibration reads them, decoded once and read again when their signature
   * changes (a re-import, here or by the CLI in another process).
   */
  private recordsCache = new Map<string, { signature: string; records: RunRecords }>();
  /** Per run: the refit whose scores are being written in chunks (one at a time; a newer refit replaces it). */
  private scoreWrites = new Map<string, { pending: PendingScores; cancelled: boolean }>();
  /** Dataset root + sample id -> image path, from the pages served: the grid asks thumbnails by id. */
  private paths = new Map<string, string>();
  private readonly thumbs: ThumbnailCache | undefined;

  /** thumbDir: where grid thumbnails are cached (the extension's global storage); none: no thumbnails. */
  constructor(private readonly storePath: string, thumbDir?: string) {
    this.thumbs = thumbDir ? new ThumbnailCache(thumbDir) : undefined;
  }

  private get store(): Store {
    // Opened lazily: the first training run creates the file (openStore would too, with migrations).
    // quick_check before the first write: the worker opens the store once a session (about a second at AffectNet scale)
    this.opened ??= openStore(this.storePath, { verify: 'quick' });
    return this.opened;
  }

  private runId(runDir: string): string {
    return path.basename(runDir);
  }

  private datasetOf(runDir: string): { id: number; root: string; classes: string[]; format: string } {
    const run = getRun(this.store, this.runId(runDir));
    const d = getDataset(this.store, run.dataset);
    return { id: d.id, root: d.root, classes: [...d.classes], format: d.format };
  }

  info(runDir: string): RunInfo {
    const runId = this.runId(runDir);
    // Outside the try: a damaged store is an error the user must see, not "run not in the store".
    const store = this.store;
    try {
      const run = getRun(store, runId);
      const d = getDataset(store, run.dataset);
      return { runId, inStore: true, classes: [...d.classes], root: d.root, records: run.records };
    } catch (err) {
      if (describeStoreError(err)) throw err;
      return { runId, inStore: false, classes: [], root: '', records: 0 };
    }
  }

  page(runDir: string, filter: GridFilter, sort: SortKey, offset: number, limit: number): { total: number; rows: RawRow[] } {
    const id = this.runId(runDir);
    const { root } = this.datasetOf(runDir);
    const opts = { sort, offset, limit: Math.max(1, limit) };
    const row = (r: RecordRow): RawRow => this.toRow(r, root, sort);
    if (sort === 'spotcheck') {
      // Every record of the run, filters ignored: a spot-check is a random sample of the whole run.
      const total = getRun(this.store, id).records;
      const rows = offset < total ? spotCheckPage(this.store, id, { offset, limit: opts.limit }).rows : [];
      return { total, rows: rows.map(row) };
    }
    if (filter.cell !== null && filter.trueClass !== null && filter.predClass !== null) {
      const m = confusion(this.store, id, filter.cell).matrix;
      const total = m[filter.trueClass]?.[filter.predClass] ?? 0;
      const p = cellPage(this.store, id, filter.trueClass, filter.predClass, { ...opts, basis: filter.cell });
      return { total, rows: p.rows.map(row) };
    }
    const f: MistakeFilter = {
      trueClass: filter.trueClass ?? undefined, predClass: filter.predClass ?? undefined,
      split: filter.split ?? undefined, relabeled: filter.relabeled ?? undefined, disagree: filter.disagree || undefined,
    };
    if (filter.ids !== null) {
      // a scatter selection: its samples, right and wrong, with the other filters
      const p = selectionPage(this.store, id, filter.ids, f, opts);
      return { total: p.total, rows: p.rows.map(row) };
    }
    const total = countMistakes(this.store, id, f);
    const rows = offset < total ? mistakesPage(this.store, id, f, opts).rows : [];
    return { total, rows: rows.map(row) };
  }

  private toRow(r: RecordRow, root: string, sort: SortKey): RawRow {
    // bounded: a page of ids is what the grid asks thumbnails for next; older ones fall back to the store
    if (this.paths.size >= 50_000) this.paths.clear();
    this.paths.set(`${root}\0${r.id}`, r.path);
    return {
      id: r.id, path: r.path, root, thumb: this.cachedThumb(root, r.path), label: r.label, currentLabel: r.effLabel, pred: r.pred,
      confidence: r.confidence, gap: r.gap, issue: r.issue, score: sortScore(r, sort), split: r.split, relabeled: r.relabeled, excluded: r.excluded, unsure: r.unsure,
      confirmed: r.confirmed, ...(r.votes ? { votes: r.votes } : {}),
    };
  }

  private cachedThumb(root: string, rel: string): string | null {
    if (!this.thumbs) return null;
    try {
      return this.thumbs.cached(insideRoot(root, rel));
    } catch {
      return null; // outside the root: never thumbnailed (thumbnails() says why)
    }
  }

  /**
   * Grid thumbnails of a run's samples, made on first request (ThumbnailCache). Higher priority is
   * made first: the host numbers its requests so the newest (what is on screen) goes ahead.
   */
  async thumbnails(runDir: string, ids: string[], priority = 0): Promise<RawThumb[]> {
    return this.thumbsOf(this.datasetOf(runDir), ids, priority);
  }

  private async thumbsOf(d: { id: number; root: string }, ids: string[], priority: number): Promise<RawThumb[]> {
    const cache = this.thumbs;
    if (!cache) throw new Error('no thumbnail cache folder configured');
    return Promise.all(ids.map(async (id): Promise<RawThumb> => {
      try {
        const rel = this.paths.get(`${d.root}\0${id}`) ?? sampleHistory(this.store, { dataset: d.id, id }).sample.path;
        // insideRoot: a stored path that leads out of the dataset (.., absolute, a symlink) is refused
        return { id, file: await cache.get(insideRoot(d.root, rel), priority) };
      } catch (err) {
        if (err instanceof ThumbnailDropped) return { id, dropped: true };
        return { id, error: err instanceof Error ? err.message : String(err) };
      }
    }));
  }

  confusion(runDir: string, basis: LabelBasis): { classes: string[]; matrix: number[][]; accuracy: number; n: number } {
    const c = confusion(this.store, this.runId(runDir), basis);
    return { classes: c.classes, matrix: c.matrix, accuracy: c.accuracy, n: c.n };
  }

  /**
   * Where a record's gap and alignment sit among its class: the records of the run with the same run
   * label and split (run_class_stats, written at import).
   */
  reference(runDir: string, rec: { split: string; label: number; gap: number; align: number | null }): SampleReference {
    const rk = runKey(this.store, this.runId(runDir));
    const st = readClassStats(this.store.db, rk, rec.split, rec.label);
    const neutral = this.datasetOf(runDir).classes.indexOf('neutral') === rec.label;
    const gap = signalReference(rec.gap, st.gap);
    // a neutral label's gap is shown against its class, never called unusual: no gap is trained there
    return { cls: rec.label, split: rec.split, neutral, gap: gap && neutral ? { ...gap, unusual: false } : gap, align: signalReference(rec.align, st.align) };
  }

  /** The panel header's account of a run (overview.ts). */
  overview(runDir: string): RunOverview {
    return runOverview(this.store, this.runId(runDir), runDir);
  }

  sample(runDir: string, sampleId: string): RawSample | undefined {
    const runId = this.runId(runDir);
    const d = this.datasetOf(runDir);
    const h = sampleHistory(this.store, { dataset: d.id, id: sampleId });
    const rec = h.records.find((r) => r.run === runId) ?? h.records.at(-1);
    if (!rec) return undefined;
    // Checked here as well as by the host: the image of a path leading out of the dataset is never shown.
    insideRoot(d.root, h.sample.path);
    return {
      id: sampleId, path: h.sample.path, root: d.root, split: h.sample.split,
      label: rec.label, currentLabel: h.sample.label, origLabel: h.sample.origLabel, pred: rec.pred, probs: rec.probs,
      simText: rec.simText, simNeutral: rec.simNeutral, gap: rec.gap, align: rec.align,
      reference: rec.run === runId ? this.reference(runDir, rec) : null,
      history: h.changes.map(toProtocolChange),
      predictions: h.records.map((r) => ({ run: r.run, label: r.label, pred: r.pred, confidence: r.confidence })),
      excluded: h.sample.excluded, unsure: h.sample.unsure, confirmed: h.sample.confirmed, clFlag: rec.clFlag, cal: rec.cal,
      // the annotators' votes (FERPlus), shown beside the label; absent for datasets without them
      ...(h.sample.votes ? { votes: h.sample.votes } : {}),
    };
  }

  /**
   * Relabel, confirm the label, or toggle the exclude / unsure mark; the author is the store's default
   * (git user). spotCheck: decided in the spot-check order (such decisions calibrate the issue ranking).
   */
  change(runDir: string, sampleId: string, action: 'relabel' | 'exclude' | 'unsure' | 'confirm', label: number | null, spotCheck = false): string[] {
    const runId = this.runId(runDir);
    const key = { dataset: this.datasetOf(runDir).id, id: sampleId };
    const opts = { runId, spotCheck };
    if (action === 'relabel') {
      if (label === null) throw new Error('relabel needs a class');
      relabel(this.store, key, label, opts);
    } else if (action === 'confirm') {
      confirmLabel(this.store, key, opts);
    } else {
      const s = sampleHistory(this.store, key).sample;
      setMark(this.store, key, action, !(action === 'exclude' ? s.excluded : s.unsure), opts);
    }
    return [sampleId];
  }

  /**
   * The run's calibration on its spot-check reviews, refitted when they changed since the last one. The
   * records and their standardised signals are read once per run (again only after a re-import), so a
   * refit is a fit on the reviews and a pass of dot products: milliseconds at 300k records. The new
   * scores are written to the store in chunks afterwards (writeScores), off the path of the decision;
   * the calibrated sort follows once they are in.
   */
  calibration(runDir: string): CalibrationState {
    const id = this.runId(runDir);
    const records = (): RunRecords => {
      const signature = runRecordsSignature(this.store, id);
      let r = this.recordsCache.get(id);
      if (r?.signature !== signature) {
        const read = runSampleRecords(this.store, id);
        const neutral = Math.max(0, getDataset(this.store, getRun(this.store, id).dataset).classes.indexOf('neutral'));
        this.recordsCache.set(id, (r = { signature, records: { ...read, prepared: prepareRecords(read.records, { neutralIndex: neutral }) } }));
      }
      return r.records;
    };
    const inflight = this.scoreWrites.get(id);
    const c = recalibrate(this.store, id, { records, deferWrite: true, pending: inflight?.pending.summary });
    if (!c.calibrated && inflight) inflight.cancelled = true; // the reviews were undone below the minimum
    if (c.calibrated && 'pendingScores' in c && c.pendingScores) this.writeScores(id, c.pendingScores);
    const next = spotCheckNext(this.store, id);
    return c.calibrated
      ? { calibrated: true, reviews: c.reviews, classes: c.classes, spotCheckNext: next }
      : { calibrated: false, reviews: c.reviews, needed: c.needed, message: c.message, spotCheckNext: next };
  }

  /** Rows per transaction of a background score write: tens of milliseconds each, so requests interleave. */
  static readonly SCORE_CHUNK = 20_000;

  /** Writes a refit's scores in chunks, yielding between them; a newer refit of the run cancels it. */
  private writeScores(runId: string, pending: PendingScores): void {
    const prev = this.scoreWrites.get(runId);
    if (prev) prev.cancelled = true;
    const job = { pending, cancelled: false };
    this.scoreWrites.set(runId, job);
    const step = (from: number): void => {
      if (job.cancelled || !this.opened) return;
      try {
        writeCalibrationChunk(this.store, pending, from, from + CurationService.SCORE_CHUNK);
      } catch (err) {
        job.cancelled = true;
        this.onBackgroundError(`calibrated scores of ${runId}: ${err instanceof Error ? err.message : String(err)}`);
      }
      const to = from + CurationService.SCORE_CHUNK;
      if (!job.cancelled && to < pending.samples.length) setImmediate(() => step(to));
      else if (this.scoreWrites.get(runId) === job) this.scoreWrites.delete(runId);
    };
    setImmediate(() => step(0));
  }

  /** Resolves when no background score write is left (tests, the bench). */
  async scoresWritten(): Promise<void> {
    while (this.scoreWrites.size > 0) await new Promise((r) => setImmediate(r));
  }

  /** Where a background write reports its failure (the worker logs it). */
  onBackgroundError: (message: string) => void = () => undefined;

  undo(runDir: string): string[] {
    const c = undo(this.store, this.datasetOf(runDir).id);
    return c ? [c.sampleId] : [];
  }

  redo(runDir: string): string[] {
    const c = redo(this.store, this.datasetOf(runDir).id);
    return c ? [c.sampleId] : [];
  }

  /**
   * The run's scatter: 'pca' reads its scatter.json (2-D PCA of each record's embedding, written by the
   * trainer); 'umap' a UMAP of its embedding sample (embeddings.npy), computed on a worker thread once per
   * run folder. Points are coloured by current label. A head retrain keeps its parent's encoder frozen and
   * writes neither: the parent's are used.
   */
  async scatter(runDir: string, method: ScatterMethod = 'pca'): Promise<{ method: ScatterMethod; points: ScatterPoint[]; source: string; available: ScatterMethod[] }> {
    const runId = this.runId(runDir);
    const own = fs.existsSync(path.join(runDir, 'scatter.json'));
    let dir = runDir;
    let whose = 'this run’s';
    if (!own) {
      const parent = getRun(this.store, runId).parent;
      // The parent is a run id (a folder name beside this run), never a path that climbs out.
      const plain = !!parent && parent !== '.' && parent !== '..' && !/[\\/\0]/.test(parent);
      const pd = plain ? path.join(path.dirname(runDir), parent) : '';
      if (!plain || !fs.existsSync(path.join(pd, 'scatter.json'))) return { method, points: [], source: 'no embedding projection for this run', available: [] };
      dir = pd;
      whose = `parent run ${parent}’s`;
    }
    const available: ScatterMethod[] = embeddingFiles(dir) ? ['pca', 'umap'] : ['pca'];
    const recs = new Map(runRecordBriefs(this.store, runId).map((r) => [r.id, r]));
    const points: ScatterPoint[] = [];
    const add = (id: string, x: number, y: number): void => {
      const r = recs.get(id);
      if (r) points.push({ id, x, y, label: r.eff, mistake: r.pred !== r.label });
    };
    const frozen = own ? '' : ' (encoder frozen in a head retrain)';
    if (method === 'umap' && available.includes('umap')) {
      let job = this.umapCache.get(dir);
      if (!job) {
        this.umapCache.set(dir, (job = umapInThread(dir)));
        job.catch(() => this.umapCache.delete(dir)); // a failed one may be tried again
      }
      const u = await job;
      u.ids.forEach((id, i) => add(id, u.xy[i][0], u.xy[i][1]));
      return { method, points, source: `UMAP of ${whose} embeddings${frozen}: a seeded sample of ${u.ids.length.toLocaleString('en-US')} of ${recs.size.toLocaleString('en-US')} records (umap-js, cosine, 15 neighbours, ${u.seconds.toFixed(1)} s)`, available };
    }
    const xy = JSON.parse(fs.readFileSync(path.join(dir, 'scatter.json'), 'utf8')) as { id: string; x: number; y: number }[];
    for (const p of xy) add(p.id, p.x, p.y);
    return { method: 'pca', points, source: `PCA of ${whose} embeddings${frozen}`, available };
  }

  compare(beforeDir: string, afterDir: string, limit = 60): Comparison {
    const c = compareRuns(this.store, this.runId(beforeDir), this.runId(afterDir), { kind: 'changed', limit });
    return {
      accBefore: c.commonAccuracyA, accAfter: c.commonAccuracyB, common: c.common, changedCount: c.changed, fixed: c.fixed, broken: c.broken,
      root: this.datasetOf(afterDir).root,
      changed: c.rows.map((r) => ({ id: r.id, path: r.path, label: r.labelB, predBefore: r.predA, predAfter: r.predB })),
    };
  }

  /** Corrected label files of the run's dataset, in the dataset's own format, written under outDir. */
  exportLabels(runDir: string, outDir: string): ExportResult & { format: ExportFormat; out: string } {
    const d = this.datasetOf(runDir);
    const format = exportFormatFor(d.format);
    return { ...exportLabels(this.store, d.id, { format, out: outDir }), format, out: outDir };
  }

  /**
   * The store's runs and dataset roots (RunCatalogue, ResourceRoots). An absent store is an empty one:
   * listing creates no file.
   */
  catalogue(): StoreCatalogue {
    if (!this.opened && !fs.existsSync(this.storePath)) return { runs: [], datasetRoots: [] };
    const datasets = new Map(listDatasets(this.store).map((d) => [d.id, d]));
    const runs = listRuns(this.store).map((r): StoreRunBrief => {
      const d = datasets.get(r.dataset)!;
      const m = (r.metrics ?? {}) as { runDir?: unknown; valAccuracy?: unknown };
      return {
        id: r.id, runDir: typeof m.runDir === 'string' ? m.runDir : null, created: r.created, backbone: r.backbone, status: r.status,
        parent: r.parent, records: r.records, accuracy: typeof m.valAccuracy === 'number' ? m.valAccuracy : null,
        dataset: { name: path.basename(d.root), spec: d.spec, root: d.root, classes: [...d.classes] },
      };
    });
    return { runs, datasetRoots: [...datasets.values()].map((d) => d.root) };
  }

  /** The stored dataset at a root (datasetByRoot), or an error naming the root. */
  private dupDatasetAt(root: string): DatasetRow {
    const d = datasetByRoot(this.store, root);
    if (!d) throw new Error(`no dataset at ${root} in the workspace store`);
    return d;
  }

  /** The dataset root a run trained on (the duplicates view of its panel shows that dataset). */
  runDatasetRoot(runDir: string): string | null {
    try {
      return this.datasetOf(runDir).root;
    } catch (err) {
      if (describeStoreError(err)) throw err;
      return null; // a run not in the store
    }
  }

  /** The duplicates view's dataset and the summary of its stored scan (null: never scanned). */
  dupScan(root: string): { dataset: DupDataset; scan: DupScanView | null } {
    const d = this.dupDatasetAt(root);
    const scan = latestDupScan(this.store, d.id);
    return { dataset: { root: d.root, name: path.basename(d.root), classes: [...d.classes] }, scan: scan ? { created: scan.created, tiers: scanSummary(scan.summary) } : null };
  }

  /** A page of the stored scan's clusters; members carry their cached thumbnail (the host makes it a URI). */
  dupPage(q: DupQuery): { total: number; rows: RawDupCluster[]; next: { size: number; cid: number } | null } {
    const d = this.dupDatasetAt(q.dataset);
    const scan = latestDupScan(this.store, d.id);
    if (!scan) throw new Error(`no duplicate scan of ${d.root} in the workspace store: run KE-FER: Find Duplicates`);
    const p = clusterPage(this.store, scan.id, q);
    if (this.paths.size >= 50_000) this.paths.clear();
    const rows = p.rows.map(({ tier: _t, members, ...c }): RawDupCluster => ({
      ...c,
      members: members.map((m) => {
        this.paths.set(`${d.root}\0${m.id}`, m.path);
        return { id: m.id, thumb: this.cachedThumb(d.root, m.path), split: m.split, label: m.label, origLabel: m.origLabel, excluded: m.excluded, score: m.score, leaked: m.leaked };
      }),
    }));
    return { total: p.total, rows, next: p.next };
  }

  /** Thumbnails of duplicate cluster members (ids from dupPage), made on first request. */
  async dupThumbnails(root: string, ids: string[], priority = 0): Promise<RawThumb[]> {
    return this.thumbsOf(this.dupDatasetAt(root), ids, priority);
  }

  /** One fix of one cluster of the stored scan, as ONE overlay action (curation/dups.ts). */
  dupFix(root: string, tier: DupTier, cid: number, fix: DupFix): { ids: string[]; message: string } {
    return applyDupFix(this.store, this.dupDatasetAt(root), tier, cid, fix);
  }

  /** Undo / redo the dataset's last overlay action; a fix's changes go back together. */
  dupStep(root: string, action: 'undo' | 'redo'): { ids: string[]; message: string } {
    const d = this.dupDatasetAt(root);
    const c = (action === 'undo' ? undo : redo)(this.store, d.id);
    if (!c) return { ids: [], message: action === 'undo' ? 'Nothing to undo' : 'Nothing to redo' };
    const ids = c.group === undefined ? [c.sampleId] : (this.store.db.prepare('SELECT s.sid FROM label_changes c JOIN samples s ON s.sk = c.sample WHERE c.grp = ?').pluck().all(c.group) as string[]);
    const verb = action === 'undo' ? 'Undone' : 'Redone';
    return { ids, message: `${verb}: ${c.note ?? `${c.kind} of ${c.sampleId}`}${ids.length > 1 ? ` (${ids.length} changes, one action)` : ''}` };
  }

  /** After `kefer eval --per-sample` rewrote a stored run's records.jsonl: import them again. */
  importRecords(runDir: string): number {
    const file = path.join(runDir, 'records.jsonl');
    if (!this.info(runDir).inStore || !fs.existsSync(file)) return 0;
    this.recordsCache.delete(this.runId(runDir));
    return importRecordsJsonl(this.store, this.runId(runDir), file).records;
  }

  close(): void {
    // an unfinished score write is dropped: its calibration was not stored, so the next one refits
    for (const w of this.scoreWrites.values()) w.cancelled = true;
    this.scoreWrites.clear();
    this.opened?.close();
    this.opened = undefined;
  }
}
