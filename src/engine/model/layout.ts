// The backbones' stage layout, the one statement of their structure outside the tfjs model code: the ONNX
// export (onnx/export.ts) and the runtimes' encoder graph (runtimes/encoderGraph.ts) are built from it.
/** Stage layout per backbone; must match encoders.ts (the equality tests catch drift). */
export const LAYOUT = {
  resnet18: { stemKernel: 7, stemStride: 2, stemWidth: 64, maxPool: true, widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2], strides: [1, 2, 2, 2], head: false },
  compact: { stemKernel: 3, stemStride: 1, stemWidth: 32, maxPool: false, widths: [64, 128, 256], blocks: [1, 1, 1], strides: [2, 2, 2], head: true },
} as const;
