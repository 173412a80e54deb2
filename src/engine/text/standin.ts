// Stand-in class text embeddings for machines without CLIP weights. NOT CLIP: the vectors encode only
// the published affective norms of the class words, so cosine similarity between classes follows
// valence/arousal/dominance similarity (e.g. anger is close to fear and disgust, far from happiness).
//
// Source of the coordinates: Warriner, A. B., Kuperman, V., & Brysbaert, M. (2013). Norms of valence,
// arousal, and dominance for 13,915 English lemmas. Behavior Research Methods, 45(4), 1191-1207.
// Values are the V/A/D.Mean.Sum columns (1..9 scale) of Ratings_Warriner_et_al.csv for the exact
// class words (rows: surprise 12138, fear 4524, disgust 3569, happiness 5595, sadness 10587,
// anger 418, neutral 8155, contempt 2639).
import { CANONICAL_CLASSES, canonicalClassName, type ClassName } from '../classes.js';
import { Rng } from '../util/rng.js';
import type { TextEmbeddings } from './types.js';

export const STANDIN_DIM = 512;
export const STANDIN_SEED = 0x6b656665; // "kefe"
export const STANDIN_MODEL = 'valence-arousal-dominance stand-in (Warriner et al. 2013 norms)';
export const STANDIN_DESCRIPTION =
  'stand-in, not CLIP: class vectors from Warriner et al. (2013) valence/arousal/dominance norms, ' +
  'lifted to 512-d by a fixed seeded orthonormal projection';

/** [valence, arousal, dominance], each the mean rating on Warriner et al.'s 1..9 scale. */
export const WARRINER_VAD: Record<ClassName, [number, number, number]> = {
  surprise: [7.44, 6.57, 5.17],
  fear: [2.93, 6.14, 3.32],
  disgust: [3.32, 5.0, 4.84],
  happiness: [8.48, 6.5, 7.05],
  sadness: [2.4, 2.81, 3.84],
  anger: [2.5, 5.93, 5.14],
  neutral: [5.5, 3.45, 5.81],
  contempt: [3.22, 4.61, 4.45],
};

// Feature weights. Affect dims are centred at the scale midpoint 5 and divided by 4 (so -1..1).
// IDENTITY keeps classes with similar norms separable (each class gets its own orthogonal axis);
// SHARED mimics CLIP's large common "a photo of a person making ... expression" component, which
// leaves the differences t_k - t_N (used by Lt) untouched but keeps inter-class cosines moderate.
const IDENTITY_WEIGHT = 0.5;
const SHARED_WEIGHT = 0.5;
const FEATURE_DIM = 3 + CANONICAL_CLASSES.length + 1;

/** The small feature vector of one class before the lift (exported for tests). */
export function standinFeatures(name: string): Float64Array {
  const cls = canonicalClassName(name);
  if (!cls) throw new Error(`Stand-in text embeddings: no affective norms for class "${name}"`);
  const f = new Float64Array(FEATURE_DIM);
  WARRINER_VAD[cls].forEach((v, i) => (f[i] = (v - 5) / 4));
  f[3 + CANONICAL_CLASSES.indexOf(cls)] = IDENTITY_WEIGHT;
  f[FEATURE_DIM - 1] = SHARED_WEIGHT;
  return f;
}

/**
 * dim x k matrix with orthonormal columns (Gram-Schmidt of seeded Gaussians). Orthonormal columns
 * preserve inner products, so cosines in 512-d equal the cosines of the feature vectors.
 */
export function seededOrthonormal(dim: number, k: number, seed: number): Float64Array[] {
  const rng = new Rng(seed);
  const rnd = () => rng.next();
  const gauss = () => {
    const u = Math.max(rnd(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  };
  const cols: Float64Array[] = [];
  while (cols.length < k) {
    const v = Float64Array.from({ length: dim }, gauss);
    for (const c of cols) {
      let d = 0;
      for (let i = 0; i < dim; i++) d += v[i] * c[i];
      for (let i = 0; i < dim; i++) v[i] -= d * c[i];
    }
    const n = Math.hypot(...v);
    if (n < 1e-8) continue;
    for (let i = 0; i < dim; i++) v[i] /= n;
    cols.push(v);
  }
  return cols;
}

/** Deterministic stand-in embeddings for `classes` (canonical names or common aliases). */
export function standinTextEmbeddings(classes: string[], prompts: string[], dim = STANDIN_DIM): TextEmbeddings {
  const basis = seededOrthonormal(dim, FEATURE_DIM, STANDIN_SEED);
  const matrix = new Float32Array(classes.length * dim);
  classes.forEach((name, r) => {
    const f = standinFeatures(name);
    for (let j = 0; j < FEATURE_DIM; j++) {
      if (f[j] === 0) continue;
      const col = basis[j];
      for (let i = 0; i < dim; i++) matrix[r * dim + i] += f[j] * col[i];
    }
  });
  return {
    classes: [...classes],
    prompts: [...prompts],
    matrix,
    dim,
    source: { kind: 'standin', model: STANDIN_MODEL, description: STANDIN_DESCRIPTION },
  };
}
