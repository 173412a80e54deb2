// Class orders of the two Node peers and their mapping onto the project's canonical order
// (surprise, fear, disgust, happiness, sadness, anger, neutral[, contempt]). Pure functions, so the
// mapping is unit-tested without the peer packages.
import { CANONICAL_CLASSES, type ClassName } from '../../src/engine/classes.js';

/** @vladmandic/face-api FaceExpressionNet output order (FACE_EXPRESSION_LABELS). */
export const FACEAPI_ORDER = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;
/** @vladmandic/human emotion model (oarriaga mini-Xception, 1-channel input) output order. */
export const HUMAN_ORDER = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;

/** Peer label -> canonical class name. Written out rather than fuzzy-matched: a typo must fail a test. */
export const PEER_LABEL_TO_CANONICAL: Record<string, ClassName> = {
  neutral: 'neutral',
  happy: 'happiness',
  sad: 'sadness',
  angry: 'anger',
  fearful: 'fear',
  fear: 'fear',
  disgusted: 'disgust',
  disgust: 'disgust',
  surprised: 'surprise',
  surprise: 'surprise',
};

/**
 * For each peer output index, the index in `classes` it maps to. Throws if a peer label has no
 * canonical name or the target class list lacks it; a class in `classes` the peer cannot predict
 * (contempt) simply gets no source.
 */
export function peerIndexMap(peerOrder: readonly string[], classes: readonly string[] = CANONICAL_CLASSES.slice(0, 7)): number[] {
  return peerOrder.map((label) => {
    const name = PEER_LABEL_TO_CANONICAL[label];
    if (!name) throw new Error(`peer label '${label}' has no canonical class`);
    const k = classes.indexOf(name);
    if (k < 0) throw new Error(`peer class '${label}' (${name}) is not in [${classes.join(', ')}]`);
    return k;
  });
}

/** Re-orders one peer probability vector into `classes` order (classes the peer lacks get 0). */
export function toCanonical(probs: ArrayLike<number>, peerOrder: readonly string[], classes: readonly string[] = CANONICAL_CLASSES.slice(0, 7)): number[] {
  if (probs.length !== peerOrder.length) throw new Error(`expected ${peerOrder.length} peer probabilities, got ${probs.length}`);
  const map = peerIndexMap(peerOrder, classes);
  const out = new Array<number>(classes.length).fill(0);
  for (let i = 0; i < map.length; i++) out[map[i]] += probs[i];
  return out;
}
