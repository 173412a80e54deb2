// Registry of CLI commands: name -> lazy loader. Each command module exports
// `run(argv: string[]): Promise<number>` (exit code) and `summary` (one line for `kefer help`).
export interface CommandModule {
  run(argv: string[]): Promise<number>;
  summary: string;
}

export const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  train: () => import('./train.js'),
  eval: () => import('./eval.js'),
  demo: () => import('./demo.js'),
  data: () => import('./data.js'),
  relabel: () => import('./relabel.js'),
  labels: () => import('./labels.js'),
  'export-onnx': () => import('./exportOnnx.js'),
  issues: () => import('./issues.js'),
  'import-checkpoint': () => import('./importCheckpoint.js'),
};
