// `kefer data dups SPEC`: exact, near and semantic duplicates, cross-split leaks, conflicting labels;
// the scan is kept in the store, and its fixes go through the relabel overlay as single actions.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CANONICAL_CLASSES } from '../classes.js';
import { loadDataset } from '../data/index.js';
import type { Dataset } from '../data/types.js';
import { findDuplicates, LEAK_KINDS, summariseTier, storedClusters, TIERS, type Embeddings, type Tier, type TierSummary } from '../dups/index.js';
import type { DupsCliEvent, DupsTierCounts } from '../events.js';
import {
  DEFAULT_STORE, effectiveLabels, excludeLeakedCopies, findDataset, keepOnePerCluster, latestDupScan, openStore, relabelDupCluster, saveDupScan, upsertDataset,
  type FixResult, type Store,
} from '../store/index.js';
import { num, oneOf } from './args.js';
import { UserError } from './errors.js';
import { parseLabel } from './store.js';

export const USAGE = `usage: kefer data dups SPEC [--run RUN] [--tiers exact,near,semantic] [--json | --events json] [--limit N]
                      [--near-threshold X] [--semantic-threshold X] [--store PATH | --no-store]
       kefer data dups SPEC --exclude-leaks | --keep-one | --relabel-cluster CID --label LABEL [--tier T] [--store PATH]
  Finds duplicates in three tiers, each reported apart: exact (same decoded pixels), near (the same
  picture resized, re-compressed, mirrored, brightened or cropped a little: perceptual hashes of the
  whole and 18 crops, then the thumbnails' correlation), semantic (cosine similarity of the encoder
  embeddings of RUN's best checkpoint, computed once and cached beside it). Prints clusters with their
  sizes, cross-split leaks (train-test, train-val, val-test: counted and listed), clusters whose members
  carry different labels (or FER+ vote majorities), and each tier's threshold and how it was chosen.
  The scan is kept in the store (default ${DEFAULT_STORE}, when it exists or --store is given).
  --events json: progress as JSON lines on stdout instead of the report (phases embeddings, fingerprints,
  near, semantic, store with their counts; each tier's counts; then done), for the extension's progress bar.
  Fixes (through the relabel overlay: one action each, undone by one \`kefer relabel --undo\`, in the
  audit log, the dataset's files untouched; they use the stored scan's --tier clusters, default near):
    --exclude-leaks     exclude the leaked copies (test copies of train/valid pictures, valid copies of train ones)
    --keep-one          keep one image per cluster (the earliest split's), exclude the others
    --relabel-cluster CID --label LABEL   relabel every member of cluster CID to LABEL
  \`kefer labels export\` then writes the deduplicated dataset (excluded images left out).`;

const fmt = (n: number) => n.toLocaleString('en-US');

interface Flags {
  run?: string;
  tiers?: string;
  json?: boolean;
  events?: string;
  limit?: string;
  'near-threshold'?: string;
  'semantic-threshold'?: string;
  store?: string;
  'no-store'?: boolean;
  'exclude-leaks'?: boolean;
  'keep-one'?: boolean;
  'relabel-cluster'?: string;
  label?: string;
  tier?: string;
  help?: boolean;
}

function parseTiers(text: string | undefined, hasRun: boolean): Tier[] {
  if (text === undefined) return hasRun ? ['exact', 'near', 'semantic'] : ['exact', 'near'];
  const tiers = text.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of tiers) if (!(TIERS as readonly string[]).includes(t)) throw new UserError(`--tiers: unknown tier '${t}' (exact, near, semantic)`);
  if (tiers.includes('semantic') && !hasRun) throw new UserError('--tiers semantic needs --run RUN (the run whose embeddings are compared)');
  return tiers as Tier[];
}

/** The run's best checkpoint: RUN/checkpoints/best, or RUN itself when it is a checkpoint. */
function checkpointOf(run: string): string {
  for (const c of [path.join(run, 'checkpoints', 'best'), run]) if (existsSync(path.join(c, 'model.safetensors'))) return c;
  throw new UserError(`--run ${run}: no checkpoint there (expected ${path.join(run, 'checkpoints', 'best', 'model.safetensors')})`);
}

async function embeddingsOf(run: string, dataset: Dataset, log: (m: string) => void, progress?: (done: number, total: number) => void): Promise<Embeddings> {
  const ckpt = checkpointOf(run);
  const { computeFeatures } = await import('../onnx/features.js');
  const r = await computeFeatures(ckpt, dataset, { onProgress: (d, t) => (progress ? progress(d, t) : d % 4096 === 0 && log(`embeddings ${d}/${t}`)) });
  log(`embeddings: ${r.hits} from the run's cache, ${r.computed} computed (${r.cacheFile})`);
  return { vectors: r.features, dim: r.dim, source: `${path.basename(path.resolve(run))}, encoder of ${ckpt}` };
}

function storeFor(f: Flags, fixing: boolean): Store | undefined {
  if (f['no-store']) {
    if (fixing) throw new UserError('fixes go through the store: drop --no-store');
    return undefined;
  }
  const p = path.resolve(f.store ?? DEFAULT_STORE);
  if (!fixing && f.store === undefined && !existsSync(p)) return undefined;
  return openStore(p);
}

/** The flags `kefer data dups` takes (the extension's arguments are checked against them in its tests). */
export const DUPS_OPTIONS = {
  run: { type: 'string' }, tiers: { type: 'string' }, json: { type: 'boolean' }, events: { type: 'string' }, limit: { type: 'string' },
  'near-threshold': { type: 'string' }, 'semantic-threshold': { type: 'string' }, store: { type: 'string' }, 'no-store': { type: 'boolean' },
  'exclude-leaks': { type: 'boolean' }, 'keep-one': { type: 'boolean' }, 'relabel-cluster': { type: 'string' }, label: { type: 'string' }, tier: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runDups(argv: string[]): Promise<number> {
  const { positionals, values: f } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: DUPS_OPTIONS,
  }) as { positionals: string[]; values: Flags };
  if (f.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UserError(`kefer data dups takes one SPEC\n${USAGE}`);
  const spec = positionals[0];
  const fixes = [f['exclude-leaks'], f['keep-one'], f['relabel-cluster'] !== undefined].filter(Boolean).length;
  if (fixes > 1) throw new UserError('pick one of --exclude-leaks, --keep-one, --relabel-cluster');
  if (f['relabel-cluster'] !== undefined && f.label === undefined) throw new UserError('--relabel-cluster CID needs --label LABEL');
  if (f.label !== undefined && f['relabel-cluster'] === undefined) throw new UserError('--label goes with --relabel-cluster CID');
  const fixTier = f.tier ?? 'near';
  if (!(TIERS as readonly string[]).includes(fixTier)) throw new UserError(`--tier: unknown tier '${fixTier}' (exact, near, semantic)`);
  const events = oneOf(f as Record<string, unknown>, 'events', ['text', 'json'] as const, 'text') === 'json';
  if (events && f.json) throw new UserError('pick one of --json (the report) and --events json (progress lines)');
  if (events && fixes) throw new UserError('--events json reports a scan; a fix prints one line');
  const emit = (e: DupsCliEvent) => events && console.log(JSON.stringify(e));
  const log = (m: string) => console.error(m);
  const t0 = performance.now();
  const dataset = await loadDataset(spec);
  const store = storeFor(f, fixes > 0);
  try {
    if (fixes) return fix(store!, dataset, spec, f, fixTier);
    const tiers = parseTiers(f.tiers, f.run !== undefined);
    const nearT = f['near-threshold'] === undefined ? undefined : num(f as Record<string, unknown>, 'near-threshold', 0, { min: -1 });
    const semT = f['semantic-threshold'] === undefined ? undefined : num(f as Record<string, unknown>, 'semantic-threshold', 0, { min: -1 });
    const limit = num(f as Record<string, unknown>, 'limit', 10, { int: true, min: 0 });
    const n = dataset.samples.length;
    emit({ type: 'start', spec, images: n, tiers });
    const embeddings = tiers.includes('semantic') ? await embeddingsOf(f.run!, dataset, log, events ? (done, total) => emit({ type: 'progress', phase: 'embeddings', done, total }) : undefined) : undefined;
    emit({ type: 'progress', phase: 'fingerprints', done: 0, total: n });
    const result = await findDuplicates(dataset, {
      tiers, embeddings, near: nearT === undefined ? undefined : { threshold: nearT }, semantic: semT === undefined ? undefined : { threshold: semT },
      onProgress: (stage, done, total) => {
        if (events) emit(stage === 'fingerprints' || stage === 'near' ? { type: 'progress', phase: stage, done, total } : { type: 'progress', phase: 'semantic', done: 0, total: 0, note: stage });
        else if (!f.json && total > 0) log(`${stage} ${done}/${total}`);
      },
    });
    const labels = effectiveLabelsOf(store, dataset);
    const summaries = result.tiers.map((t) => summariseTier(dataset, t, labels));
    for (const s of summaries) emit({ type: 'tier', ...tierCounts(s) });
    let scan: number | undefined;
    if (store) {
      emit({ type: 'progress', phase: 'store', done: 0, total: 0 });
      const row = upsertDataset(store, dataset, { spec });
      scan = saveDupScan(store, row.id, summaries.flatMap((s) => withMemberScores(dataset, s)), summaryJson(summaries, false));
    }
    if (events) {
      emit({ type: 'done', images: n, seconds: (performance.now() - t0) / 1000, scan: scan ?? null, store: scan !== undefined ? store!.path : null, datasetRoot: path.resolve(dataset.root), tiers: summaries.map(tierCounts) });
      return 0;
    }
    if (f.json) console.log(JSON.stringify({ spec, images: dataset.samples.length, fingerprintSeconds: result.fingerprintSeconds, scan, tiers: summaryJson(summaries, true, dataset) }));
    else console.log(formatReport(dataset, result.fingerprintSeconds, summaries, labels, limit, scan !== undefined ? store!.path : undefined));
    return 0;
  } finally {
    store?.close();
  }
}

/** Effective labels (the overlay applied) where the store knows the dataset, else the reader's. */
function effectiveLabelsOf(store: Store | undefined, dataset: Dataset): number[] {
  const row = store && findDataset(store, dataset.format, path.resolve(dataset.root));
  if (!row) return dataset.samples.map((s) => s.label);
  const eff = effectiveLabels(store!, row.id);
  return dataset.samples.map((s) => {
    const e = eff.get(s.id);
    return e && e.label !== e.original ? e.label : s.label;
  });
}

function fix(store: Store, dataset: Dataset, spec: string, f: Flags, tier: string): number {
  const row = findDataset(store, dataset.format, path.resolve(dataset.root)) ?? upsertDataset(store, dataset, { spec });
  const scan = latestDupScan(store, row.id);
  if (!scan) throw new UserError(`no duplicate scan of ${spec} in ${store.path}: run \`kefer data dups ${spec}\` first (it keeps its scan there)`);
  const scanned = (scan.summary as { tier: string }[]).map((t) => t.tier);
  if (!scanned.includes(tier)) throw new UserError(`the stored scan of ${spec} has no ${tier} tier (it has ${scanned.join(', ')}): pick --tier ${scanned.join('|')}, or scan again with --tiers ${tier}${tier === 'semantic' ? ' --run RUN' : ''}`);
  let res: FixResult;
  let what: string;
  if (f['exclude-leaks']) {
    res = excludeLeakedCopies(store, row.id, tier);
    what = `excluded ${res.changes.length} leaked ${tier} copies (of ${res.clusters} leaking clusters)`;
  } else if (f['keep-one']) {
    res = keepOnePerCluster(store, row.id, tier);
    what = `kept one image of each of ${res.clusters} ${tier} clusters: excluded ${res.changes.length}`;
  } else {
    const cid = Number(f['relabel-cluster']);
    if (!Number.isInteger(cid) || cid < 1) throw new UserError(`--relabel-cluster: expected a cluster id (1, 2, ...), got '${f['relabel-cluster']}'`);
    const label = parseLabel(f.label!, row);
    res = relabelDupCluster(store, row.id, tier, cid, label);
    what = `relabelled ${res.changes.length} image(s) of ${tier} cluster ${cid} to ${row.classes[label]}`;
  }
  console.log(res.changes.length ? `${what}; one action: \`kefer relabel --undo${f.store ? ` --store ${f.store}` : ''}\` reverts it` : `${what}: nothing to change`);
  return 0;
}

/** A tier's counts for the progress events (what the extension's notification says). */
function tierCounts(s: TierSummary): DupsTierCounts {
  return {
    tier: s.tier.tier, threshold: s.tier.threshold.value, clusters: s.clusters.length, images: s.images,
    leaks: Object.fromEntries(LEAK_KINDS.map((k) => [k, { clusters: s.leaks[k].clusters, images: s.leaks[k].images }])) as DupsTierCounts['leaks'],
    leakedCopies: s.leakedCopies.length, conflicts: s.conflicts.labels, seconds: s.tier.seconds,
  };
}

/**
 * The tier's clusters as the store keeps them, each member with its highest similarity to another member
 * (its nearest copy: the pairs of a tier only join members of one cluster), which the duplicates view shows.
 */
function withMemberScores(dataset: Dataset, s: TierSummary) {
  const best = new Float64Array(dataset.samples.length).fill(Number.NaN);
  for (const p of s.tier.pairs) {
    if (!(best[p.a] >= p.score)) best[p.a] = p.score;
    if (!(best[p.b] >= p.score)) best[p.b] = p.score;
  }
  const index = new Map(dataset.samples.map((x, i) => [x.id, i]));
  return storedClusters(dataset, s).map((c) => ({ ...c, scores: c.members.map((id) => {
    const i = index.get(id);
    return i === undefined || Number.isNaN(best[i]) ? null : best[i];
  }) }));
}

function summaryJson(summaries: TierSummary[], full: boolean, dataset?: Dataset) {
  return summaries.map((s) => ({
    tier: s.tier.tier, threshold: s.tier.threshold, method: s.tier.method, seconds: s.tier.seconds, pairs: s.tier.pairs.length,
    clusters: s.clusters.length, images: s.images, sizes: Object.fromEntries([...s.sizes].sort((a, b) => a[0] - b[0])),
    leaks: Object.fromEntries(LEAK_KINDS.map((k) => [k, {
      clusters: s.leaks[k].clusters, images: s.leaks[k].images,
      ...(full && dataset ? { pairs: s.leaks[k].pairs.map((p) => [dataset.samples[p.a].id, dataset.samples[p.b].id]) } : {}),
    }])),
    leakedCopies: s.leakedCopies.length,
    conflicts: { labels: s.conflicts.labels, voteMajorities: s.conflicts.votes },
    ...(full && dataset ? {
      list: s.clusters.map((c) => ({
        id: c.cluster.id, size: c.cluster.members.length, score: c.cluster.minScore, leaks: c.leaks,
        conflict: c.conflict && { labels: c.conflict.labels.map((l) => CANONICAL_CLASSES[l]), voteMajorities: c.conflict.voteMajorities.map((v) => (typeof v === 'number' ? CANONICAL_CLASSES[v] : v)) },
        members: c.cluster.members.map((m) => ({ id: dataset.samples[m].id, split: dataset.samples[m].split, label: dataset.classes[dataset.samples[m].label] })),
      })),
    } : {}),
  }));
}

function formatReport(dataset: Dataset, fpSeconds: number, summaries: TierSummary[], labels: number[], limit: number, storePath?: string): string {
  const s = dataset.samples;
  const bySplit = new Map<string, number>();
  for (const x of s) bySplit.set(x.split, (bySplit.get(x.split) ?? 0) + 1);
  const out = [
    `${dataset.format} ${dataset.root}: ${fmt(s.length)} images (${[...bySplit].map(([k, v]) => `${k} ${fmt(v)}`).join(', ')})`,
    `fingerprints (decode + hash) in ${fpSeconds.toFixed(1)} s`,
  ];
  const who = (m: number) => `${s[m].id} [${s[m].split}, ${dataset.classes[labels[m]] ?? labels[m]}]`;
  for (const t of summaries) {
    const th = t.tier.threshold;
    out.push('', `${t.tier.tier.toUpperCase()} tier: ${th.measure}`);
    out.push(`  threshold ${t.tier.tier === 'exact' ? 'none' : th.value}: ${th.how}${t.tier.method ? `; search: ${t.tier.method}` : ''} (${t.tier.seconds.toFixed(1)} s)`);
    const sizes = [...t.sizes].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${fmt(v)} of ${k}`).join(', ');
    out.push(`  ${fmt(t.clusters.length)} clusters holding ${fmt(t.images)} images${sizes ? ` (sizes: ${sizes})` : ''}`);
    out.push(`  cross-split leaks: ${LEAK_KINDS.map((k) => `${k} ${fmt(t.leaks[k].clusters)} clusters (${fmt(t.leaks[k].images)} ${k.split('-')[1]} images)`).join(', ')}`);
    out.push(`  leaked copies (--exclude-leaks would exclude): ${fmt(t.leakedCopies.length)}`);
    out.push(`  conflicting labels: ${fmt(t.conflicts.labels)} clusters; FER+ vote majorities differ: ${fmt(t.conflicts.votes)}`);
    const show = t.clusters.slice(0, limit);
    if (show.length) out.push(`  largest clusters (${show.length} of ${fmt(t.clusters.length)}; --limit N):`);
    for (const c of show) {
      const tags = [...c.leaks.map((k) => `LEAK ${k}`), ...(c.conflict ? ['CONFLICT'] : [])];
      out.push(`    #${c.cluster.id}  ${c.cluster.members.length} images, similarity >= ${c.cluster.minScore.toFixed(3)}${tags.length ? `  ${tags.join(', ')}` : ''}`);
      for (const m of c.cluster.members.slice(0, 6)) out.push(`        ${who(m)}`);
      if (c.cluster.members.length > 6) out.push(`        ... ${c.cluster.members.length - 6} more`);
    }
    for (const k of LEAK_KINDS) {
      const ps = t.leaks[k].pairs;
      if (!ps.length) continue;
      out.push(`  ${k} pairs (${Math.min(limit, ps.length)} of ${fmt(ps.length)}; --json lists all):`);
      for (const p of ps.slice(0, limit)) out.push(`    ${who(p.a)}  <->  ${who(p.b)}`);
    }
    const cs = t.conflicts.clusters.slice(0, limit);
    if (cs.length) out.push(`  conflicting clusters (${cs.length} of ${fmt(t.conflicts.clusters.length)}):`);
    for (const c of cs) {
      const v = c.conflict!.voteMajorities.length ? `; vote majorities ${c.conflict!.voteMajorities.map((x) => (typeof x === 'number' ? CANONICAL_CLASSES[x] : x)).join(' / ')}` : '';
      out.push(`    #${c.cluster.id}: labels ${c.conflict!.labels.map((l) => dataset.classes[l] ?? l).join(' / ')}${v}  (${c.cluster.members.map((m) => s[m].id).slice(0, 4).join(', ')}${c.cluster.members.length > 4 ? ', ...' : ''})`);
    }
  }
  if (storePath) out.push('', `scan kept in ${storePath}: fix with --exclude-leaks, --keep-one or --relabel-cluster CID --label LABEL (--tier exact|near|semantic)`);
  return out.join('\n');
}
