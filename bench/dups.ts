// Duplicates and split leakage on FERPlus, and the duplicate finder at scale (issue 23).
//   npm run bench:dups [-- --sections planted,ferplus,train,semantic,sample,scale,page] [--work DIR]
//                      [--train-steps 400] [--scale-n 300000] [--skip-crossover] [--sheet bench/dups-pairs.png]
//                      [--panel-sizes 3000,300000] [--panel-reps 10]
// Peak memory is the process's: run `--sections scale` alone for the semantic tier's own.
// Sections (each prints its figures with a baseline measured in the same run, and the CPU ISA):
//   planted   real FERPlus faces with planted copies (resize, JPEG, flip, brightness, 5-10% crop, re-save) among
//             distinct faces: the near tier's correlations of copies vs the nearest distinct face, the threshold
//             they imply, recall / precision per transform at the shipped one
//   ferplus   all 35,710 FERPlus PNGs through exact + near: counts, cross-split leaks, label conflicts; time
//             against a decode-only pass over the same files
//   train     a compact model trained briefly (kefer train, bounded by --train-steps) and its test WAR / UAR
//             with and without the leaked test images (exact and near)
//   semantic  the run's embeddings: planted copies vs distinct faces (the semantic threshold), then every
//             FERPlus image through the semantic tier
//   sample    100 random near pairs + 100 random semantic pairs in a contact sheet (--sheet)
//   scale     the semantic tier on --scale-n generated 512-d embeddings: time, peak memory, recall of
//             planted pairs; cells and usearch's HNSW index against all-pairs search on the same subset;
//             where all-pairs is faster
//   page      the duplicates view's page query on a 300k-sample store: first, deep and filtered pages
//             against an OFFSET page
//   panel     the "Duplicates & Leaks" view in the real webview (chromium), handler and curation worker: the
//             view opening, page turns, filters, a fix and its undo, at --panel-sizes (the first is the
//             baseline: each figure of the others is printed as a ratio to it); bench/ui/dupsView.ts
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CANONICAL_CLASSES, classIndex, type ClassName } from '../src/engine/classes.js';
import { FERPLUS_VOTE_COLUMNS } from '../src/engine/data/codes.js';
import { loadDataset } from '../src/engine/data/index.js';
import { decodeSimplePng } from '../src/engine/data/pngFastPath.js';
import type { Dataset, Sample } from '../src/engine/data/types.js';
import {
  buildPlantedSet, clustersOf, exactFingerprint, exactPairs, findDuplicates, LEAK_KINDS, leakedCopies, NEAR_DEFAULTS, nearPairs, scorePlanted, SEMANTIC_DEFAULTS,
  semanticPairs, summariseTier, TRANSFORM_TIER, TRANSFORMS, unitRows, type DupPair, type DupResult, type PlantedSet, type SemanticOptions, type TierResult,
} from '../src/engine/dups/index.js';
import { fingerprint } from '../src/engine/dups/fingerprint.js';
import { computeMetrics } from '../src/engine/eval/metrics.js';
import { loadFer2013WithFerplusTruth } from '../src/engine/issues/index.js';
import { computeFeatures } from '../src/engine/onnx/features.js';
import { evaluateCheckpointOnnx } from '../src/engine/onnx/runtime.js';
import { dupClusterPage, openStore, saveDupScan, upsertDataset, type StoredCluster } from '../src/engine/store/index.js';
import { Rng } from '../src/engine/util/rng.js';
import { DUP_PAGE_SIZE } from '../src/webviews/protocol.js';

const strArg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const numArg = (name: string, d: number) => Number(strArg(name) ?? d);
const SECTIONS = (strArg('sections') ?? 'planted,ferplus,train,semantic,sample,scale,page,panel').split(',');
const WORK = path.resolve(strArg('work') ?? '.kefer/bench-dups');
const SHARED = process.env.KEFER_SHARED_DATA ?? path.resolve('../shared/data');
const FERPLUS = path.join(SHARED, 'ferplus');
const SHEET = strArg('sheet') ?? 'bench/dups-pairs.png';
mkdirSync(WORK, { recursive: true });
const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(0);
const now = () => performance.now();
const fmt = (n: number) => n.toLocaleString('en-US');
const pc = (x: number) => `${(100 * x).toFixed(2)}%`;
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.floor(p * xs.length)))];
const peakMiB = () => (process.resourceUsage().maxRSS / 1024).toFixed(0);

function isa(): string {
  try {
    const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(/\s+/));
    const best = ['avx512f', 'avx2', 'avx', 'sse4_2', 'asimd'].filter((f) => flags.has(f));
    return `${os.arch()} ${best.join(' ') || 'baseline'}${flags.has('fma') ? ' fma' : ''}${flags.has('f16c') ? ' f16c' : ''}`;
  } catch {
    return os.arch();
  }
}
console.log(`CPU: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores, ISA ${isa()}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (shared machine); node ${process.version}`);

/** Every FERPlus PNG (35,710) with its FER2013 label and FER+ votes (canonical order). */
async function allFerplus(): Promise<Dataset> {
  const samples: Sample[] = [];
  for (const split of ['train', 'valid', 'test'] as const) {
    const { dataset, truth } = await loadFer2013WithFerplusTruth(FERPLUS, split);
    dataset.samples.forEach((s, i) => {
      const votes = new Array<number>(10).fill(0);
      FERPLUS_VOTE_COLUMNS.forEach((name, col) => (votes[col < 8 ? classIndex(name as ClassName) : col] = truth[i].votes[col]));
      samples.push({ ...s, votes });
    });
  }
  return { format: 'ferplus', root: FERPLUS, classes: CANONICAL_CLASSES.slice(0, 7) as ClassName[], samples };
}

// ---------------------------------------------------------------------------------------------- planted
let planted: { set: PlantedSet; ds: Dataset } | undefined;
async function plantedSet(): Promise<{ set: PlantedSet; ds: Dataset }> {
  if (planted) return planted;
  const source = await loadDataset(`ferplus:${FERPLUS}#train`);
  const out = path.join(WORK, 'planted-distinct');
  const set = existsSync(path.join(out, 'truth.json'))
    ? (JSON.parse(readFileSync(path.join(out, 'truth.json'), 'utf8')) as PlantedSet)
    : await buildPlantedSet({ source, out, perTransform: 100, distinct: 1500, seed: 31, excludeNearCopies: true });
  writeFileSync(path.join(out, 'truth.json'), JSON.stringify(set));
  planted = { set, ds: await loadDataset(set.spec) };
  return planted;
}

/** Scores of each planted copy with its original, and each distinct face's best score with any other image. */
function plantedScores(ds: Dataset, set: PlantedSet, pairs: DupPair[]): { copies: Map<string, number[]>; distinct: number[] } {
  const name = (i: number) => path.basename(ds.samples[i].path);
  const idx = new Map(ds.samples.map((s, i) => [path.basename(s.path), i]));
  const score = new Map(pairs.map((p) => [`${p.a},${p.b}`, p.score]));
  const copies = new Map<string, number[]>();
  for (const c of set.copies) {
    const a = idx.get(c.original)!, b = idx.get(c.copy)!;
    (copies.get(c.transform) ?? copies.set(c.transform, []).get(c.transform)!).push(score.get(`${Math.min(a, b)},${Math.max(a, b)}`) ?? -1);
  }
  const best = new Map<number, number>();
  for (const p of pairs) for (const x of [p.a, p.b]) if (name(x).startsWith('d')) best.set(x, Math.max(best.get(x) ?? -1, p.score));
  const distinct = ds.samples.map((_, i) => i).filter((i) => name(i).startsWith('d')).map((i) => best.get(i) ?? -1);
  return { copies, distinct };
}

/** The highest threshold (0.01 steps) that keeps 99% of the altered copies; the share of distinct faces above it. */
function implied(copies: Map<string, number[]>, distinct: number[], transforms: string[]): { t: number; distinctAbove: number } {
  const pos = transforms.flatMap((t) => copies.get(t) ?? []);
  const t = Math.floor(q(pos, 0.01) * 100) / 100;
  return { t, distinctAbove: distinct.filter((x) => x >= t).length / distinct.length };
}

async function sectionPlanted(): Promise<void> {
  const { set, ds } = await plantedSet();
  console.log(`\n## planted (near tier threshold) [${secs()} s]\n${ds.samples.length} images: ${set.copies.length} copies (${TRANSFORMS.length} transforms x ${set.copies.length / TRANSFORMS.length}) of real FERPlus training faces, each in another split than its original, among ${set.distinct.length} distinct faces (faces with an exact or near copy in FERPlus's training split are not drawn)`);
  const greys = [];
  for (const s of ds.samples) greys.push((await fingerprint(ds, s)).grey);
  const all = nearPairs(greys, { threshold: -1 });
  const { copies, distinct } = plantedScores(ds, set, all);
  console.log('| transform | copies | correlation with the original: min | 1% | 5% | median |');
  console.log('|---|---|---|---|---|---|');
  for (const [t, xs] of copies) console.log(`| ${t} | ${xs.length} | ${Math.min(...xs).toFixed(3)} | ${q(xs, 0.01).toFixed(3)} | ${q(xs, 0.05).toFixed(3)} | ${q(xs, 0.5).toFixed(3)} |`);
  console.log(`| nearest distinct face (of ${distinct.length}) | | 50%: ${q(distinct, 0.5).toFixed(3)} | 95%: ${q(distinct, 0.95).toFixed(3)} | 99%: ${q(distinct, 0.99).toFixed(3)} | max ${Math.max(...distinct).toFixed(3)} |`);
  const near = TRANSFORMS.filter((t) => TRANSFORM_TIER[t] === 'near');
  const imp = implied(copies, distinct, near);
  console.log(`implied threshold (keeps 99% of the altered copies): ${imp.t}; distinct faces with a neighbour at or above it: ${pc(imp.distinctAbove)} (FERPlus holds real near copies among them). Shipped: ${NEAR_DEFAULTS.threshold}, distinct faces above it: ${pc(distinct.filter((x) => x >= NEAR_DEFAULTS.threshold).length / distinct.length)}`);
  const r = await findDuplicates(ds);
  for (const tier of r.tiers) {
    console.log(`${tier.tier} tier at the shipped threshold: ${scorePlanted(ds, set, tier).map((s) => `${s.transform} recall ${s.found}/${s.copies} precision ${s.correct}/${s.pairs}`).join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------- ferplus
let ferplusRun: { ds: Dataset; r: DupResult } | undefined;
async function ferplusDups(): Promise<{ ds: Dataset; r: DupResult }> {
  if (ferplusRun) return ferplusRun;
  const ds = await allFerplus();
  const r = await findDuplicates(ds, { tiers: ['exact', 'near'] });
  ferplusRun = { ds, r };
  return ferplusRun;
}

function printTier(ds: Dataset, tier: TierResult, labels: number[]): void {
  const s = summariseTier(ds, tier, labels);
  const cross = s.clusters.filter((c) => new Set(c.cluster.members.map((m) => ds.samples[m].split)).size > 1).length;
  console.log(`| ${tier.tier} | ${fmt(s.clusters.length)} | ${fmt(s.images)} | ${fmt(cross)} | ${LEAK_KINDS.map((k) => `${fmt(s.leaks[k].clusters)} (${fmt(s.leaks[k].images)})`).join(' | ')} | ${fmt(s.leakedCopies.length)} | ${fmt(s.conflicts.labels)} | ${fmt(s.conflicts.votes)} | ${tier.seconds.toFixed(1)} s |`);
}

async function sectionFerplus(): Promise<void> {
  console.log(`\n## FERPlus: every PNG through exact + near [${secs()} s]`);
  const ds = await allFerplus();
  // Baseline: decoding every PNG (fast-png), nothing else.
  let t = now();
  for (const s of ds.samples) decodeSimplePng(readFileSync(path.join(ds.root, s.path)));
  const decodeS = (now() - t) / 1000;
  t = now();
  for (const s of ds.samples) await exactFingerprint(ds, s);
  const exactS = (now() - t) / 1000;
  t = now();
  const cpu0 = process.cpuUsage();
  const { r } = await ferplusDups();
  const bothS = (now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(`${fmt(ds.samples.length)} images. Decode only ${decodeS.toFixed(1)} s (baseline); exact hashes ${exactS.toFixed(1)} s (x${(exactS / decodeS).toFixed(2)}); exact + near (fingerprints ${r.fingerprintSeconds.toFixed(1)} s, near search ${r.tiers[1].seconds.toFixed(1)} s) ${bothS.toFixed(1)} s (x${(bothS / decodeS).toFixed(2)}), using ${cpuS.toFixed(0)} CPU-seconds (the wall time on a shared machine is longer when others run); peak RSS ${peakMiB()} MiB; ${r.scanThreads} scan thread(s) on ${os.cpus().length} cores; load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  console.log('| tier | clusters | images | spanning splits | train-test (test images) | train-val (val images) | val-test (test images) | leaked copies | FER2013 labels differ | FER+ majorities differ | search |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const labels = ds.samples.map((s) => s.label);
  for (const tier of r.tiers) printTier(ds, tier, labels);
  const exact = r.tiers[0];
  console.log(`issue 23's count by content hash: 1,513 groups, 3,353 images, 556 spanning two splits, 278 test-train; here by decoded pixels: ${fmt(exact.clusters.length)} groups, ${fmt(exact.clusters.reduce((n, c) => n + c.members.length, 0))} images`);
  writeFileSync(path.join(WORK, 'ferplus-clusters.json'), JSON.stringify(r.tiers.map((t) => ({ tier: t.tier, clusters: t.clusters.map((c) => c.members.map((m) => ds.samples[m].id)) }))));
}

// ---------------------------------------------------------------------------------------------- train
const RUN = path.join(WORK, 'run');
const CKPT = path.join(RUN, 'checkpoints', 'best');
async function sectionTrain(): Promise<void> {
  const steps = numArg('train-steps', 400);
  console.log(`\n## a trained checkpoint's test WAR with and without the leaked images [${secs()} s]`);
  if (!existsSync(path.join(CKPT, 'model.safetensors'))) {
    const args = ['bin/kefer.js', 'train', '--data', `ferplus:${FERPLUS}#train?classes=7`, '--val', 'none', '--backbone', 'compact', '--input-size', '48', '--epochs', '1', '--max-steps', String(steps),
      '--batch', '64', '--lr', '0.02', '--text', 'standin', '--diagnose', 'none', '--augment', 'light', '--out', RUN, '--seed', '1'];
    console.log(`kefer ${args.slice(1).join(' ')}`);
    const t = now();
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`kefer train failed (${r.status}): ${r.stdout.slice(-2000)}`);
    console.log(`trained in ${((now() - t) / 1000).toFixed(0)} s`);
  }
  const test = await loadDataset(`ferplus:${FERPLUS}#test?classes=7`);
  const res = await evaluateCheckpointOnnx(CKPT, test, { batchSize: 100 });
  const { ds, r } = await ferplusDups();
  const K = test.classes.length;
  const row = (name: string, keep: (id: string) => boolean) => {
    const recs = res.records.filter((x) => keep(x.id));
    const m = computeMetrics(recs.map((x) => x.label), recs.map((x) => x.pred), K);
    return { name, n: m.n, war: m.accuracy, uar: m.meanClassAccuracy };
  };
  const leakedBy = (tier: TierResult) => new Set(tier.clusters.flatMap((c) => leakedCopies(c, ds.samples)).map((i) => ds.samples[i].id));
  const exactL = leakedBy(r.tiers[0]), nearL = leakedBy(r.tiers[1]);
  const rows = [
    row('full test split (FER+ majority labels, 7 classes)', () => true),
    row('without exact leaks', (id) => !exactL.has(id)),
    row('without near leaks (exact included)', (id) => !nearL.has(id)),
    row('the near-leaked test images alone', (id) => nearL.has(id)),
  ];
  console.log('| test images | n | WAR | UAR | WAR vs full |');
  console.log('|---|---|---|---|---|');
  for (const x of rows) console.log(`| ${x.name} | ${fmt(x.n)} | ${pc(x.war)} | ${pc(x.uar)} | ${((x.war - rows[0].war) * 100 >= 0 ? '+' : '')}${((x.war - rows[0].war) * 100).toFixed(2)} pt |`);
}

// ---------------------------------------------------------------------------------------------- semantic
let semanticFer: TierResult | undefined;
async function sectionSemantic(): Promise<void> {
  console.log(`\n## semantic tier: the run's embeddings [${secs()} s]`);
  const { set, ds } = await plantedSet();
  const f = await computeFeatures(CKPT, ds, { cacheDir: path.join(WORK, 'feature-cache') });
  const unit = unitRows(f.features, ds.samples.length, f.dim);
  const all = exactPairs(unit, ds.samples.length, f.dim, -1);
  const { copies, distinct } = plantedScores(ds, set, all.filter((p) => p.score > 0.5));
  console.log(`planted set (${ds.samples.length} images), ${f.dim}-d embeddings of ${CKPT}:`);
  console.log('| transform | cosine with the original: min | 1% | 5% | median |');
  console.log('|---|---|---|---|---|');
  for (const [t, xs] of copies) console.log(`| ${t} | ${Math.min(...xs).toFixed(3)} | ${q(xs, 0.01).toFixed(3)} | ${q(xs, 0.05).toFixed(3)} | ${q(xs, 0.5).toFixed(3)} |`);
  console.log(`| nearest distinct face | 50%: ${q(distinct, 0.5).toFixed(3)} | 95%: ${q(distinct, 0.95).toFixed(3)} | 99%: ${q(distinct, 0.99).toFixed(3)} | max ${Math.max(...distinct).toFixed(3)} |`);
  const imp = implied(copies, distinct, TRANSFORMS.filter((t) => t !== 'reencode'));
  console.log(`implied threshold (keeps 99% of the altered copies): ${imp.t}, distinct faces above it ${pc(imp.distinctAbove)}; shipped ${SEMANTIC_DEFAULTS.threshold}, distinct faces above it ${pc(distinct.filter((x) => x >= SEMANTIC_DEFAULTS.threshold).length / distinct.length)}`);
  const sem = semanticPairs(f.features, ds.samples.length, f.dim);
  const tier: TierResult = { tier: 'semantic', threshold: { value: SEMANTIC_DEFAULTS.threshold, measure: '', how: '' }, pairs: sem.pairs, clusters: clustersOf(ds.samples.length, sem.pairs, 'semantic'), seconds: 0 };
  console.log(`semantic tier at the shipped threshold: ${scorePlanted(ds, set, tier).map((s) => `${s.transform} recall ${s.found}/${s.copies} precision ${s.correct}/${s.pairs}`).join('; ')}`);

  const { ds: fer, r } = await ferplusDups();
  let t = now();
  const ff = await computeFeatures(CKPT, fer, { cacheDir: path.join(WORK, 'feature-cache') });
  const embedS = (now() - t) / 1000;
  t = now();
  const s = semanticPairs(ff.features, fer.samples.length, ff.dim);
  const searchS = (now() - t) / 1000;
  const exactP = r.tiers[0].pairs;
  const pairs = [...s.pairs, ...exactP];
  semanticFer = { tier: 'semantic', threshold: { value: SEMANTIC_DEFAULTS.threshold, measure: 'cosine', how: '' }, pairs, clusters: clustersOf(fer.samples.length, pairs, 'semantic'), method: s.method, seconds: searchS };
  console.log(`FERPlus, all ${fmt(fer.samples.length)} images: embeddings ${embedS.toFixed(0)} s (${ff.computed} computed, ${ff.hits} cached), semantic search (${s.method}, ${s.searchDim} dimensions) ${searchS.toFixed(1)} s`);
  console.log('| tier | clusters | images | spanning splits | train-test (test images) | train-val (val images) | val-test (test images) | leaked copies | FER2013 labels differ | FER+ majorities differ | search |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  printTier(fer, semanticFer, fer.samples.map((x) => x.label));
}

// ---------------------------------------------------------------------------------------------- sample
async function sectionSample(): Promise<void> {
  console.log(`\n## a random sample of near and semantic pairs [${secs()} s]`);
  const { ds, r } = await ferplusDups();
  const exactKeys = new Set(r.tiers[0].pairs.map((p) => `${p.a},${p.b}`));
  const nearKeys = new Set(r.tiers[1].pairs.map((p) => `${p.a},${p.b}`));
  const rng = new Rng(7);
  const nearOnly = r.tiers[1].pairs.filter((p) => !exactKeys.has(`${p.a},${p.b}`));
  const near = rng.shuffle([...nearOnly]).slice(0, 100);
  const semOnly = semanticFer ? semanticFer.pairs.filter((p) => !nearKeys.has(`${p.a},${p.b}`) && !exactKeys.has(`${p.a},${p.b}`)) : [];
  const sem = rng.shuffle([...semOnly]).slice(0, 100);
  console.log(`${fmt(nearOnly.length)} near pairs that are not exact, ${fmt(semOnly.length)} semantic pairs that are neither: ${near.length} + ${sem.length} drawn at random (seed 7)`);
  const cell = 40, gap = 6, perRow = 10, pairW = 2 * cell + gap;
  const rows = Math.ceil(near.length / perRow) + Math.ceil(sem.length / perRow);
  const comps: sharp.OverlayOptions[] = [];
  const lines: string[] = [];
  let row = 0;
  for (const [name, ps] of [['near', near], ['semantic', sem]] as const) {
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      const top = (row + Math.floor(i / perRow)) * (cell + gap);
      const left = (i % perRow) * (pairW + gap);
      for (const [k, m] of [p.a, p.b].entries()) comps.push({ input: await sharp(path.join(ds.root, ds.samples[m].path)).resize(cell, cell).toColourspace('b-w').png().toBuffer(), left: left + k * cell, top });
      lines.push(`${name}\t${p.score.toFixed(3)}\t${ds.samples[p.a].id}\t${ds.samples[p.b].id}`);
    }
    row += Math.ceil(ps.length / perRow);
  }
  if (!comps.length) return;
  mkdirSync(path.dirname(SHEET), { recursive: true });
  await sharp({ create: { width: perRow * (pairW + gap) - gap, height: rows * (cell + gap) - gap, channels: 3, background: '#ffffff' } }).composite(comps).toColourspace('b-w').png({ palette: true, colours: 32, compressionLevel: 9, effort: 10 }).toFile(SHEET); // 32 grey levels: ~160 KB
  writeFileSync(SHEET.replace(/\.png$/, '.tsv'), `tier\tsimilarity\ta\tb\n${lines.join('\n')}\n`);
  console.log(`contact sheet: ${SHEET} (first ${Math.ceil(near.length / perRow)} rows near pairs, then semantic pairs; ${perRow} pairs a row, left to right), pairs listed in ${SHEET.replace(/\.png$/, '.tsv')}`);
}

// ---------------------------------------------------------------------------------------------- scale
function generated(n: number, d: number, planted: number, seed: number, copyNoise: (p: number) => number = () => 0.2): Float32Array {
  // a 64-dimensional signal (faces vary along few directions) plus isotropic noise; `planted` rows copy
  // earlier rows with a small change (noise 0.2: cosine ~0.98; 0.35: ~0.95)
  const rng = new Rng(seed);
  const r = 64;
  const A = Float32Array.from({ length: d * r }, () => rng.normal() / Math.sqrt(r));
  const x = new Float32Array(n * d);
  const z = new Float32Array(r);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < r; k++) z[k] = rng.normal();
    for (let j = 0; j < d; j++) {
      let s = 0.35 * rng.normal();
      for (let k = 0; k < r; k++) s += A[j * r + k] * z[k];
      x[i * d + j] = s;
    }
  }
  for (let p = 0; p < planted; p++) {
    const noise = copyNoise(p);
    for (let j = 0; j < d; j++) x[(n - 1 - p) * d + j] = x[p * d + j] + noise * rng.normal();
  }
  return x;
}

async function sectionScale(): Promise<void> {
  const n = numArg('scale-n', 300_000), d = 512, plantedPairs = 3000;
  console.log(`\n## semantic tier at scale: ${fmt(n)} generated ${d}-d embeddings [${secs()} s]`);
  // where all-pairs search stops being faster than candidates by cells (and than usearch's HNSW index)
  console.log('| samples | all pairs | cells (PCA + k-means cells + check) | HNSW (PCA + usearch HNSW + check) | all pairs / cells |');
  console.log('|---|---|---|---|---|');
  for (const m of process.argv.includes('--skip-crossover') ? [] : [1000, 2000, 4000, 8000]) {
    const x = generated(m, d, 20, m);
    let t = now();
    semanticPairs(x, m, d, { exactBelow: Infinity });
    const e = now() - t;
    t = now();
    semanticPairs(x, m, d, { exactBelow: 0 });
    const a = now() - t;
    t = now();
    semanticPairs(x, m, d, { exactBelow: 0, candidates: 'hnsw' });
    const h = now() - t;
    console.log(`| ${fmt(m)} | ${(e / 1000).toFixed(2)} s | ${(a / 1000).toFixed(2)} s | ${(h / 1000).toFixed(2)} s | x${(e / a).toFixed(2)} |`);
  }
  console.log(`(shipped: all pairs below ${fmt(SEMANTIC_DEFAULTS.exactBelow)} samples; ${SEMANTIC_DEFAULTS.probes} nearest cells a sample)`);
  const rssBefore = process.memoryUsage().rss;
  let t = now();
  const x = generated(n, d, plantedPairs, 1);
  const genS = (now() - t) / 1000;
  // a 20,000-row set of its own, its 500 copies graded from cosine ~0.99 to ~0.93: the pairs near the
  // threshold are the ones candidate generation can miss
  const sub = 20_000;
  const head = generated(sub, d, 500, 2, (p) => 0.1 + (0.32 * p) / 500);
  t = now();
  const ex = semanticPairs(head, sub, d, { exactBelow: Infinity });
  const exS = (now() - t) / 1000;
  const exKeys = new Set(ex.pairs.map((p) => `${p.a},${p.b}`));
  const subRun = (o: SemanticOptions) => {
    const u = now();
    const got = semanticPairs(head, sub, d, { exactBelow: 0, ...o });
    return { s: (now() - u) / 1000, pairs: got.pairs.length, hits: got.pairs.filter((p) => exKeys.has(`${p.a},${p.b}`)).length };
  };
  const cells = subRun({});
  const hnsw = subRun({ candidates: 'hnsw' });
  console.log(`baseline on ${fmt(sub)} others (500 copies, cosine 0.93-0.99): all pairs ${exS.toFixed(1)} s (${ex.pairs.length} pairs); cells ${cells.s.toFixed(1)} s (${cells.hits} of them, ${cells.pairs - cells.hits} others): x${(exS / cells.s).toFixed(1)} faster; usearch HNSW ${hnsw.s.toFixed(1)} s (${hnsw.hits} of them, ${hnsw.pairs - hnsw.hits} others): cells x${(hnsw.s / cells.s).toFixed(1)} faster; all pairs at ${fmt(n)} would take ~${((exS * (n / sub) ** 2) / 60).toFixed(0)} min (n^2 extrapolated)`);
  t = now();
  const r = semanticPairs(x, n, d, { onProgress: (s) => { if (!/: cell [1-9]/.test(s)) console.log(`  [${((now() - t) / 1000).toFixed(1)} s] ${s}`); } });
  const s = (now() - t) / 1000;
  const found = new Set(r.pairs.map((p) => `${p.a},${p.b}`));
  let hit = 0;
  for (let p = 0; p < plantedPairs; p++) if (found.has(`${p},${n - 1 - p}`)) hit++;
  console.log(`${fmt(n)} x ${d}: semantic tier (${r.method}, ${r.candidates ?? ''} candidates, ${r.searchDim} dimensions, threshold ${SEMANTIC_DEFAULTS.threshold}) in ${s.toFixed(1)} s (generating the vectors: ${genS.toFixed(1)} s, not counted); planted pairs found ${hit} / ${plantedPairs}; ${fmt(r.pairs.length)} pairs, ${fmt(r.pairs.length - hit)} not planted (each checked >= the threshold on the full vectors); peak RSS ${peakMiB()} MiB (the vectors alone: ${((n * d * 4) / 2 ** 20).toFixed(0)} MiB; RSS before generating them ${(rssBefore / 2 ** 20).toFixed(0)} MiB); load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
}

// ---------------------------------------------------------------------------------------------- page
async function sectionPage(): Promise<void> {
  const n = 300_000;
  console.log(`\n## the duplicates view's pages on a ${fmt(n)}-sample store [${secs()} s]`);
  const dir = path.join(WORK, 'page');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `store-${n}.db`);
  const store = openStore(file, { synchronous: 'NORMAL' });
  try {
    const rng = new Rng(3);
    const splits = ['train', 'train', 'train', 'train', 'train', 'train', 'train', 'train', 'valid', 'test'];
    const ds: Dataset = {
      format: 'synthetic', root: dir, classes: CANONICAL_CLASSES.slice(0, 7) as ClassName[], synthetic: true,
      samples: Array.from({ length: n }, (_, i) => ({ id: `s${i}`, path: `img/s${i}.png`, split: splits[i % 10], label: rng.int(7) })),
    };
    const t = now();
    const row = upsertDataset(store, ds);
    // 40,000 clusters of 2-5 members (a tenth of the images, as FERPlus's near tier finds)
    const order = rng.shuffle(ds.samples.map((_, i) => i));
    const clusters: StoredCluster[] = [];
    let at = 0;
    for (let cid = 1; at < order.length && cid <= 40_000; cid++) {
      const size = 2 + rng.int(4);
      const members = order.slice(at, at + size);
      at += size;
      const sp = new Set(members.map((m) => ds.samples[m].split));
      const leaks = (sp.has('train') && sp.has('test') ? 1 : 0) | (sp.has('train') && sp.has('valid') ? 2 : 0) | (sp.has('valid') && sp.has('test') ? 4 : 0);
      clusters.push({ tier: 'near', cid, members: members.map((m) => ds.samples[m].id), leaks, conflict: new Set(members.map((m) => ds.samples[m].label)).size > 1, score: 0.9 });
    }
    clusters.sort((a, b) => b.members.length - a.members.length || a.cid - b.cid);
    clusters.forEach((c, i) => (c.cid = i + 1));
    const scan = saveDupScan(store, row.id, clusters, { bench: true });
    console.log(`store built in ${((now() - t) / 1000).toFixed(0)} s: ${fmt(n)} samples, ${fmt(clusters.length)} near clusters`);
    const time = (fn: () => unknown) => {
      const xs: number[] = [];
      for (let i = 0; i < 21; i++) {
        const s = now();
        fn();
        xs.push(now() - s);
      }
      return q(xs, 0.5);
    };
    // keyset of the 20,000th cluster, for the deep page
    let after: { size: number; cid: number } | undefined;
    for (let i = 0; i < 20_000 / 1000; i++) after = dupClusterPage(store, { scan, tier: 'near', after, limit: 1000 }).next;
    const offsetPage = () => store.db.prepare(
      `SELECT c.cid, s.sid, s.path, s.split, s.label FROM (SELECT cid FROM dup_clusters WHERE scan = ? AND tier = 'near' ORDER BY size DESC, cid LIMIT 50 OFFSET 20000) c
       JOIN dup_members m ON m.scan = ? AND m.tier = 'near' AND m.cid = c.cid JOIN samples s ON s.sk = m.sample`).all(scan, scan);
    const base = time(offsetPage);
    const rows: [string, number][] = [
      ['first page (50 clusters with members)', time(() => dupClusterPage(store, { scan, tier: 'near', limit: 50 }))],
      ['page at cluster 20,000 (keyset)', time(() => dupClusterPage(store, { scan, tier: 'near', after, limit: 50 }))],
      ['train-test leaks, first page', time(() => dupClusterPage(store, { scan, tier: 'near', leaks: 1, limit: 50 }))],
      ['conflicting labels, first page', time(() => dupClusterPage(store, { scan, tier: 'near', conflicting: true, limit: 50 }))],
    ];
    console.log(`| query (median of 21) | ms | vs an OFFSET 20,000 page (${base.toFixed(2)} ms) |`);
    console.log('|---|---|---|');
    for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(2)} | x${(ms / base).toFixed(3)} |`);
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------------------------- panel
async function sectionPanel(): Promise<void> {
  const sizes = (strArg('panel-sizes') ?? '3000,300000').split(',').map(Number);
  const reps = numArg('panel-reps', 10);
  console.log(`\n## the duplicates view in the panel: real webview, handler and curation worker [${secs()} s]`);
  const { CHROMIUM, ensureBuilt } = await import('./ui/panel.js');
  if (!existsSync(CHROMIUM)) {
    console.log(`SKIP: chromium not found at ${CHROMIUM} (apt-get install chromium; CHROMIUM_PATH overrides)`);
    return;
  }
  ensureBuilt();
  const { buildDupStore, measureDupView, median, p95 } = await import('./ui/dupsView.js');
  const { launchBrowser } = await import('../test/e2e/codeServer.js');
  const { cpuLine } = await import('./cpuInfo.js');
  const stores: Awaited<ReturnType<typeof buildDupStore>>[] = [];
  for (const n of sizes) {
    const t = now();
    stores.push(await buildDupStore(path.join(WORK, 'panel', `n${n}`), n));
    console.log(`store of ${fmt(n)} samples, ${fmt(stores.at(-1)!.clusters)} near clusters: ready in ${((now() - t) / 1000).toFixed(0)} s`);
  }
  const b = await launchBrowser();
  const figs: Awaited<ReturnType<typeof measureDupView>>[] = [];
  try {
    console.log(`cpu: ${cpuLine()}`);
    // the baseline first, then each size; a warm-up open of the baseline so the first measured one is not the browser's first page
    await measureDupView(b.ctx, stores[0], path.join(WORK, 'panel'), 1);
    for (const s of stores) figs.push(await measureDupView(b.ctx, s, path.join(WORK, 'panel'), reps));
  } finally {
    await b.close();
  }
  const [base] = figs;
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const cols = sizes.map((n, i) => `${fmt(n)} samples (${fmt(figs[i].clusters)} clusters)`);
  console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ${reps} repetitions of each action, ${DUP_PAGE_SIZE} clusters a page`);
  console.log(`| median (p95) | ${cols.join(' | ')} | ${sizes.slice(1).map((n) => `${fmt(n)} / ${fmt(sizes[0])}`).join(' | ')} |`);
  console.log(`|---|${cols.map(() => '---|').join('')}${sizes.slice(1).map(() => '---|').join('')}`);
  const line = (name: string, pick: (f: (typeof figs)[number]) => number[]) => {
    const b0 = median(pick(base));
    console.log(`| ${name} | ${figs.map((f) => `${ms(median(pick(f)))} (${ms(p95(pick(f)))})`).join(' | ')} | ${figs.slice(1).map((f) => `x${(median(pick(f)) / b0).toFixed(2)}`).join(' | ')} |`);
  };
  const last = figs.at(-1)!;
  line('the view opens (first page of clusters shown)', (f) => [f.openMs]);
  for (const name of Object.keys(base.rows)) {
    line(`${name}: rows`, (f) => f.rows[name] ?? []);
    line(`${name}: thumbnails in the window (${median(last.inSight[name] ?? [0])})`, (f) => f.thumbs[name] ?? []);
  }
  line('a page in the middle of the list: handler + worker + query', (f) => f.deepHostMs);
  line('the same page: store query alone', (f) => f.deepQueryMs);
  const worst = Math.max(...['next page', 'previous page', 'leak filter train-test', 'leak filter off', 'conflicting labels on / off'].map((k) => median(last.rows[k] ?? [Infinity])), median(last.deepHostMs));
  console.log(`target (a page of the view at ${fmt(sizes.at(-1)!)} samples < 100 ms): ${worst < 100 ? 'met' : 'NOT met'}; worst median page turn / filter / deep page: ${ms(worst)}${figs.some((f) => f.refused) ? `; REFUSED requests: ${figs.map((f) => f.refused).join(', ')}` : ''}`);
}

async function main(): Promise<void> {
  const run: Record<string, () => Promise<void>> = { planted: sectionPlanted, ferplus: sectionFerplus, train: sectionTrain, semantic: sectionSemantic, sample: sectionSample, scale: sectionScale, page: sectionPage, panel: sectionPanel };
  for (const s of SECTIONS) {
    if (!run[s]) throw new Error(`--sections: unknown section '${s}' (${Object.keys(run).join(', ')})`);
    await run[s]();
  }
  console.log(`\ndone in ${secs()} s; peak RSS ${peakMiB()} MiB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
