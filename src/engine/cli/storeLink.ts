// Connects a training run to the workspace store: the relabel overlay is applied to the data
// before training (so retraining uses corrected labels and drops excluded samples), and the
// finished run with its per-sample records is registered afterwards.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Dataset } from '../data/types.js';
import { applyOverlay, findDataset, importRecordsJsonl, openStore, registerRun, upsertDataset, type Store } from '../store/index.js';
import type { TrainResult } from '../train/trainer.js';

export interface OverlayReport {
  dataset: Dataset;
  relabeled: number;
  excluded: number;
}

/** Applies the store's overlay; counts what changed so the log can say so. */
export function withOverlay(store: Store, dataset: Dataset): OverlayReport {
  if (!findDataset(store, dataset.format, path.resolve(dataset.root))) return { dataset, relabeled: 0, excluded: 0 };
  const corrected = applyOverlay(store, dataset);
  const before = new Map(dataset.samples.map((s) => [s.id, s.label]));
  let relabeled = 0;
  for (const s of corrected.samples) if (before.get(s.id) !== s.label) relabeled++;
  return { dataset: corrected, relabeled, excluded: dataset.samples.length - corrected.samples.length };
}

export interface RunInfoForStore {
  backbone: string;
  config: unknown;
  textSource: string;
  backend: string;
  parent?: string;
}

/** Registers a run directory and imports its records.jsonl (when present). */
export function registerRunDir(store: Store, full: Dataset, spec: string, runDir: string, status: string, metrics: Record<string, unknown>, info: RunInfoForStore): { runId: string; records: number } {
  const row = upsertDataset(store, full, { spec });
  const runId = path.basename(runDir);
  registerRun(store, { id: runId, dataset: row.id, backbone: info.backbone, status, config: info.config, metrics: { ...metrics, runDir }, textSource: info.textSource, backend: info.backend, parent: info.parent });
  const recordsFile = path.join(runDir, 'records.jsonl');
  const records = existsSync(recordsFile) ? importRecordsJsonl(store, runId, recordsFile).records : 0;
  return { runId, records };
}

export function registerTrainedRun(store: Store, full: Dataset, spec: string, result: TrainResult, info: RunInfoForStore): { runId: string; records: number } {
  const last = result.history.at(-1);
  const best = result.history.find((h) => h.epoch === result.bestEpoch);
  return registerRunDir(store, full, spec, result.runDir, result.cancelled ? 'cancelled' : 'done', {
    valAccuracy: best?.valAccuracy ?? null, valMeanClassAccuracy: best?.valMeanClassAccuracy ?? null, bestEpoch: result.bestEpoch,
    selectedOn: result.selectedOn, epochs: result.history.length, lastTrainLoss: last?.trainLoss ?? null,
  }, info);
}

export { openStore };
