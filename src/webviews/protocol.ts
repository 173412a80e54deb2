// The one message protocol between the extension host and the KE-FER webviews. Both sides import
// these types, so a renamed field breaks the build on both sides instead of failing silently.
import type { EngineEvent } from '../engine/events.js';
import type { SampleRecord } from '../engine/eval/types.js';

export type { EngineEvent };

/** Which webview a page of HTML belongs to; the webview app reads it from <body data-view>. */
export type ViewKind = 'dashboard' | 'diagnostics' | 'diagnosticsView';

/**
 * Grid orders: the combined issue score (default, most suspicious first), the issue ranking calibrated
 * on the user's spot-check reviews, confident learning (its prune-by-noise-rate flags first, each group
 * by self-confidence), the run's p(label), the margin p(label) - max other, the gap against its class
 * (robust z within the label's class: most unusual first; neutral labels last), the raw gap, the FER+
 * votes for the predicted class (most first), the votes' entropy (annotators disagreeing most first),
 * and the spot-check: every sample of the run (filters off) in a seeded random order, whose decisions
 * calibrate the ranking.
 */
export type SortKey = 'confidence' | 'gap' | 'gapz' | 'issue' | 'margin' | 'cl' | 'calibrated' | 'votes' | 'entropy' | 'spotcheck';
/** Every sort key, in the order the panel's sort menu lists them. */
export const SORT_KEYS: readonly SortKey[] = ['issue', 'calibrated', 'cl', 'confidence', 'margin', 'gapz', 'gap', 'votes', 'entropy', 'spotcheck'];
export const isSortKey = (v: unknown): v is SortKey => (SORT_KEYS as readonly unknown[]).includes(v);
/** The orders that read the annotators' votes (the menu offers them when the run's samples have votes). */
export const VOTE_SORTS: readonly SortKey[] = ['votes', 'entropy'];
/** How the sort menu (and the host's messages) name each order. */
export const SORT_LABELS: Record<SortKey, string> = {
  issue: 'issue score', calibrated: 'issue, calibrated on your spot-check', cl: 'confident learning', confidence: 'confidence', margin: 'margin',
  gapz: 'gap vs its class (robust z)', gap: 'gap (raw)', votes: 'votes for the prediction', entropy: 'annotator disagreement (vote entropy)',
  spotcheck: 'spot-check (random order)',
};

/** Spot-check reviews so far: relabelled or excluded = issue, confirmed = not. */
export interface ReviewTally {
  n: number;
  issues: number;
  confirmed: number;
}

/**
 * The issue ranking's calibration on the run's spot-check reviews: the per-class estimated share of wrong
 * labels once there are enough reviews, else how many are still needed (and why, in `message`).
 */
export type CalibrationState = (
  | { calibrated: true; reviews: ReviewTally; classes: { name: string; n: number; reviewed: number; reviewedIssues: number; rate: number | null }[] }
  | { calibrated: false; reviews: ReviewTally; needed: number; message: string }
) & {
  /** Position in the spot-check order of the first sample not decided yet (where a review resumes); null when all are. */
  spotCheckNext: number | null;
};

/**
 * Which labels a confusion matrix (and a drill-down into one of its cells) scores the run's
 * predictions against: 'run' = the labels the run was trained/evaluated with (its metrics);
 * 'effective' = today's corrected labels (the relabel overlay applied).
 */
export type LabelBasis = 'run' | 'effective';
export type RetrainMode = 'head' | 'full';

export interface GridFilter {
  /** Class index of the run label, or null for any. */
  trueClass: number | null;
  predClass: number | null;
  /** Split name, or null for any (ignored in a cell drill-down). */
  split: string | null;
  /** true: only relabeled; false: only not relabeled; null: any (ignored in a cell drill-down). */
  relabeled: boolean | null;
  /** true: only samples whose annotators disagree about the label (FER+ votes: votes.ts); false: any (ignored in a cell drill-down). */
  disagree: boolean;
  /**
   * null: the run's misclassified samples (prediction != run label). A basis: every sample of the
   * confusion cell (trueClass, predClass) on that basis, diagonal included; both classes must be set.
   */
  cell: LabelBasis | null;
  /**
   * A selection in the embedding scatter (lasso or click): exactly these samples, right and wrong
   * predictions alike, with the label / pred / split / relabeled / disagree terms; null: none.
   * At most MAX_SELECTION ids; never together with a cell.
   */
  ids: string[] | null;
}

export interface GridQuery {
  runDir: string;
  filter: GridFilter;
  sort: SortKey;
  offset: number;
  limit: number;
}

/** One grid cell: what a thumbnail and its badges need, nothing more (pages stay small). */
export interface GridRow {
  id: string;
  /**
   * webview URI of the sample's small grid thumbnail (the host's thumbnail cache); null until the
   * host has made it (the webview asks with requestThumbs, the host answers with thumbs).
   */
  thumb: string | null;
  /** Label the run was scored against. */
  label: number;
  /** Current (effective) label after the overlay. */
  currentLabel: number;
  pred: number;
  /** The run's probability of its label. */
  confidence: number;
  gap: number;
  issue: number;
  /**
   * The current order's value for this row, as the cell shows it: issue / calibrated (0-1), cl, confidence
   * (p), margin, gap, gapz (the robust z itself: negative = below the class's median), votes (share for
   * the prediction), entropy (bits); null where the order has none (spot-check) or the value is missing.
   */
  score: number | null;
  split: string;
  relabeled: boolean;
  excluded: boolean;
  unsure: boolean;
  /** Someone confirmed the label (key C). */
  confirmed: boolean;
  /**
   * The annotators' vote counts where the dataset has them (FERPlus: Sample.votes, the 8 canonical
   * classes then unknown, not-a-face); absent otherwise. SampleDetail carries them as `votes` too.
   */
  votes?: number[];
}

/**
 * A grid thumbnail from the host: its webview URI, why the image could not be read, or dropped (the
 * host's queue had newer requests: ask again if the row is still wanted).
 */
export type GridThumb = { id: string; src: string } | { id: string; error: string } | { id: string; dropped: true };

export interface GridPage {
  query: GridQuery;
  total: number;
  rows: GridRow[];
}

/** One entry of a sample's audit log (the store's label_changes). */
export interface LabelChange {
  /** 'confirm': the label was checked and is right. */
  kind: 'label' | 'exclude' | 'unsure' | 'confirm';
  /** Labels for 'label'; 0/1 for the marks. */
  from: number;
  to: number;
  at: string;
  author: string;
  state: 'applied' | 'undone' | 'dropped';
  /** Decided during a spot-check (the random review order the calibrated ranking learns from). */
  spotCheck: boolean;
}

/** The engine's per-sample record (label = the run's label), plus what the inspector adds. */
export interface SampleDetail extends SampleRecord {
  src: string;
  /** Current (overlay) label and the dataset's original label. */
  currentLabel: number;
  origLabel: number;
  /** Where its gap and alignment sit among its class (run label, same split) in this run. */
  reference: SampleReference | null;
  /** Oldest first. */
  history: LabelChange[];
  /** The sample's prediction in every run that evaluated it, oldest first. */
  predictions: { run: string; label: number; pred: number; confidence: number }[];
  excluded: boolean;
  unsure: boolean;
  /** Someone confirmed the label (key C). */
  confirmed?: boolean;
  /** P(label wrong) under the ranking calibrated on the spot-check reviews; null until calibrated. */
  cal?: number | null;
  /**
   * When confident learning flagged the sample in this run (prune by noise rate): the class it likely
   * belongs to and that class's per-class threshold t_j (docs/label-issues.md); null when not flagged.
   */
  clFlag?: { cls: number; threshold: number } | null;
}

/**
 * One KE-FER signal of a sample against its class (the samples of the run with the same run label and
 * split): robust z against the class's median and MAD, percentile, the class's histogram; `unusual`:
 * z below -2.5 in a class of at least 30 (engine/issues/classReference.ts).
 */
export interface SignalReference {
  value: number;
  n: number;
  median: number;
  z: number;
  /** Share of the class at or below the value, 0-1. */
  percentile: number;
  unusual: boolean;
  /** Fewer than 30 samples: the reference says little and nothing is called unusual. */
  small: boolean;
  hist: { lo: number; hi: number; counts: number[] };
}

export interface SampleReference {
  /** The class (run label) and split the reference is taken from. */
  cls: number;
  split: string;
  /** The label is neutral: t_y = t_N, no gap or alignment is trained (the gap is shown, not ranked). */
  neutral: boolean;
  gap: SignalReference | null;
  align: SignalReference | null;
}

/**
 * What the panel's header says of a run: its accuracy against its own labels (out-of-fold for a
 * cross-validation run), the mean class recall, the commonest label's share, the classes too small for
 * a class reference, whether its samples carry votes, and, for a cross-validation run whose model is
 * too weak for its flags to mean much, why (rule: accuracy less than 10 points above always answering
 * the commonest label, or mean class recall below twice chance, 2/K).
 */
export interface RunOverview {
  runDir: string;
  n: number;
  accuracy: number;
  /** Mean recall over the classes that have samples (UAR). */
  uar: number;
  majority: { cls: number; share: number };
  /** Records per run label. */
  classCounts: number[];
  /** Classes with fewer than 30 records (but some). */
  smallClasses: number[];
  hasVotes: boolean;
  crossVal: { k: number; mode: string } | null;
  weak: string | null;
}

export interface RunSummary {
  runDir: string;
  name: string;
  dataset: string;
  date: string;
  backbone: string;
  accuracy: number | null;
  status: 'running' | 'done' | 'cancelled' | 'failed';
  classes: string[];
  /** Run this one retrained from, when it is a "retrain with corrected labels". */
  parent?: string;
  /** Who made it: the extension, the engine from a shell (`kefer train`, the PyTorch trainer), or known only to the store. */
  trainedBy?: 'extension' | 'cli' | 'store';
  /** Its per-sample records are in the workspace store (what the diagnostics views read). */
  inStore?: boolean;
}

export interface ScatterPoint {
  id: string;
  x: number;
  y: number;
  label: number;
  mistake: boolean;
}

/** How the scatter projects the embeddings: the trainer's PCA of every record, or a UMAP of its seeded sample. */
export type ScatterMethod = 'pca' | 'umap';

export interface RunComparison {
  /** Accuracy of each run on the samples both evaluated, each against its own run labels. */
  before: { runDir: string; accuracy: number };
  after: { runDir: string; accuracy: number };
  common: number;
  /** How many common samples changed prediction, got fixed, broke. */
  changedCount: number;
  fixed: number;
  broken: number;
  /** The first samples whose prediction changed (label = the after run's label). */
  changed: { id: string; src: string; label: number; predBefore: number; predAfter: number }[];
}

/**
 * A Content-Security-Policy violation seen by a webview (its `securitypolicyviolation` event). The
 * webviews run without 'unsafe-inline', so every report is a bug the host logs.
 */
export interface CspViolation {
  view: ViewKind;
  /** The directive that blocked it, e.g. 'style-src-attr'. */
  directive: string;
  /** What was blocked: a URL, or 'inline' / 'eval'. */
  blocked: string;
  /** The first characters of blocked inline code (the browser reports up to 40). */
  sample: string;
  source: string;
  line: number;
}

/** The duplicate finder's tiers (kefer data dups; docs/duplicates.md). */
export type DupTier = 'exact' | 'near' | 'semantic';
export const DUP_TIERS: readonly DupTier[] = ['exact', 'near', 'semantic'];
/** Cross-split leaks: the same picture in both splits. */
export type DupLeakKind = 'train-test' | 'train-val' | 'val-test';
export const DUP_LEAK_KINDS: readonly DupLeakKind[] = ['train-test', 'train-val', 'val-test'];
/** The store's leak bits (dup_clusters.leaks). */
export const DUP_LEAK_BITS: Record<DupLeakKind, number> = { 'train-test': 1, 'train-val': 2, 'val-test': 4 };
/** Clusters the view pages through at once. */
export const DUP_PAGE_SIZE = 25;
/** Most clusters one requestDups may ask for. */
export const MAX_DUP_PAGE = 200;

/** One tier of the stored scan, as the view's header reports it. */
export interface DupTierSummary {
  tier: DupTier;
  /** The similarity threshold used (1 for exact), what is compared, and how the value was chosen. */
  threshold: number;
  measure: string;
  how: string;
  clusters: number;
  images: number;
  leaks: Record<DupLeakKind, { clusters: number; images: number }>;
  leakedCopies: number;
  conflicts: number;
}

/** The dataset a duplicates view shows: its root (how messages name it), name and classes. */
export interface DupDataset {
  root: string;
  name: string;
  classes: string[];
}

export interface DupScanView {
  created: string;
  tiers: DupTierSummary[];
}

export interface DupFilter {
  tier: DupTier;
  /** Only clusters with this leak; 'any': with any leak; null: every cluster. */
  leak: DupLeakKind | 'any' | null;
  /** Only clusters whose members carried different labels at scan time. */
  conflicting: boolean;
}

/** Keyset of the last cluster of the previous page (clusters go largest first, then by id). */
export interface DupCursor {
  size: number;
  cid: number;
}

export interface DupQuery {
  /** DupDataset.root of the dataset shown. */
  dataset: string;
  filter: DupFilter;
  after: DupCursor | null;
  limit: number;
}

export interface DupMemberView {
  id: string;
  /** Webview URI of its cached thumbnail; null until made (requestDupThumbs). */
  thumb: string | null;
  split: string;
  /** Current (overlay) label and the dataset's own. */
  label: number;
  origLabel: number;
  excluded: boolean;
  /** Its highest similarity to another member (1: identical pixels); null when the scan did not keep it. */
  score: number | null;
  /** A copy that leaks: a test member of a cluster with train or validation members, a validation member with train ones. */
  leaked: boolean;
}

export interface DupClusterView {
  cid: number;
  size: number;
  /** The least similarity that joined the cluster. */
  score: number;
  leaks: DupLeakKind[];
  /** Members carried different labels at scan time. */
  conflict: boolean;
  members: DupMemberView[];
}

export interface DupPageView {
  query: DupQuery;
  /** Clusters the filter holds. */
  total: number;
  rows: DupClusterView[];
  /** The next page's cursor; null on the last page. */
  next: DupCursor | null;
}

/** A fix of one cluster, each ONE overlay action: keep one (K), exclude its leaked copies (X), relabel it (digits). */
export type DupFix = { kind: 'keepOne'; keep?: string } | { kind: 'excludeLeaks' } | { kind: 'relabel'; label: number };

/** Host -> webview. */
export type HostMessage =
  /** sort: the grid's initial order (the kefer.suspiciousLabels.ranker setting); absent: the issue score. */
  | { type: 'init'; view: ViewKind; classes: string[]; run: RunSummary | null; runs: RunSummary[]; sort?: SortKey }
  | { type: 'engine'; event: EngineEvent }
  | { type: 'page'; page: GridPage }
  | { type: 'thumbs'; runDir: string; thumbs: GridThumb[] }
  | { type: 'confusion'; runDir: string; basis: LabelBasis; classes: string[]; matrix: number[][] }
  | { type: 'sample'; sample: SampleDetail }
  | { type: 'labelChanged'; ids: string[] }
  /** available: the projections this run offers (UMAP needs the run's embedding sample). */
  | { type: 'scatter'; runDir: string; method: ScatterMethod; points: ScatterPoint[]; source: string; available: ScatterMethod[] }
  /** After init: the header's account of the run (accuracy, cross-validation strength, small classes, votes). */
  | { type: 'overview'; overview: RunOverview }
  | { type: 'comparison'; comparison: RunComparison }
  | { type: 'retrainState'; running: boolean; message: string }
  /** After the ready message and every label change: the calibration on the run's spot-check reviews. */
  | { type: 'calibration'; runDir: string; calibration: CalibrationState }
  /**
   * The duplicates view's dataset and its stored scan (null: never scanned); after init, and after
   * "KE-FER: Find Duplicates" (focus: bring the view into sight and give it the keyboard).
   */
  | { type: 'dupScan'; dataset: DupDataset; scan: DupScanView | null; focus?: boolean }
  | { type: 'dupPage'; page: DupPageView }
  | { type: 'dupThumbs'; dataset: string; thumbs: GridThumb[] }
  /** A fix, undo or redo in the duplicates view was applied: what it did (the view lists its page again on labelChanged). */
  | { type: 'dupDone'; dataset: string; message: string }
  | { type: 'error'; message: string };

/** Webview -> host. */
export type WebviewMessage =
  | { type: 'ready'; view: ViewKind }
  | { type: 'requestPage'; query: GridQuery }
  /** Grid thumbnails of these samples (ids from pages), most wanted first; the first `urgent` are on screen. */
  | { type: 'requestThumbs'; runDir: string; ids: string[]; urgent: number }
  | { type: 'requestConfusion'; runDir: string; basis: LabelBasis }
  | { type: 'requestSample'; runDir: string; id: string }
  /** method: absent = 'pca'. */
  | { type: 'requestScatter'; runDir: string; method?: ScatterMethod }
  /** Decisions; spotCheck: made in the spot-check order (they calibrate the issue ranking); absent = false. */
  | { type: 'setLabel'; runDir: string; id: string; label: number; spotCheck?: boolean }
  | { type: 'exclude'; runDir: string; id: string; spotCheck?: boolean }
  | { type: 'unsure'; runDir: string; id: string; spotCheck?: boolean }
  /** The label is right (key C). */
  | { type: 'confirm'; runDir: string; id: string; spotCheck?: boolean }
  | { type: 'undo'; runDir: string }
  | { type: 'redo'; runDir: string }
  | { type: 'retrain'; runDir: string; mode: RetrainMode }
  | { type: 'exportLabels'; runDir: string }
  | { type: 'openFull'; runDir: string }
  | { type: 'cancelTraining' }
  | { type: 'cspViolation'; violation: CspViolation }
  /** A page of the duplicates view (the store's keyset pages, largest clusters first). */
  | { type: 'requestDups'; query: DupQuery }
  /** Thumbnails of cluster members (ids from dupPage), the first `urgent` on screen. */
  | { type: 'requestDupThumbs'; dataset: string; ids: string[]; urgent: number }
  | { type: 'dupFix'; dataset: string; tier: DupTier; cid: number; fix: DupFix }
  /** Undo / redo the dataset's last overlay action (a whole fix at once). */
  | { type: 'dupUndo'; dataset: string }
  | { type: 'dupRedo'; dataset: string }
  /** Runs "KE-FER: Find Duplicates" on the view's dataset (the view's button when it has no scan). */
  | { type: 'findDuplicates'; dataset: string };

export type HostMessageType = HostMessage['type'];
export type WebviewMessageType = WebviewMessage['type'];

const WEBVIEW_TYPES: ReadonlySet<string> = new Set<WebviewMessageType>([
  'ready', 'requestPage', 'requestThumbs', 'requestConfusion', 'requestSample', 'requestScatter', 'setLabel', 'exclude',
  'unsure', 'confirm', 'undo', 'redo', 'retrain', 'exportLabels', 'openFull', 'cancelTraining', 'cspViolation',
  'requestDups', 'requestDupThumbs', 'dupFix', 'dupUndo', 'dupRedo', 'findDuplicates',
]);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isBasis = (v: unknown): v is LabelBasis => v === 'run' || v === 'effective';
const isTier = (v: unknown): v is DupTier => (DUP_TIERS as readonly unknown[]).includes(v);
/** A dataset root as the host named it: an absolute-looking path, bounded (the host checks it is a registered root). */
const isRoot = (v: unknown): v is string => isStr(v) && v.length > 0 && v.length <= 4096 && !v.includes('\0');
const isId = (v: unknown): v is string => isStr(v) && v.length <= 1000;
const isView = (v: unknown): v is ViewKind => v === 'dashboard' || v === 'diagnostics' || v === 'diagnosticsView';
/** An optional boolean field: absent, or a boolean. */
const isFlag = (v: unknown): v is boolean | undefined => v === undefined || typeof v === 'boolean';
/** A decision's spot-check flag, kept only when set (absent = false). */
const spot = (v: boolean | undefined): { spotCheck?: true } => (v ? { spotCheck: true } : {});
/** Report text is page-controlled: keep log lines bounded. */
const clip = (v: unknown): string => (isStr(v) ? v.slice(0, 300) : '');

/** Most thumbnails one requestThumbs may ask for (the grid asks for about three pages). */
export const MAX_THUMB_IDS = 1000;
/** Most samples a scatter selection may hold (the store's selectionPage bound). */
export const MAX_SELECTION = 50_000;

/**
 * Validates a message that arrived from a webview. Webview content is less trusted than the host,
 * so the host checks shape before acting (a relabel with a bad class index must never reach the store).
 */
export function parseWebviewMessage(raw: unknown, numClasses = 8): WebviewMessage | undefined {
  if (!isObj(raw) || !isStr(raw.type) || !WEBVIEW_TYPES.has(raw.type)) return undefined;
  const m = raw as Record<string, unknown> & { type: WebviewMessageType };
  switch (m.type) {
    case 'ready':
      return isView(m.view) ? { type: 'ready', view: m.view } : undefined;
    case 'requestPage': {
      const q = m.query;
      if (!isObj(q) || !isStr(q.runDir) || !isInt(q.offset) || !isInt(q.limit) || q.offset < 0 || q.limit < 0 || q.limit > 5000) return undefined;
      if (!isSortKey(q.sort)) return undefined;
      const f = q.filter;
      if (!isObj(f)) return undefined;
      const cls = (v: unknown): number | null | undefined => (v === null ? null : isInt(v) && v >= 0 && v < numClasses ? v : undefined);
      const trueClass = cls(f.trueClass);
      const predClass = cls(f.predClass);
      if (trueClass === undefined || predClass === undefined) return undefined;
      if (!(f.split === null || isStr(f.split))) return undefined;
      if (!(f.relabeled === null || typeof f.relabeled === 'boolean')) return undefined;
      if (typeof f.disagree !== 'boolean') return undefined;
      const cell = f.cell === null ? null : isBasis(f.cell) ? f.cell : undefined;
      if (cell === undefined || (cell !== null && (trueClass === null || predClass === null))) return undefined;
      const ids = f.ids;
      if (!(ids === null || (Array.isArray(ids) && ids.length <= MAX_SELECTION && ids.every((x) => isStr(x) && x.length <= 1000)))) return undefined;
      if (ids !== null && cell !== null) return undefined;
      return {
        type: 'requestPage',
        query: { runDir: q.runDir, offset: q.offset, limit: q.limit, sort: q.sort, filter: { trueClass, predClass, split: f.split, relabeled: f.relabeled, disagree: f.disagree, cell, ids: ids === null ? null : [...(ids as string[])] } },
      };
    }
    case 'requestThumbs': {
      const ids = m.ids;
      if (!isStr(m.runDir) || !Array.isArray(ids) || ids.length > MAX_THUMB_IDS || !ids.every((x) => isStr(x) && x.length <= 1000)) return undefined;
      const urgent = isInt(m.urgent) && m.urgent >= 0 ? Math.min(m.urgent, ids.length) : 0;
      return { type: 'requestThumbs', runDir: m.runDir, ids: [...ids] as string[], urgent };
    }
    case 'requestConfusion':
      return isStr(m.runDir) && isBasis(m.basis) ? { type: 'requestConfusion', runDir: m.runDir, basis: m.basis } : undefined;
    case 'retrain':
      return isStr(m.runDir) && (m.mode === 'head' || m.mode === 'full') ? { type: 'retrain', runDir: m.runDir, mode: m.mode } : undefined;
    case 'requestScatter':
      if (!isStr(m.runDir) || !(m.method === undefined || m.method === 'pca' || m.method === 'umap')) return undefined;
      return { type: 'requestScatter', runDir: m.runDir, ...(m.method ? { method: m.method } : {}) };
    case 'undo':
    case 'redo':
    case 'exportLabels':
    case 'openFull':
      return isStr(m.runDir) ? { type: m.type, runDir: m.runDir } : undefined;
    case 'requestSample':
      return isStr(m.runDir) && isStr(m.id) ? { type: m.type, runDir: m.runDir, id: m.id } : undefined;
    case 'exclude':
    case 'unsure':
    case 'confirm':
      return isStr(m.runDir) && isStr(m.id) && isFlag(m.spotCheck) ? { type: m.type, runDir: m.runDir, id: m.id, ...spot(m.spotCheck) } : undefined;
    case 'setLabel':
      return isStr(m.runDir) && isStr(m.id) && isInt(m.label) && m.label >= 0 && m.label < numClasses && isFlag(m.spotCheck)
        ? { type: 'setLabel', runDir: m.runDir, id: m.id, label: m.label, ...spot(m.spotCheck) }
        : undefined;
    case 'cancelTraining':
      return { type: 'cancelTraining' };
    case 'requestDups': {
      const q = m.query;
      if (!isObj(q) || !isRoot(q.dataset) || !isInt(q.limit) || q.limit < 1 || q.limit > MAX_DUP_PAGE) return undefined;
      const f = q.filter;
      if (!isObj(f) || !isTier(f.tier) || typeof f.conflicting !== 'boolean') return undefined;
      if (!(f.leak === null || f.leak === 'any' || (DUP_LEAK_KINDS as readonly unknown[]).includes(f.leak))) return undefined;
      const a = q.after;
      if (!(a === null || (isObj(a) && isInt(a.size) && a.size >= 1 && isInt(a.cid) && a.cid >= 1))) return undefined;
      // key order as the webview builds them, so an echoed query compares equal as JSON
      return {
        type: 'requestDups',
        query: { dataset: q.dataset, filter: { tier: f.tier, leak: f.leak as DupFilter['leak'], conflicting: f.conflicting }, after: a === null ? null : { size: a.size as number, cid: a.cid as number }, limit: q.limit },
      };
    }
    case 'requestDupThumbs': {
      const ids = m.ids;
      if (!isRoot(m.dataset) || !Array.isArray(ids) || ids.length > MAX_THUMB_IDS || !ids.every(isId)) return undefined;
      const urgent = isInt(m.urgent) && m.urgent >= 0 ? Math.min(m.urgent, ids.length) : 0;
      return { type: 'requestDupThumbs', dataset: m.dataset, ids: [...ids] as string[], urgent };
    }
    case 'dupFix': {
      const x = m.fix;
      if (!isRoot(m.dataset) || !isTier(m.tier) || !isInt(m.cid) || m.cid < 1 || !isObj(x)) return undefined;
      let fix: DupFix;
      if (x.kind === 'excludeLeaks') fix = { kind: 'excludeLeaks' };
      else if (x.kind === 'keepOne' && (x.keep === undefined || isId(x.keep))) fix = x.keep === undefined ? { kind: 'keepOne' } : { kind: 'keepOne', keep: x.keep };
      else if (x.kind === 'relabel' && isInt(x.label) && x.label >= 0 && x.label < numClasses) fix = { kind: 'relabel', label: x.label };
      else return undefined;
      return { type: 'dupFix', dataset: m.dataset, tier: m.tier, cid: m.cid, fix };
    }
    case 'dupUndo':
    case 'dupRedo':
    case 'findDuplicates':
      return isRoot(m.dataset) ? { type: m.type, dataset: m.dataset } : undefined;
    case 'cspViolation': {
      const v = m.violation;
      if (!isObj(v) || !isView(v.view) || !isStr(v.directive) || !v.directive) return undefined;
      const line = isInt(v.line) && v.line >= 0 ? v.line : 0;
      return { type: 'cspViolation', violation: { view: v.view, directive: clip(v.directive), blocked: clip(v.blocked), sample: clip(v.sample), source: clip(v.source), line } };
    }
  }
}

/**
 * Keyboard relabel map shared by the webview and the tests: digits 1..8 pick a class; A accepts the model's
 * suggestion (its predicted class); C confirms the given label.
 */
export type KeyAction =
  | { kind: 'label'; label: number } | { kind: 'accept' } | { kind: 'confirm' } | { kind: 'undo' } | { kind: 'redo' } | { kind: 'exclude' } | { kind: 'unsure' }
  | { kind: 'next' } | { kind: 'prev' };

export function keyToAction(key: string, numClasses: number): KeyAction | undefined {
  if (/^[1-9]$/.test(key)) {
    const label = Number(key) - 1;
    return label < numClasses ? { kind: 'label', label } : undefined;
  }
  switch (key) {
    case 'a': case 'A': return { kind: 'accept' };
    case 'c': case 'C': return { kind: 'confirm' };
    case 'u': case 'U': return { kind: 'undo' };
    case 'r': case 'R': return { kind: 'redo' };
    case 'x': case 'X': return { kind: 'exclude' };
    case '?': return { kind: 'unsure' };
    case 'ArrowRight': case 'j': return { kind: 'next' };
    case 'ArrowLeft': case 'k': return { kind: 'prev' };
    default: return undefined;
  }
}
