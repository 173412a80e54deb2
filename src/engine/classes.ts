// The canonical class order used everywhere inside the project (RAF-DB order, then contempt).
// Every dataset reader maps its own codes onto these indices.
export const CANONICAL_CLASSES = [
  'surprise',
  'fear',
  'disgust',
  'happiness',
  'sadness',
  'anger',
  'neutral',
  'contempt',
] as const;

export type ClassName = (typeof CANONICAL_CLASSES)[number];

export const NEUTRAL: ClassName = 'neutral';

/** The 7 basic classes (indices 0..6) or the 8-class variant with contempt (index 7). */
export function classList(numClasses: 7 | 8): ClassName[] {
  return CANONICAL_CLASSES.slice(0, numClasses) as ClassName[];
}

// Usual spellings found in public FER folder layouts, mapped to the canonical names.
const ALIASES: Record<string, ClassName> = {
  surprise: 'surprise', surprised: 'surprise', suprise: 'surprise',
  fear: 'fear', fearful: 'fear', scared: 'fear', afraid: 'fear',
  disgust: 'disgust', disgusted: 'disgust',
  happiness: 'happiness', happy: 'happiness', joy: 'happiness',
  sadness: 'sadness', sad: 'sadness',
  anger: 'anger', angry: 'anger',
  neutral: 'neutral', calm: 'neutral',
  contempt: 'contempt', contemptuous: 'contempt',
};

/** Maps a folder or class name (any case, common variants) to the canonical name, or undefined. */
export function canonicalClassName(name: string): ClassName | undefined {
  return ALIASES[name.trim().toLowerCase()];
}

export function classIndex(name: ClassName): number {
  return CANONICAL_CLASSES.indexOf(name);
}
