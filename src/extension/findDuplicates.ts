// "KE-FER: Find Duplicates": asks for the dataset (the open run's first) and, when a finished run of it
// has a checkpoint, whether to add the semantic tier; runs `kefer data dups SPEC --store <workspace store>
// --events json` in the engine child process with a cancellable progress notification; then opens the
// diagnostics panel's "Duplicates & Leaks" view on the stored scan. Glue: arguments, event parsing and
// progress are in duplicates.ts.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DupsCliEvent } from '../engine/events.js';
import type { DatasetChoice } from './datasets.js';
import { DupsProgress, dupsArgs, dupsSummary, parseDupsLine, type DupsRequest } from './duplicates.js';
import { runCancellable } from './engine/cancellableRun.js';
import { EngineProcess } from './engine/engineProcess.js';
import { findCheckpoint } from './runlist/runFiles.js';
import type { EngineHost } from './training.js';
import type { RunSummary } from '../webviews/protocol.js';

export interface FindDuplicatesDeps {
  host: EngineHost;
  output: vscode.OutputChannel;
  storePath: () => string;
  /** The dataset picker, the open run's dataset first. */
  pickDataset: (title: string) => Promise<DatasetChoice | undefined>;
  runs: () => RunSummary[];
  /** The dataset a run trained on. */
  datasetOfRun: (runDir: string) => DatasetChoice | undefined;
  /** The diagnostics panel's run, when it is open. */
  panelRunDir: () => string | undefined;
  /** kefer.duplicates.nearThreshold / semanticThreshold (null: the engine's defaults). */
  thresholds: () => { near: number | null; semantic: number | null };
  /** Reads the store's datasets again (the view may name only a registered dataset root). */
  refreshCatalogue: () => Promise<void>;
  showDuplicates: (root: string, runDir: string | undefined) => Promise<void>;
}

export class FindDuplicatesCommand implements vscode.Disposable {
  private current: EngineProcess<DupsCliEvent> | undefined;

  constructor(private readonly deps: FindDuplicatesDeps) {}

  /** The finished runs of a dataset (by root), the panel's first, then newest first. */
  private runsOf(root: string): RunSummary[] {
    const want = path.resolve(root);
    const open = this.deps.panelRunDir();
    return this.deps.runs()
      .filter((r) => r.status === 'done' && this.deps.datasetOfRun(r.runDir) && path.resolve(this.deps.datasetOfRun(r.runDir)!.root) === want)
      .sort((a, b) => Number(b.runDir === open) - Number(a.runDir === open));
  }

  /** The command; `root`: the duplicates view's button names its dataset. Resolves with the scan's `done` event. */
  async run(root?: string): Promise<Extract<DupsCliEvent, { type: 'done' }> | undefined> {
    if (this.current) {
      void vscode.window.showWarningMessage('KE-FER: a duplicate search is already running.');
      return undefined;
    }
    const known = root ? this.runsOf(root).map((r) => this.deps.datasetOfRun(r.runDir)).find((d) => d) : undefined;
    const ds = known ?? (await this.deps.pickDataset('KE-FER: dataset to search for duplicates and split leaks'));
    if (!ds) return undefined;
    const semantic = await this.pickSemantic(ds);
    if (semantic === null) return undefined;
    const t = this.deps.thresholds();
    return this.scan({ spec: ds.spec, storePath: this.deps.storePath(), run: semantic, nearThreshold: t.near, semanticThreshold: t.semantic }, ds);
  }

  /** The run whose embeddings add the semantic tier; undefined: exact and near only; null: dismissed. */
  private async pickSemantic(ds: DatasetChoice): Promise<string | undefined | null> {
    const withCkpt = this.runsOf(ds.root).filter((r) => {
      try {
        return !!findCheckpoint(r.runDir);
      } catch {
        return false; // a run folder being written or removed
      }
    });
    if (!withCkpt.length) return undefined;
    type Item = vscode.QuickPickItem & { run?: string };
    const items: Item[] = [
      { label: 'Exact and near duplicates', description: 'the images: identical pixels; resized, re-compressed, mirrored, brightened or slightly cropped copies' },
      ...withCkpt.map((r): Item => ({
        label: `Exact, near and semantic (${r.name})`, run: r.runDir,
        description: 'adds look-alikes by the run’s encoder embeddings',
        detail: 'The semantic threshold is not validated on a briefly trained encoder (docs/duplicates.md): set kefer.duplicates.semanticThreshold from your encoder.',
      })),
    ];
    const pick = await vscode.window.showQuickPick(items, { title: `KE-FER: which duplicates to look for in ${ds.name}`, ignoreFocusOut: true });
    return pick ? pick.run : null;
  }

  /** Runs one scan and, when it finished, opens the duplicates view on it. */
  async scan(req: DupsRequest, ds: DatasetChoice): Promise<Extract<DupsCliEvent, { type: 'done' }> | undefined> {
    const { output } = this.deps;
    const args = dupsArgs(req);
    output.appendLine(`$ kefer ${args.join(' ')}`);
    const progress = new DupsProgress();
    let lastText = '';
    const outcome = await runCancellable<DupsCliEvent>({
      title: `KE-FER: finding duplicates in ${ds.name}`,
      start: (report) =>
        new EngineProcess<DupsCliEvent>(
          { nodePath: this.deps.host.nodePath(), cliPath: this.deps.host.cliPath(), args, cwd: this.deps.host.cwd() },
          (e) => {
            const u = progress.update(e);
            if (!u) return;
            if (e.type !== 'progress' || e.phase !== 'near' || e.done === 0) output.appendLine(u.message);
            report(u.fraction, u.message);
          },
          (line) => {
            output.appendLine(line);
            if (line.trim()) lastText = line.trim();
          },
          parseDupsLine,
        ),
      cancelNote: 'cancel requested: stopping the duplicate search (nothing is stored before it finishes)',
      graceMs: 2000,
      output,
      track: (p) => (this.current = p),
    });
    const done = progress.done;
    if (outcome.code === 0 && !outcome.cancelled && done) {
      output.appendLine(`duplicates of ${ds.name}: ${dupsSummary(done)}`);
      await this.deps.refreshCatalogue();
      await this.deps.showDuplicates(done.datasetRoot, this.runsOf(done.datasetRoot)[0]?.runDir);
      void vscode.window.showInformationMessage(`KE-FER: duplicates in ${ds.name}: ${dupsSummary(done)}.`);
      return done;
    }
    if (outcome.cancelled) void vscode.window.showWarningMessage(`KE-FER: duplicate search in ${ds.name} cancelled; nothing was stored.`);
    else void vscode.window.showErrorMessage(`KE-FER: duplicate search failed: ${outcome.error ?? (lastText.replace(/^kefer: /, '') || `exit ${outcome.code}`)}. See the KE-FER output.`);
    return undefined;
  }

  dispose(): void {
    this.current?.cancel(2000);
  }
}
