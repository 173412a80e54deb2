// Train / retrain / evaluate: starts the engine child process and shows it to the user through
// withProgress (cancellable), the "KE-FER" output channel, a status bar item and the dashboard.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { EngineEvent } from '../engine/events.js';
import { describeEvent } from './engine/eventStream.js';
import { EngineProcess } from './engine/engineProcess.js';
import { evalArgs, runFolderName, trainArgs, trainEnv, type EvalPrecision, type TrainSettings } from './settings.js';
import { classesFor, findCheckpoint, headlineAccuracy, readRecords, RECORDS_FILE, updateMeta, writeMeta } from './runlist/runFiles.js';

import type { DatasetChoice } from './datasets.js';
import type { RetrainMode } from '../webviews/protocol.js';

export interface TrainOptions {
  dataset: DatasetChoice;
  settings: TrainSettings;
  runsDir: string;
  /** Bounded run: sample dataset, tests. */
  epochs?: number;
  maxSteps?: number;
  /** Workspace store (<workspace>/.kefer/kefer.db): relabel overlay in, run and records out. */
  storePath: string;
  /** Retrain with corrected labels: the run folder this one improves on. */
  parent?: string;
  /** Retrain kind: 'head' = quick (frozen encoder of the parent's best checkpoint), 'full' = from scratch. */
  mode?: RetrainMode;
  /** Extra engine flags (sample-run settings). */
  extra?: readonly string[];
}

export interface EngineHost {
  nodePath(): string;
  cliPath(): string;
  cwd(): string;
}

export class TrainingController implements vscode.Disposable {
  private current: EngineProcess | undefined;
  private readonly status: vscode.StatusBarItem;
  private readonly events = new vscode.EventEmitter<EngineEvent>();
  private readonly finished = new vscode.EventEmitter<{ runDir: string; parent?: string; ok: boolean }>();
  readonly onEvent = this.events.event;
  readonly onFinished = this.finished.event;
  /** Every event of the current (or last) run, so a dashboard opened late can replay the curves. */
  history: EngineEvent[] = [];

  constructor(
    private readonly host: EngineHost,
    readonly output: vscode.OutputChannel,
  ) {
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
    this.status.command = 'kefer.showDashboard';
  }

  get running(): boolean {
    return this.current?.running ?? false;
  }

  cancel(): void {
    if (!this.current) return;
    this.output.appendLine('cancel requested: sending SIGTERM to the engine (it saves a checkpoint first)');
    this.current.cancel();
  }

  async train(o: TrainOptions): Promise<string | undefined> {
    if (this.running) {
      void vscode.window.showWarningMessage('KE-FER: a training run is already in progress.');
      return undefined;
    }
    const head = o.parent && o.mode === 'head' ? findCheckpoint(o.parent) : undefined;
    if (o.parent && o.mode === 'head' && !head) {
      void vscode.window.showErrorMessage(`KE-FER: no checkpoint in ${path.basename(o.parent)} for a quick retrain; use a full retrain.`);
      return undefined;
    }
    const runDir = path.join(o.runsDir, runFolderName(o.dataset.name, new Date(), o.parent ? (head ? 'head' : 'full') : undefined));
    writeMeta(runDir, {
      dataSpec: o.dataset.spec, datasetRoot: o.dataset.root, datasetName: o.dataset.name, startedAt: new Date().toISOString(),
      backbone: head ? 'head' : o.settings.backbone, status: 'running', accuracy: null, classes: classesFor(7), parent: o.parent,
    });
    void vscode.commands.executeCommand('kefer.refreshRuns');
    const args = trainArgs({
      data: o.dataset.spec, outDir: runDir, settings: o.settings, epochsOverride: o.epochs, maxSteps: o.maxSteps, storePath: o.storePath, extra: o.extra,
      parent: o.parent ? path.basename(o.parent) : undefined, head: head ? { checkpoint: head } : undefined,
    });
    this.output.show(true);
    this.output.appendLine(`$ kefer ${args.join(' ')}`);
    this.history = [];
    const ok = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `KE-FER: ${o.parent ? (head ? 'quick retrain (head)' : 'full retrain') : 'training'} on ${o.dataset.name}`, cancellable: true },
      async (progress, token) => {
        let lastPct = 0;
        const proc = new EngineProcess(
          { nodePath: this.host.nodePath(), cliPath: this.host.cliPath(), args, cwd: this.host.cwd(), env: trainEnv(o.settings) },
          (e) => {
            this.history.push(e);
            this.events.fire(e);
            this.output.appendLine(describeEvent(e));
            if (e.type === 'start') {
              updateMeta(runDir, { backend: `${e.backend.name} (${e.backend.detail})`, textSource: `${e.textKind}: ${e.textSource}` });
              progress.report({ message: `backend ${e.backend.name}, text ${e.textKind}` });
              this.status.text = `$(sync~spin) KE-FER ${e.backend.name}`;
            } else if (e.type === 'step') {
              const pct = (100 * e.step) / Math.max(1, e.totalSteps);
              progress.report({ increment: pct - lastPct, message: `step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(3)} · ${e.imgPerSec.toFixed(0)} img/s · ETA ${Math.round(e.etaSec)}s` });
              lastPct = pct;
              this.status.text = `$(sync~spin) KE-FER ${Math.round(pct)}% · loss ${e.loss.toFixed(3)}`;
            } else if (e.type === 'done') {
              updateMeta(runDir, { checkpoint: e.checkpoint });
            }
          },
          (line) => this.output.appendLine(line),
        );
        this.current = proc;
        this.status.text = '$(sync~spin) KE-FER starting';
        this.status.tooltip = `Training ${o.dataset.name} — click for the dashboard`;
        this.status.show();
        const sub = token.onCancellationRequested(() => this.cancel());
        try {
          const r = await proc.result;
          const cancelled = r.done?.cancelled ?? (r.signal !== null);
          if (r.code !== 0 && !r.done) {
            updateMeta(runDir, { status: 'failed' });
            void vscode.window.showErrorMessage(`KE-FER: training failed${r.error ? `: ${r.error}` : ` (exit ${r.code})`}. See the KE-FER output.`);
            return false;
          }
          // `--store` registered the run and imported records.jsonl; the tree reads the file for its summary.
          const records = fs.existsSync(path.join(runDir, RECORDS_FILE)) ? readRecords(runDir) : [];
          const acc = headlineAccuracy(records) ?? r.done?.valAccuracy ?? null;
          const k = records.reduce((m, x) => Math.max(m, x.label, x.pred), 0) + 1;
          updateMeta(runDir, { status: cancelled ? 'cancelled' : 'done', accuracy: acc, classes: classesFor(k) });
          return !cancelled;
        } finally {
          sub.dispose();
          this.current = undefined;
          this.status.hide();
        }
      },
    );
    void vscode.commands.executeCommand('kefer.refreshRuns');
    this.finished.fire({ runDir, parent: o.parent, ok });
    return runDir;
  }

  /** Writes records.jsonl for a run with `kefer eval --per-sample`. */
  async evaluate(runDir: string, dataSpec: string, precision: EvalPrecision = 'fp32'): Promise<boolean> {
    const ckpt = findCheckpoint(runDir);
    if (!ckpt) {
      this.output.appendLine(`no checkpoint in ${runDir}`);
      return false;
    }
    const args = evalArgs(ckpt, dataSpec, path.join(runDir, RECORDS_FILE), precision);
    this.output.appendLine(`$ kefer ${args.join(' ')}`);
    const proc = new EngineProcess({ nodePath: this.host.nodePath(), cliPath: this.host.cliPath(), args, cwd: this.host.cwd() }, (e) => this.output.appendLine(describeEvent(e)), (l) => this.output.appendLine(l));
    const r = await proc.result;
    return r.code === 0;
  }

  dispose(): void {
    this.current?.cancel(2000);
    this.status.dispose();
    this.events.dispose();
    this.finished.dispose();
  }
}
