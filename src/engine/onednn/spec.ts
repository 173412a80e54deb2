// The op list moved to ../native/spec.ts: one spec for both native runtimes (oneDNN and CUDA).
export { nativeSpec, type NativeOp, type NativeSpec } from '../native/spec.js';
