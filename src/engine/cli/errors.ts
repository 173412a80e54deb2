import { describeStoreError } from '../store/damage.js';

/** An error whose message is already the one line the user should see (no stack trace). */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Errors from our own readers/checkpoint code carry file names already; print them as one line. */
export function formatError(err: unknown): string {
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
