// The FER+ vote rules (Barsoum et al. 2016; as microsoft/FERPlus src/ferplus.py applies them): which
// images a label scheme keeps and the vote distribution it trains on. Votes are Sample.votes (canonical
// class order, then unknown, NF). The ferplus reader keeps images by one of these rules (majority unless
// the spec says ?keep=...); train/labelSchemes.ts turns the distributions into loss targets.
export type FerplusVoteRule = 'majority' | 'crossentropy' | 'multitarget';
export const FERPLUS_VOTE_RULES: readonly FerplusVoteRule[] = ['majority', 'crossentropy', 'multitarget'];

/** Emotion columns in Sample.votes (the 8 canonical classes); unknown and NF follow. */
const EMOTIONS = 8;

/**
 * The vote distribution a scheme trains on, over the first `k` canonical classes (7 or 8), summing to 1;
 * undefined where the scheme drops the image (no valid emotion, or none left among the k classes).
 *  - 'crossentropy' / 'probability': the top emotions (up to 3, ties together) until they hold 75% of the
 *    votes; the image is dropped when they hold no more than half, or more than 3 tie (ferplus.py).
 *  - 'multitarget': the emotions with at least 30% of the votes; dropped when they hold no more than half.
 *  - 'majority': one-hot of the top emotion when it holds more than half.
 */
export function voteDistribution(votes: readonly number[], scheme: FerplusVoteRule | 'probability', k: number): number[] | undefined {
  const e = votes.map((x) => (x <= 1 ? 0 : x)); // single votes are outliers
  const total = e.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  let kept = new Array<number>(e.length).fill(0);
  if (scheme === 'majority') {
    let best = 0;
    for (let i = 1; i < e.length; i++) if (e[i] > e[best]) best = i;
    if (!(e[best] > 0.5 * total)) return undefined;
    kept[best] = e[best];
  } else if (scheme === 'multitarget') {
    for (let i = 0; i < e.length; i++) if (e[i] >= 0.3 * total) kept[i] = e[i];
    if (!(sum(kept) > 0.5 * total)) return undefined;
  } else {
    let part = 0;
    let count = 0;
    let valid = true;
    const rest = e.slice();
    while (part < 0.75 * total && count < 3 && valid) {
      const max = Math.max(...rest);
      for (let i = 0; i < rest.length; i++) {
        if (rest[i] !== max) continue;
        kept[i] = max;
        rest[i] = 0;
        part += max;
        count++;
        if (i >= EMOTIONS) {
          // unknown / NF among the top votes: stop; keep it only when nothing came before it
          valid = false;
          if (sum(kept) > max) {
            kept[i] = 0;
            count--;
          }
          break;
        }
      }
    }
    if (sum(kept) <= 0.5 * total || count > 3) return undefined;
  }
  // The image is kept when its top class is an emotion (first maximum, as np.argmax).
  let top = 0;
  for (let i = 1; i < kept.length; i++) if (kept[i] > kept[top]) top = i;
  if (top >= EMOTIONS) return undefined;
  kept = kept.slice(0, k);
  const s = sum(kept);
  return s > 0 ? kept.map((x) => x / s) : undefined;
}

function sum(a: readonly number[]): number {
  return a.reduce((x, y) => x + y, 0);
}

export function argmax(a: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/**
 * A share of the votes that counts as a real second opinion: the FER+ paper's multi-target threshold
 * (an emotion with at least 30% of the votes is an acceptable label), 3 of FERPlus's 10 annotators.
 */
export const NOTABLE_VOTE_SHARE = 0.3;

function voteTotal(votes: readonly number[]): number {
  let t = 0;
  for (const v of votes) if (v > 0) t += v;
  return t;
}

/** Share of the votes a column got, in [0, 1]; null when there are no votes. */
export function voteShare(votes: readonly number[], column: number): number | null {
  const t = voteTotal(votes);
  return t > 0 ? Math.max(0, votes[column] ?? 0) / t : null;
}

/** Shannon entropy of the vote distribution over every column (emotions, unknown, NF), in bits; null without votes. */
export function voteEntropy(votes: readonly number[]): number | null {
  const t = voteTotal(votes);
  if (t <= 0) return null;
  let h = 0;
  for (const v of votes) if (v > 0) h -= (v / t) * Math.log2(v / t);
  return Math.round(h * 1e6) / 1e6;
}

/**
 * The annotators disagree about a sample given `label`: the label is not among the most-voted columns,
 * or another emotion got at least NOTABLE_VOTE_SHARE of the votes. (With FER+'s majority labels the
 * first never holds for an untouched label; the second is the disagreement the labels hide.)
 */
export function annotatorsDisagree(votes: readonly number[], label: number): boolean {
  const t = voteTotal(votes);
  if (t <= 0) return false;
  const most = Math.max(...votes);
  if ((votes[label] ?? 0) < most) return true;
  for (let c = 0; c < Math.min(EMOTIONS, votes.length); c++) if (c !== label && votes[c] >= NOTABLE_VOTE_SHARE * t) return true;
  return false;
}
