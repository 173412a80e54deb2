// The FER+ paper's four training-label schemes (Barsoum et al. 2016, "Training deep networks for facial
// expression recognition with crowd-sourced label distribution"; rules as microsoft/FERPlus src/ferplus.py
// applies them), turned into per-batch loss targets (losses.ts):
//   majority      one-hot of the sample's label (the reader's majority vote): the default, unchanged.
//   crossentropy  the vote distribution as a soft target.
//   probability   one label drawn from the vote distribution for each sample, anew every epoch.
//   multitarget   every emotion with >= 30% of the votes is accepted; Ls = -log max over accepted k of p_k.
// Votes are Sample.votes (canonical class order, then unknown, NF). Single votes are dropped first (as in
// every FER+ scheme). A sample whose label is not its votes' top class was relabeled (a store overlay):
// the user's label wins and the sample trains on it one-hot.
import type { Dataset } from '../data/types.js';
import type { SoftTargetRows } from '../losses.js';
import { argmax, voteDistribution } from '../data/ferplusVotes.js';
import { deriveSeed, Rng } from '../util/rng.js';

export type FerplusLabelScheme = 'majority' | 'probability' | 'crossentropy' | 'multitarget';
export const FERPLUS_LABEL_SCHEMES: readonly FerplusLabelScheme[] = ['majority', 'probability', 'crossentropy', 'multitarget'];

/** Per-batch targets of one scheme for a training set. */
export class TrainTargets {
  /** Per sample: its scheme distribution over the classes, or undefined (train on the label one-hot). */
  private readonly dist: (Float32Array | undefined)[];
  /** Samples that train on their vote distribution, and those relabeled (their label wins). */
  readonly withVotes: number;
  readonly relabeled: number;

  constructor(
    private readonly dataset: Dataset,
    readonly scheme: FerplusLabelScheme,
    private readonly seed: number,
  ) {
    const k = dataset.classes.length;
    let withVotes = 0;
    let relabeled = 0;
    this.dist = dataset.samples.map((s) => {
      if (scheme === 'majority' || !s.votes) return undefined;
      const d = voteDistribution(s.votes, scheme, k);
      if (!d) return undefined;
      if (argmax(d) !== s.label) {
        relabeled++;
        return undefined;
      }
      withVotes++;
      return Float32Array.from(d);
    });
    this.withVotes = withVotes;
    this.relabeled = relabeled;
    if (scheme !== 'majority' && withVotes === 0) {
      throw new Error(`--ferplus-labels ${scheme} trains on the annotators' votes, and no sample of ${dataset.format}:${dataset.root} has any (a ferplus: dataset has them)`);
    }
  }

  /** What the loss gets for these samples: the labels, and soft rows for crossentropy / multitarget. */
  batch(idx: readonly number[], epoch: number, step: number): { labels: number[]; soft?: SoftTargetRows } {
    const samples = this.dataset.samples;
    const k = this.dataset.classes.length;
    const labels = idx.map((i) => samples[i].label);
    if (this.scheme === 'majority') return { labels };
    if (this.scheme === 'probability') {
      const rng = new Rng(deriveSeed(this.seed, epoch, step, 2));
      return { labels: idx.map((i, j) => (this.dist[i] ? draw(this.dist[i]!, rng.next()) : labels[j])) };
    }
    const q = new Float32Array(idx.length * k);
    idx.forEach((i, j) => {
      const d = this.dist[i];
      for (let c = 0; c < k; c++) {
        const p = d ? d[c] : c === labels[j] ? 1 : 0;
        q[j * k + c] = this.scheme === 'multitarget' ? (p > 0 ? 1 : 0) : p; // multitarget: accepted or not
      }
    });
    return { labels, soft: { kind: this.scheme === 'multitarget' ? 'multitarget' : 'distribution', q } };
  }
}

function draw(p: Float32Array, u: number): number {
  let acc = 0;
  for (let c = 0; c < p.length; c++) {
    acc += p[c];
    if (u < acc) return c;
  }
  // rounding: the last class with mass
  for (let c = p.length - 1; c >= 0; c--) if (p[c] > 0) return c;
  return 0;
}
