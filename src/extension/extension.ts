// Activation: wires commands, the runs tree, the diagnostics view and the engine/curation child
// processes together. Glue only: training runs in the `kefer` CLI, queries in the curation worker.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { locateCli, locateNode, readPackagedNative, type NodeChoice } from './engine/cliLocator.js';
import { EngineProcess } from './engine/engineProcess.js';
import { CurationClient } from './curation/client.js';
import { absoluteSpec, findDatasets, specRoot, detectDataset, type DatasetChoice } from './datasets.js';
import { CSP_REPORT_FILE, CspReports } from './panels/csp.js';
import { DashboardPanel } from './panels/dashboardPanel.js';
import { DiagnosticsHub } from './panels/diagnostics.js';
import { RunItem, RunsTreeProvider } from './runlist/runsTree.js';
import { RunCatalogue } from './runlist/catalogue.js';
import { readMeta } from './runlist/runFiles.js';
import { ResourceRoots } from './roots.js';
import { LabelIssuesCommand } from './labelIssues.js';
import { FindDuplicatesCommand } from './findDuplicates.js';
import { readThreshold } from './duplicates.js';
import { readEvalPrecision, readRanker, readSettings, SAMPLE_RUN_FLAGS, type Backbone, type TrainSettings } from './settings.js';
import { TrainingController } from './training.js';
import type { RetrainMode } from '../webviews/protocol.js';

const LAST_DATASET = 'kefer.lastDataset';

export interface KeferApi {
  training: TrainingController;
  /** Find Label Issues (Cross-Validation); crossValidate runs one without the prompts (integration tests). */
  labelIssues: LabelIssuesCommand;
  /** Find Duplicates; scan runs one without the prompts (integration tests). */
  duplicates: FindDuplicatesCommand;
  runsDir(): string | undefined;
  storePath(): string;
  curation: CurationClient;
}

export function activate(context: vscode.ExtensionContext): KeferApi {
  const output = vscode.window.createOutputChannel('KE-FER');
  const cfg = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('kefer');
  const wsRoot = (): string | undefined => vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const keferDir = (): string => path.join(wsRoot() ?? context.globalStorageUri.fsPath, '.kefer');
  // The workspace store: the engine reads the relabel overlay from it and registers runs in it; the
  // curation worker serves the diagnostics panel from it.
  const storePath = (): string => path.join(keferDir(), 'kefer.db');
  const runsDir = (): string | undefined => {
    const r = wsRoot();
    if (!r) return undefined;
    const c = cfg().get<string>('data.runsDir') || '.kefer/runs';
    return path.isAbsolute(c) ? c : path.join(r, c);
  };
  // an installed .vsix carries dist/native.json; a development checkout does not
  const packaged = readPackagedNative(context.extensionPath);
  const nodeChoice = (): NodeChoice => locateNode(cfg().get<string>('nodePath'));
  const host = {
    nodePath: () => nodeChoice().path,
    cliPath: () => locateCli(context.extensionPath, cfg().get<string>('enginePath')),
    cwd: () => wsRoot() ?? context.extensionPath,
  };
  // webview CSP violations: output channel + a file in the extension's log folder (the e2e reads it)
  const csp = new CspReports((l) => output.appendLine(l), path.join(context.logUri.fsPath, CSP_REPORT_FILE));
  const onCspViolation = csp.record.bind(csp);
  const training = new TrainingController(host, output);
  // grid thumbnails: global storage, as they are keyed by the image's absolute path (and mtime, size)
  const thumbDir = path.join(context.globalStorageUri.fsPath, 'thumbnails');
  const curation = new CurationClient(host.nodePath(), path.join(context.extensionPath, 'dist', 'curationWorker.js'), storePath(), (l) => output.appendLine(l), thumbDir);
  // The runs list (folders with run.json, runs in the store) and the one roots authority for webviews:
  // the thumbnail cache and the dataset roots the store registered, refreshed together.
  const roots = new ResourceRoots([thumbDir]);
  const catalogue = new RunCatalogue(runsDir, () => curation.call('catalogue'), () => {
    if (roots.setDatasetRoots(catalogue.datasetRoots())) diagnostics.rootsChanged();
    for (const r of roots.refusedRoots) output.appendLine(`webview roots: ${r}`);
    tree.refresh();
  }, (l) => output.appendLine(l));
  const tree = new RunsTreeProvider(() => catalogue.runs());
  const diagnostics = new DiagnosticsHub({
    extensionUri: context.extensionUri,
    curation,
    roots,
    runs: () => catalogue.runs(),
    retrain: (runDir, mode) => retrain(runDir, mode),
    exportLabels: (runDir) => exportLabels(runDir),
    openFull: (runDir) => diagnostics.openPanel(runDir),
    log: (l) => output.appendLine(l),
    onCspViolation,
    initialSort: () => readRanker((k) => cfg().get(k)),
    findDuplicates: (root): Promise<unknown> => duplicates.run(root),
  });

  const requireWorkspace = (): string | undefined => {
    const r = wsRoot();
    if (!r) void vscode.window.showErrorMessage('KE-FER: open a folder first.');
    return r;
  };

  /**
   * preferred: datasets offered first (Find Label Issues: the open run's, then the other runs'), also when
   * they lie outside the workspace, where the folder scan cannot find them.
   */
  async function pickDataset(title = 'KE-FER: dataset to train on', preferred: (DatasetChoice & { note: string })[] = []): Promise<DatasetChoice | undefined> {
    const root = requireWorkspace();
    if (!root) return undefined;
    const configured = cfg().get<string>('data.train');
    const found = findDatasets(root);
    if (configured) found.unshift({ spec: configured, root: specRoot(configured), name: path.basename(specRoot(configured)) });
    found.unshift(...preferred.map(({ note: _n, ...ds }) => ds));
    for (let i = found.length - 1; i > 0; i--) if (found.findIndex((d) => d.spec === found[i].spec) < i) found.splice(i, 1);
    const notes = new Map(preferred.map((p) => [p.spec, p.note]));
    const last = context.workspaceState.get<DatasetChoice>(LAST_DATASET);
    type Item = vscode.QuickPickItem & { ds?: DatasetChoice };
    const items: Item[] = found.map((ds) => ({ label: ds.name, description: notes.has(ds.spec) ? `${ds.spec} · ${notes.get(ds.spec)}` : ds.spec, ds, picked: last?.spec === ds.spec }));
    if (last && !items.some((i) => i.ds?.spec === last.spec)) items.unshift({ label: last.name, description: `${last.spec} (last used)`, ds: last });
    // the datasets asked for first stay first; the last one used leads otherwise
    else if (!preferred.length) items.sort((a, b) => Number(b.ds?.spec === last?.spec) - Number(a.ds?.spec === last?.spec));
    items.push({ label: '$(folder) Choose a dataset folder…' });
    // ignoreFocusOut: started from the walkthrough, its page takes focus when the step completes and
    // would otherwise close the picker before the user chose
    const pick = await vscode.window.showQuickPick(items, { title, placeHolder: 'Detected datasets in the workspace', ignoreFocusOut: true });
    if (!pick) return undefined;
    let ds = pick.ds;
    if (!ds) {
      const uri = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use dataset' });
      if (!uri?.[0]) return undefined;
      ds = detectDataset(uri[0].fsPath) ?? { spec: `folder:${uri[0].fsPath}`, root: uri[0].fsPath, name: path.basename(uri[0].fsPath) };
    }
    await context.workspaceState.update(LAST_DATASET, ds);
    return ds;
  }

  /** Settings for a dataset: the method's from `kefer.*`; the synthetic sample trains briefly on the compact backbone. */
  function settingsFor(ds: DatasetChoice): { settings: TrainSettings; epochs?: number; maxSteps?: number; extra?: readonly string[] } {
    const settings = readSettings((k) => cfg().get(k));
    if (!ds.spec.startsWith('synthetic:')) return { settings };
    return {
      settings: { ...settings, backbone: cfg().get<Backbone>('sample.backbone') ?? 'compact', batchSize: cfg().get<number>('sample.batchSize') ?? 16 },
      epochs: cfg().get<number>('sample.epochs') ?? 2,
      maxSteps: cfg().get<number>('sample.maxSteps') ?? 40,
      extra: SAMPLE_RUN_FLAGS,
    };
  }

  async function train(): Promise<string | undefined> {
    const ds = await pickDataset();
    const dir = runsDir();
    if (!ds || !dir) return undefined;
    DashboardPanel.show(context.extensionUri, training, onCspViolation, (l) => output.appendLine(l));
    return training.train({ dataset: ds, runsDir: dir, storePath: storePath(), ...settingsFor(ds) });
  }

  async function pickRetrainMode(): Promise<RetrainMode | undefined> {
    const items: (vscode.QuickPickItem & { mode: RetrainMode })[] = [
      { label: 'Quick retrain (head)', description: 'seconds: frozen encoder features, retrains the head + F_n, re-scores every sample', mode: 'head' },
      { label: 'Full retrain', description: 'trains the whole model again with the corrected labels', mode: 'full' },
    ];
    return (await vscode.window.showQuickPick(items, { title: 'KE-FER: retrain with corrected labels', ignoreFocusOut: true }))?.mode;
  }

  /**
   * The dataset a run trained on: the extension's notes (studio.json) for its own runs, else the store's
   * record (a run trained from a shell with --store).
   */
  function datasetOfRun(runDir: string): DatasetChoice | undefined {
    const meta = readMeta(runDir);
    if (meta) return { spec: meta.dataSpec, root: meta.datasetRoot, name: meta.datasetName };
    const d = catalogue.stored(path.basename(runDir))?.dataset;
    return d?.spec ? { spec: absoluteSpec(d.spec, d.root), root: d.root, name: d.name } : undefined;
  }

  async function retrain(parentDir?: string, mode?: RetrainMode): Promise<string | undefined> {
    const dir = runsDir();
    const parent = parentDir ?? (await pickRun('Retrain which run with corrected labels?'));
    const ds = parent ? datasetOfRun(parent) : undefined;
    if (!parent || !dir) return undefined;
    if (!ds) {
      void vscode.window.showErrorMessage(`KE-FER: cannot retrain ${path.basename(parent)}: neither its folder nor the workspace store says which dataset it trained on.`);
      return undefined;
    }
    const m = mode ?? (await pickRetrainMode());
    if (!m) return undefined;
    // a head retrain takes seconds: the progress notification is enough, the diagnostics panel keeps the editor
    if (m === 'full') DashboardPanel.show(context.extensionUri, training, onCspViolation, (l) => output.appendLine(l));
    return training.train({ dataset: ds, runsDir: dir, parent, mode: m, storePath: storePath(), ...settingsFor(ds) });
  }

  /** Corrected label files of a run's dataset, in its own format, under .kefer/exports/. */
  async function exportLabels(runDir: string): Promise<string | undefined> {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
    const out = path.join(keferDir(), 'exports', `${path.basename(datasetOfRun(runDir)?.root ?? 'dataset')}-${stamp}`);
    const r = await curation.call('exportLabels', runDir, out);
    output.appendLine(`exported ${r.samples} samples (${r.relabeled} relabeled, ${r.excluded} excluded) as ${r.format} to ${out}: ${r.files.join(', ')}`);
    void vscode.window.showInformationMessage(`KE-FER: corrected labels (${r.format}, ${r.relabeled} relabeled, ${r.excluded} excluded) written to ${path.relative(wsRoot() ?? '', out) || out}.`);
    return out;
  }

  async function pickRun(title: string): Promise<string | undefined> {
    const runs = catalogue.runs().filter((r) => r.status === 'done');
    if (runs.length === 0) {
      void vscode.window.showInformationMessage('KE-FER: no finished runs yet. Run "KE-FER: Train" first.');
      return undefined;
    }
    if (runs.length === 1) return runs[0].runDir;
    const p = await vscode.window.showQuickPick(
      runs.map((r) => ({ label: r.name, description: `${r.dataset} · ${r.accuracy === null ? 'n/a' : (r.accuracy * 100).toFixed(1) + '%'}`, runDir: r.runDir })),
      { title, ignoreFocusOut: true },
    );
    return p?.runDir;
  }

  /** The datasets runs trained on: the diagnostics panel's run first (the one the user is looking at). */
  function runDatasets(): (DatasetChoice & { note: string })[] {
    const open = diagnostics.panelRunDir();
    const dirs = [...(open ? [open] : []), ...catalogue.runs().filter((r) => r.status === 'done').map((r) => r.runDir)];
    const out: (DatasetChoice & { note: string })[] = [];
    for (const d of dirs) {
      const ds = datasetOfRun(d);
      if (ds && !out.some((x) => x.spec === ds.spec)) out.push({ ...ds, note: d === open ? 'the open run’s dataset' : `run ${path.basename(d)}’s dataset` });
    }
    return out;
  }

  const labelIssues = new LabelIssuesCommand({
    host, output, runsDir, storePath, pickDataset: (title) => pickDataset(title, runDatasets()), runs: () => catalogue.runs(),
    settings: () => readSettings((k) => cfg().get(k)),
    ranker: () => readRanker((k) => cfg().get(k)),
    openDiagnostics: (runDir) => diagnostics.openPanel(runDir),
  });

  const duplicates = new FindDuplicatesCommand({
    host, output, storePath, pickDataset: (title) => pickDataset(title, runDatasets()), runs: () => catalogue.runs(), datasetOfRun,
    panelRunDir: (): string | undefined => diagnostics.panelRunDir(),
    thresholds: () => ({ near: readThreshold(cfg().get('duplicates.nearThreshold')), semantic: readThreshold(cfg().get('duplicates.semanticThreshold')) }),
    refreshCatalogue: async () => {
      catalogue.invalidate();
      await catalogue.refresh();
    },
    showDuplicates: (root, runDir) => diagnostics.showDuplicates(root, runDir),
  });

  const runArg = (a: unknown): string | undefined => (a instanceof RunItem ? a.run.runDir : typeof a === 'string' ? a : undefined);

  training.onFinished(({ runDir, parent, ok }) => {
    if (ok) diagnostics.showRun(runDir);
    if (ok && parent) {
      diagnostics.showComparison(parent, runDir);
      // completes the walkthrough's retrain step also when it started from the diagnostics view
      void vscode.commands.executeCommand('setContext', 'kefer.retrained', true);
    }
    else if (ok) void vscode.window.showInformationMessage(`KE-FER: training finished (${path.basename(runDir)}).`, 'Open Diagnostics').then((a) => a && diagnostics.openPanel(runDir));
  });

  context.subscriptions.push(
    output,
    training,
    { dispose: () => curation.dispose() },
    vscode.window.registerTreeDataProvider('kefer.runs', tree),
    vscode.window.registerWebviewViewProvider('kefer.diagnosticsView', diagnostics, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.commands.registerCommand('kefer.train', train),
    labelIssues,
    vscode.commands.registerCommand('kefer.findLabelIssues', () => labelIssues.run()),
    duplicates,
    vscode.commands.registerCommand('kefer.findDuplicates', () => duplicates.run()),
    vscode.commands.registerCommand('kefer.retrain', (a?: unknown, mode?: unknown) => retrain(runArg(a), mode === 'head' || mode === 'full' ? mode : undefined)),
    vscode.commands.registerCommand('kefer.cancelTraining', () => training.cancel()),
    vscode.commands.registerCommand('kefer.showDashboard', () => DashboardPanel.show(context.extensionUri, training, onCspViolation, (l) => output.appendLine(l))),
    vscode.commands.registerCommand('kefer.refreshRuns', async () => {
      catalogue.invalidate();
      tree.refresh();
      await catalogue.refresh();
    }),
    vscode.commands.registerCommand('kefer.openDiagnostics', async (a?: unknown) => {
      const dir = runArg(a) ?? catalogue.runs().find((r) => r.status === 'done')?.runDir;
      diagnostics.openPanel(dir);
    }),
    vscode.commands.registerCommand('kefer.evaluate', async (a?: unknown) => {
      const dir = runArg(a) ?? (await pickRun('Evaluate which run?'));
      const ds = dir ? datasetOfRun(dir) : undefined;
      if (!dir || !ds) return;
      const ok = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'KE-FER: evaluating' }, () => training.evaluate(dir, ds.spec, readEvalPrecision((k) => cfg().get(k))));
      if (ok) await curation.call('importRecords', dir);
      void vscode.window.showInformationMessage(ok ? `KE-FER: evaluation written to ${path.basename(dir)}/records.jsonl` : 'KE-FER: evaluation failed (see output).');
    }),
    vscode.commands.registerCommand('kefer.exportLabels', async (a?: unknown) => {
      const dir = runArg(a) ?? (await pickRun('Export corrected labels of which run’s dataset?'));
      if (!dir) return undefined;
      try {
        return await exportLabels(dir);
      } catch (err) {
        void vscode.window.showErrorMessage(`KE-FER: export failed: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      }
    }),
    vscode.commands.registerCommand('kefer.configureTextEncoder', async () => {
      const items = [
        { label: 'Auto', description: 'CLIP when cached or downloadable, else the offline stand-in', value: 'auto' },
        { label: 'CLIP', description: 'downloads the CLIP text encoder on first use', value: 'clip' },
        { label: 'Stand-in (offline)', description: 'valence-arousal stand-in embeddings; never presented as CLIP', value: 'standin' },
        { label: 'From file…', description: 'precomputed class text embeddings (.json/.npy)', value: 'file' },
      ];
      const p = await vscode.window.showQuickPick(items, { title: 'KE-FER: text-embedding source' });
      if (!p) return;
      let value = p.value;
      if (value === 'file') {
        const f = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Embeddings: ['json', 'npy'] } });
        if (!f?.[0]) return;
        value = f[0].fsPath;
      }
      await cfg().update('textEncoder', value, vscode.ConfigurationTarget.Workspace);
      void vscode.window.showInformationMessage(`KE-FER: text encoder set to ${value}.`);
    }),
    vscode.commands.registerCommand('kefer.createSampleDataset', async () => {
      const root = requireWorkspace();
      if (!root) return undefined;
      const out = path.join(root, 'kefer-sample');
      if (fs.existsSync(out)) fs.rmSync(out, { recursive: true, force: true });
      // 48 px like FER2013 crops; the sample run trains at 32 px (SAMPLE_RUN_FLAGS)
      const args = ['data', 'generate', out, '--per-class', String(cfg().get<number>('sample.perClass') ?? 20), '--classes', '7', '--size', '48', '--seed', '1'];
      output.appendLine(`$ kefer ${args.join(' ')}`);
      const ok = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'KE-FER: generating the sample dataset' }, async () => {
        const proc = new EngineProcess({ ...host, nodePath: host.nodePath(), cliPath: host.cliPath(), cwd: root, args }, () => undefined, (l) => output.appendLine(l));
        return (await proc.result).code === 0;
      });
      if (!ok) {
        void vscode.window.showErrorMessage('KE-FER: could not generate the sample dataset (see the KE-FER output).');
        return undefined;
      }
      // marks the folder as the synthetic layout, so the dataset picker offers `synthetic:` (labelled as such)
      fs.writeFileSync(path.join(out, '.kefer-synthetic'), 'generated by KE-FER: Create Sample Dataset\n');
      const ds: DatasetChoice = { spec: `synthetic:${out}`, root: out, name: 'kefer-sample' };
      await context.workspaceState.update(LAST_DATASET, ds);
      void vscode.window.showInformationMessage('KE-FER: sample dataset (synthetic faces) written to kefer-sample/. Run "KE-FER: Train" to train on it.');
      return out;
    }),
  );
  watchRuns(context, runsDir, keferDir, catalogue, () => tree.refresh());
  void catalogue.refresh();
  const nc = nodeChoice();
  output.appendLine(`KE-FER Studio active${packaged ? ` (${packaged.target} package${fs.existsSync(path.join(context.extensionPath, 'dist', 'build', 'kefer_dnnl.node')) ? ', with the oneDNN addon' : ', no oneDNN addon'})` : ' (development checkout)'}: engine ${host.cliPath()} via ${nc.path} (${nc.why})`);
  return { training, labelIssues, duplicates, runsDir, storePath, curation };
}

/**
 * Keeps the runs list current: a run.json / studio.json appearing or changing under the runs folder
 * (a run trained from a shell, the PyTorch trainer, the extension), and the workspace store changing
 * (`kefer train --store` registering a run). Debounced: a training run rewrites run.json often.
 */
function watchRuns(context: vscode.ExtensionContext, runsDir: () => string | undefined, keferDir: () => string, catalogue: RunCatalogue, treeChanged: () => void): void {
  let timer: NodeJS.Timeout | undefined;
  const soon = (): void => {
    catalogue.invalidate();
    clearTimeout(timer);
    timer = setTimeout(() => {
      treeChanged();
      void catalogue.refresh();
    }, 400);
  };
  const dir = runsDir();
  const patterns = [
    ...(dir ? [new vscode.RelativePattern(vscode.Uri.file(dir), '*/{run.json,studio.json}')] : []),
    new vscode.RelativePattern(vscode.Uri.file(keferDir()), 'kefer.db{,-wal}'),
  ];
  for (const p of patterns) {
    const w = vscode.workspace.createFileSystemWatcher(p);
    context.subscriptions.push(w, w.onDidCreate(soon), w.onDidChange(soon), w.onDidDelete(soon));
  }
  context.subscriptions.push({ dispose: () => clearTimeout(timer) });
}

export function deactivate(): void {
  // disposables in context.subscriptions stop the child processes
}
