// Small helpers over node:util parseArgs: typed number flags with file-free, one-line errors.
import { UserError } from './errors.js';

export function num(flags: Record<string, unknown>, name: string, fallback: number, opts: { int?: boolean; min?: number } = {}): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || (opts.int && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min)) {
    throw new UserError(`--${name}: expected ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got '${String(raw)}'`);
  }
  return v;
}

export function oneOf<T extends string>(flags: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  if (!allowed.includes(raw as T)) throw new UserError(`--${name}: expected one of ${allowed.join(', ')}, got '${String(raw)}'`);
  return raw as T;
}
