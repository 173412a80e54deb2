// Events a training or evaluation process emits. The CLI prints them (as text, or as JSON lines
// with --events json) and the extension parses the JSON lines from the child process's stdout.

export interface BackendReport {
  /** tfjs backend name actually in use: "tensorflow", "webgpu", "wasm". */
  name: string;
  /** Adapter / library detail, e.g. "Dawn Vulkan: NVIDIA H100" or "XNNPACK SIMD, 1 thread". */
  detail: string;
}

export type EngineEvent =
  | { type: 'start'; runDir: string; backend: BackendReport; textSource: string; textKind: string; dataset: string; nTrain: number; nVal: number; epochs: number; stepsPerEpoch: number; backbone: string; synthetic: boolean }
  | { type: 'step'; step: number; epoch: number; totalSteps: number; loss: number; ls: number; lt: number; lc: number; lr: number; imgPerSec: number; etaSec: number; trainAcc: number }
  | { type: 'epoch'; epoch: number; step: number; trainLoss: number; valAccuracy: number | null; valMeanClassAccuracy: number | null; valLoss: number | null; best: boolean; checkpoint: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'done'; runDir: string; bestEpoch: number; selectedOn: 'validation' | 'last-epoch'; valAccuracy: number | null; checkpoint: string; cancelled: boolean }
  | { type: 'error'; message: string };

export type EngineEventType = EngineEvent['type'];
