// The "Runs" tree in the KE-FER activity-bar container: one item per run folder, newest first.
import * as vscode from 'vscode';
import type { RunSummary } from '../../webviews/protocol.js';
import { listRuns } from './runFiles.js';

export class RunItem extends vscode.TreeItem {
  constructor(readonly run: RunSummary) {
    super(run.name, vscode.TreeItemCollapsibleState.None);
    const acc = run.accuracy === null ? '' : `${(run.accuracy * 100).toFixed(1)}%`;
    this.description = [run.dataset, run.backbone, acc, run.status].filter(Boolean).join(' · ');
    this.tooltip = new vscode.MarkdownString(
      `**${run.name}**\n\n- dataset: ${run.dataset}\n- date: ${new Date(run.date).toLocaleString()}\n- backbone: ${run.backbone}\n- accuracy: ${acc || 'n/a'}\n- status: ${run.status}${run.parent ? `\n- retrained from: ${run.parent}` : ''}`,
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

  constructor(private readonly runsDir: () => string | undefined) {}

  refresh(): void {
    this.changed.fire();
  }

  runs(): RunSummary[] {
    const d = this.runsDir();
    return d ? listRuns(d) : [];
  }

  getTreeItem(e: RunItem): vscode.TreeItem {
    return e;
  }

  getChildren(): RunItem[] {
    return this.runs().map((r) => new RunItem(r));
  }
}
