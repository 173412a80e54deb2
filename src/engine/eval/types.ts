/** One evaluated sample, as `kefer eval --per-sample FILE.jsonl` writes it (one JSON object a line). */
export interface SampleRecord {
  id: string;
  /** Relative to the dataset root, forward slashes. */
  path: string;
  split: string;
  label: number;
  pred: number;
  /** Softmax probabilities over the run's classes. */
  probs: number[];
  /** cos(v, t_y) */
  simText: number;
  /** cos(n, t_y) with n = F_n(v) */
  simNeutral: number;
  /** simText - simNeutral: the emotional-to-neutral gap. */
  gap: number;
  /** cos(v - n, t_y - t_N); null for neutral samples. */
  align: number | null;
  /** The annotators' vote counts where the dataset has them (Sample.votes: canonical classes, unknown, NF). */
  votes?: number[];
}

export interface EvalSummary {
  classes: string[];
  n: number;
  /** WAR: overall accuracy. */
  accuracy: number;
  /** UAR: mean of per-class recalls (classes with no samples are left out). */
  meanClassAccuracy: number;
  /** confusion[true][pred] counts. */
  confusion: number[][];
  perClassAccuracy: (number | null)[];
  losses: { ls: number; lt: number; lcPerSample: number };
}
