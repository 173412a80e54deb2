/** Where a run's class text embeddings came from. Stand-ins must never be presented as CLIP. */
export interface TextSourceInfo {
  kind: 'file' | 'clip' | 'standin';
  /** e.g. "openai/clip-vit-base-patch16 (ONNX)", "valence-arousal stand-in (Russell 1980 / Warriner 2013)". */
  model: string;
  /** Human-readable one-liner shown in logs and UI. */
  description: string;
  /** File the embeddings came from, when kind === 'file' or a cached CLIP result. */
  file?: string;
  /**
   * For kind === 'file': what produced the vectors, as recorded in the file ('unknown' when the file
   * does not say). Lets the UI keep a shared stand-in file from being mistaken for CLIP.
   */
  origin?: 'clip' | 'standin' | 'unknown';
}

export interface TextEmbeddings {
  classes: string[];
  prompts: string[];
  /** K x D row-major. Rows are NOT required to be normalised. */
  matrix: Float32Array;
  dim: number;
  source: TextSourceInfo;
}
