import { clip } from '../data/problems.js';
import { describeStoreError } from '../store/damage.js';

/** An error whose message is already the one line the user should see (no stack trace). */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Longest error line printed: a message can carry a megabyte field (an id, a label line). */
const MAX_ERROR = 2000;

/** Errors from our own readers/checkpoint code carry file names already; print them as one line (clipped, saying how long it was). */
export function formatError(err: unknown): string {
  return clip(formatErrorWhole(err), MAX_ERROR);
}

function formatErrorWhole(err: unknown): string {
  const store = describeStoreError(err);
  if (store) return store;
  if (err instanceof Error) {
    if (err.name === 'UserError' || err.name === 'DatasetError' || err.name === 'CheckpointError' || err.name === 'TextSourceError') {
      return err.message;
    }
    return process.env.KEFER_DEBUG ? (err.stack ?? err.message) : err.message;
  }
  return String(err);
}
