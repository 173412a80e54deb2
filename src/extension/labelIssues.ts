// "KE-FER: Find Label Issues (Cross-Validation)": asks for the dataset, K and the fold trainer, runs
// `kefer issues --cross-val K ... --store <workspace store>` in the engine child process with a
// cancellable progress notification, and opens the diagnostics panel on the new run, where the grid
// starts in the kefer.suspiciousLabels.ranker order. Glue: arguments, event parsing and progress are
// in crossValidation.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CrossValCliEvent } from '../engine/events.js';
import { CrossValProgress, crossValArgs, DEFAULT_K, parseK, parseCrossValLine, type CrossValMode, type CrossValRequest } from './crossValidation.js';
import type { DatasetChoice } from './datasets.js';
import { runCancellable } from './engine/cancellableRun.js';
import { EngineProcess } from './engine/engineProcess.js';
import { classesFor, findCheckpoint, updateMeta, writeMeta } from './runlist/runFiles.js';
import { runFolderName, type TrainSettings } from './settings.js';
import type { EngineHost } from './training.js';
import { SORT_LABELS, type RunSummary, type SortKey } from '../webviews/protocol.js';

export interface LabelIssuesDeps {
  host: EngineHost;
  output: vscode.OutputChannel;
  runsDir: () => string | undefined;
  storePath: () => string;
  pickDataset: (title: string) => Promise<DatasetChoice | undefined>;
  runs: () => RunSummary[];
  settings: () => TrainSettings;
  ranker: () => SortKey;
  openDiagnostics: (runDir: string) => void;
}

export class LabelIssuesCommand {
  private current: EngineProcess<CrossValCliEvent> | undefined;

  constructor(private readonly deps: LabelIssuesDeps) {}

  /** The command: returns the run folder when the cross-validation finished. */
  async run(): Promise<string | undefined> {
    if (this.current) {
      void vscode.window.showWarningMessage('KE-FER: a cross-validation is already running.');
      return undefined;
    }
    const runsDir = this.deps.runsDir();
    if (!runsDir) {
      void vscode.window.showErrorMessage('KE-FER: open a folder first.');
      return undefined;
    }
    const ds = await this.deps.pickDataset('KE-FER: dataset whose training labels to check');
    if (!ds) return undefined;
    const kText = await vscode.window.showInputBox({
      title: 'KE-FER: number of folds K', prompt: 'Each sample is scored by a model trained on the other K-1 folds', value: String(DEFAULT_K), ignoreFocusOut: true,
      validateInput: (t) => {
        const r = parseK(t);
        return 'error' in r ? r.error : undefined;
      },
    });
    if (kText === undefined) return undefined;
    const k = parseK(kText);
    if ('error' in k) return undefined;
    const mode = await this.pickMode();
    if (!mode) return undefined;
    const outDir = path.join(runsDir, `${runFolderName(ds.name, new Date())}-cv${k.k}`);
    return this.crossValidate({ data: ds.spec, outDir, k: k.k, mode, storePath: this.deps.storePath(), settings: this.deps.settings() }, ds);
  }

  private async pickMode(): Promise<CrossValMode | undefined> {
    const backbone = this.deps.settings().backbone;
    type Item = vscode.QuickPickItem & { mode: CrossValMode['kind'] };
    const items: Item[] = [
      { label: 'Fast: KE-FER head on HOG features', description: 'minutes', detail: 'Label-free image features: every score is fully out-of-sample.', mode: 'hog' },
      { label: 'A run’s checkpoint: KE-FER head on its frozen encoder', description: 'minutes after the features', detail: 'Stronger features, but the encoder saw every label: a label it memorised ranks lower than it should.', mode: 'checkpoint' },
      { label: `Full model per fold (${backbone})`, description: 'hours on a CPU', detail: 'The whole KE-FER model trained K times: the honest one (kefer.backbone, batch size, learning rate).', mode: 'backbone' },
    ];
    const pick = await vscode.window.showQuickPick(items, { title: 'KE-FER: what to train in each fold', ignoreFocusOut: true });
    if (!pick) return undefined;
    if (pick.mode === 'hog') return { kind: 'hog' };
    if (pick.mode === 'backbone') return { kind: 'backbone', backbone };
    const withCkpt = this.deps.runs().filter((r) => r.status === 'done').map((r) => ({ r, ckpt: findCheckpointSafe(r.runDir) })).filter((x): x is { r: RunSummary; ckpt: string } => !!x.ckpt);
    if (withCkpt.length === 0) {
      void vscode.window.showInformationMessage('KE-FER: no finished run with a checkpoint. Train one first, or use the fast HOG mode.');
      return undefined;
    }
    const run = await vscode.window.showQuickPick(
      withCkpt.map((x) => ({ label: x.r.name, description: `${x.r.dataset} · ${x.r.backbone}`, ckpt: x.ckpt })),
      { title: 'KE-FER: whose encoder features', ignoreFocusOut: true },
    );
    return run ? { kind: 'checkpoint', checkpoint: run.ckpt } : undefined;
  }

  /** Runs (or, with the same outDir, resumes) one cross-validation and opens its run. */
  async crossValidate(req: CrossValRequest, ds: DatasetChoice): Promise<string | undefined> {
    const { output } = this.deps;
    const runDir = req.outDir;
    writeMeta(runDir, {
      dataSpec: ds.spec, datasetRoot: ds.root, datasetName: ds.name, startedAt: new Date().toISOString(),
      backbone: `cross-val K=${req.k} (${req.mode.kind === 'hog' ? 'HOG head' : req.mode.kind === 'checkpoint' ? 'checkpoint head' : req.mode.backbone})`,
      status: 'running', accuracy: null, classes: classesFor(7),
    });
    void vscode.commands.executeCommand('kefer.refreshRuns');
    const args = crossValArgs(req);
    output.show(true);
    output.appendLine(`$ kefer ${args.join(' ')}`);
    const progress = new CrossValProgress();
    const outcome = await runCancellable<CrossValCliEvent>({
      title: `KE-FER: finding label issues in ${ds.name} (${req.k}-fold)`,
      start: (report) =>
        new EngineProcess<CrossValCliEvent>(
          { nodePath: this.deps.host.nodePath(), cliPath: this.deps.host.cliPath(), args, cwd: this.deps.host.cwd() },
          (e) => {
            const u = progress.update(e);
            output.appendLine(e.type === 'log' ? e.message : u ? u.message : JSON.stringify(e));
            if (u) report(u.fraction, u.message);
          },
          (line) => output.appendLine(line),
          parseCrossValLine,
        ),
      cancelNote: 'cancel requested: stopping the cross-validation (finished folds are kept for a resume)',
      graceMs: 5000,
      output,
      track: (p) => (this.current = p),
    });
    const s = progress.summary;
    if (outcome.code === 0 && !outcome.cancelled) {
      updateMeta(runDir, { status: 'done', accuracy: s?.accuracy ?? null, classes: runClasses(runDir) ?? classesFor(7) });
      void vscode.commands.executeCommand('kefer.refreshRuns');
      this.deps.openDiagnostics(runDir);
      void vscode.window.showInformationMessage(
        `KE-FER: ${s?.records ?? 0} out-of-fold records (accuracy ${((s?.accuracy ?? 0) * 100).toFixed(1)}%); confident learning estimates ${s?.estimatedIssues ?? 0} label issues. Sorted by ${SORT_LABELS[this.deps.ranker()]}.`,
      );
      return runDir;
    }
    updateMeta(runDir, { status: outcome.cancelled ? 'cancelled' : 'failed' });
    void vscode.commands.executeCommand('kefer.refreshRuns');
    const again = outcome.cancelled
      ? await vscode.window.showWarningMessage(`KE-FER: cross-validation cancelled; finished folds are kept in ${path.basename(runDir)}.`, 'Resume')
      : await vscode.window.showErrorMessage(`KE-FER: cross-validation failed${outcome.error ? `: ${outcome.error}` : ` (exit ${outcome.code})`}. See the KE-FER output.`, 'Resume');
    // the same folder: the engine reads back the folds it finished
    return again === 'Resume' ? this.crossValidate(req, ds) : undefined;
  }

  dispose(): void {
    this.current?.cancel(2000);
  }
}

function findCheckpointSafe(runDir: string): string | undefined {
  try {
    return findCheckpoint(runDir);
  } catch {
    return undefined; // a run folder being written or removed
  }
}

/** The class list the engine wrote to run.json (an 8-class dataset is not the default 7). */
function runClasses(runDir: string): string[] | undefined {
  try {
    const c = (JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { config?: { classes?: unknown } }).config?.classes;
    return Array.isArray(c) && c.every((x) => typeof x === 'string') ? (c as string[]) : undefined;
  } catch {
    return undefined;
  }
}
