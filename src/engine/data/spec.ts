// Parses data specs of the form `<format>:<path>[#split][?key=val&...]`.
// The format list lives here (not in the registry) so the parser can reject unknown formats without
// importing every reader; registry.ts is typed against it, so the two cannot drift apart.
import { DatasetError, type DataSpec } from './types.js';

export const DATA_FORMATS = ['ferplus', 'folder', 'rafdb', 'fer2013', 'affectnet', 'ckplus', 'list', 'synthetic'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

export function isDataFormat(name: string): name is DataFormat {
  return (DATA_FORMATS as readonly string[]).includes(name);
}

const SPEC_HELP = 'expected <format>:<path>[#split][?key=val&...], e.g. ferplus:../shared/data/ferplus#train';

/** Parses a spec string; throws DatasetError naming the spec on malformed input or an unknown format. */
export function parseSpec(spec: string): DataSpec {
  const text = spec.trim();
  const colon = text.indexOf(':');
  // A one-letter "format" is a Windows drive letter (C:\data), not a format.
  if (colon <= 1) throw new DatasetError(`bad data spec '${spec}': ${SPEC_HELP}`);
  const format = text.slice(0, colon).toLowerCase();
  if (!isDataFormat(format)) {
    throw new DatasetError(`unknown data format '${format}' in '${spec}'; known formats: ${DATA_FORMATS.join(', ')}`);
  }
  let rest = text.slice(colon + 1);
  const options: Record<string, string> = {};
  const q = rest.indexOf('?');
  if (q >= 0) {
    for (const part of rest.slice(q + 1).split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const key = decodeURIComponent(eq >= 0 ? part.slice(0, eq) : part).trim();
      if (!key) throw new DatasetError(`bad option '${part}' in data spec '${spec}'`);
      options[key] = eq >= 0 ? decodeURIComponent(part.slice(eq + 1)).trim() : 'true';
    }
    rest = rest.slice(0, q);
  }
  let split: string | undefined;
  // The last '#' starts the split, so a path may itself contain '#'.
  const hash = rest.lastIndexOf('#');
  if (hash >= 0) {
    split = rest.slice(hash + 1).trim() || undefined;
    rest = rest.slice(0, hash);
  }
  const path = rest.trim();
  if (!path) throw new DatasetError(`data spec '${spec}' has no path: ${SPEC_HELP}`);
  return split === undefined ? { format, path, options } : { format, path, split, options };
}

/** Inverse of parseSpec (for logs and run records). */
export function formatSpec(spec: DataSpec): string {
  const opts = Object.entries(spec.options)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return `${spec.format}:${spec.path}${spec.split ? `#${spec.split}` : ''}${opts ? `?${opts}` : ''}`;
}

export function toSpec(spec: string | DataSpec): DataSpec {
  return typeof spec === 'string' ? parseSpec(spec) : spec;
}
