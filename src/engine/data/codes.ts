// Label code tables of the public datasets, as names in the canonical vocabulary. Readers look codes up
// here and then index into the dataset's class list, so no reader hard-codes canonical indices.
import { CANONICAL_CLASSES, type ClassName } from '../classes.js';

/** Code -> class name; `null` marks codes that exist but are dropped (e.g. AffectNet 8 None). */
export type CodeTable = readonly (ClassName | null)[];

export const CODE_TABLES = {
  /** Canonical 0-based order (KE-FER list files). */
  canonical: CANONICAL_CLASSES,
  /** RAF-DB basic, 1-based: 1 surprise .. 7 neutral. */
  rafdb: [null, 'surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'],
  /** AffectNet (all releases and the re-packed folders); 8 None, 9 Uncertain, 10 No-Face are dropped. */
  affectnet: ['neutral', 'happiness', 'sadness', 'surprise', 'fear', 'disgust', 'anger', 'contempt', null, null, null],
  /** FER2013 Kaggle csv. */
  fer2013: ['anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise', 'neutral'],
} as const satisfies Record<string, CodeTable>;

export type CodeTableName = keyof typeof CODE_TABLES;

export function isCodeTableName(name: string): name is CodeTableName {
  return Object.prototype.hasOwnProperty.call(CODE_TABLES, name);
}

/** FERPlus label.csv vote columns after name and box. */
export const FERPLUS_VOTE_COLUMNS = [
  'neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt', 'unknown', 'NF',
] as const;

/**
 * Looks a code up: a class name, `null` for a known-but-dropped code, or `undefined` for an unknown code.
 * Only plain non-negative integers count as codes ("3", not "3.0" or "03x").
 */
export function lookupCode(table: CodeTable, code: string): ClassName | null | undefined {
  if (!/^\d+$/.test(code)) return undefined;
  const n = Number(code);
  if (n >= table.length) return undefined;
  const v = table[n];
  // rafdb's 0 slot is null but 0 is not a valid RAF-DB code.
  if (v === null && table === CODE_TABLES.rafdb) return undefined;
  return v;
}
