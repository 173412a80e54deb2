// The "Runs" tree in the KE-FER activity-bar container: one item per run (RunCatalogue: run folders
// and store runs, whoever trained them), newest first.
import * as vscode from 'vscode';
import type { RunSummary } from '../../webviews/protocol.js';

const ORIGIN: Record<NonNullable<RunSummary['trainedBy']>, string> = {
  extension: 'trained in the editor',
  cli: 'trained by the engine from a shell (kefer train / torchrun)',
  store: 'registered in the workspace store (its folder is elsewhere)',
};

export class RunItem extends vscode.TreeItem {
  constructor(readonly run: RunSummary) {
    super(run.name, vscode.TreeItemCollapsibleState.None);
    const acc = run.accuracy === null ? '' : `${(run.accuracy * 100).toFixed(1)}%`;
    const origin = run.trainedBy === 'cli' ? 'CLI' : run.trainedBy === 'store' ? 'store' : '';
    this.description = [run.dataset, run.backbone, acc, run.status, origin].filter(Boolean).join(' · ');
    this.tooltip = new vscode.MarkdownString(
      `**${run.name}**\n\n- dataset: ${run.dataset}\n- date: ${run.date ? new Date(run.date).toLocaleString() : 'n/a'}\n- backbone: ${run.backbone}\n- accuracy: ${acc || 'n/a'}\n- status: ${run.status}` +
        `${run.parent ? `\n- retrained from: ${run.parent}` : ''}${run.trainedBy ? `\n- ${ORIGIN[run.trainedBy]}` : ''}` +
        `${run.inStore === false && run.status === 'done' ? '\n- its records are not in the workspace store: train or evaluate with `--store .kefer/kefer.db` to browse it' : ''}`,
    );
    this.contextValue = `keferRun.${run.status}`;
    this.iconPath = new vscode.ThemeIcon(
      run.status === 'running' ? 'sync~spin' : run.status === 'done' ? 'pass' : run.status === 'cancelled' ? 'circle-slash' : 'error',
    );
    this.command = { command: 'kefer.openDiagnostics', title: 'Open Diagnostics', arguments: [this] };
  }
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunItem> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(readonly runs: () => RunSummary[]) {}

  refresh(): void {
    this.changed.fire();
  }

  getTreeItem(e: RunItem): vscode.TreeItem {
    return e;
  }

  getChildren(): RunItem[] {
    return this.runs().map((r) => new RunItem(r));
  }
}
