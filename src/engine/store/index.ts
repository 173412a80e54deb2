// Public API of the workspace store (run store + relabel overlay). See docs/curation.md.
export { openStore, defaultStorePath, currentAuthor, StoreError, DEFAULT_STORE, BUSY_TIMEOUT_MS, type Store, type OpenOptions } from './db.js';
export { describeStoreError } from './damage.js';
export { MIGRATIONS, SCHEMA_VERSION, migrate, schemaVersion, type Migration } from './migrations.js';
export { upsertDataset, getDataset, listDatasets, findDataset, resolveDataset, sampleKeyOf, storedDataset, type DatasetRow, type SampleKey } from './datasets.js';
export { registerRun, getRun, listRuns, runKey, type RunInfo, type RunRow } from './runs.js';
export { importRecords, importRecordsJsonl, scoreRecord, type ImportResult } from './records.js';
export { encodeProbs, decodeProbs } from './probsBlob.js';
export {
  relabel,
  setMark,
  confirmLabel,
  undo,
  redo,
  labelLog,
  changeEvents,
  effectiveLabels,
  applyOverlay,
  type LabelChange,
  type ChangeOptions,
  type ChangeKind,
  type MarkKind,
  type ChangeState,
  type EffectiveLabel,
  type LogOptions,
} from './overlay.js';
export * from './queries.js';
export { SPOT_SCHEMA_VERSION, SPOT_CHECK_SEED } from './spotRanks.js';
export {
  spotCheckReviews, spotCheckNext, recalibrate, storedCalibration, runSampleRecords, runRecordsSignature, writeCalibrationChunk,
  type PendingScores, type RunRecords, type Calibrated, type NeedsReviews, type CalibrationResult, type ClassRate, type ReviewTally, type RecalibrateOptions,
} from './spotCheck.js';
export { exportLabels, EXPORT_FORMATS, type ExportFormat, type ExportOptions, type ExportResult } from './export.js';
export { applyGroup, type GroupChange } from './overlay.js';
export {
  DUPS_SCHEMA_VERSION, DUP_SCORES_SCHEMA_VERSION, saveDupScan, latestDupScan, dupClusterPage, dupClusterCount, dupClusters, dupCluster,
  type StoredCluster, type DupScanInfo, type DupMember, type DupClusterRow, type DupPageQuery, type DupPage,
} from './dupScans.js';
export { excludeLeakedCopies, keepOnePerCluster, relabelDupCluster, excludeLeakedInCluster, keepOneInCluster, keptMember, leakedMembers, type FixResult } from './dupFixes.js';
