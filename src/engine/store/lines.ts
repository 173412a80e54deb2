// Reading a large text file line by line (evaluation dumps, label files), without reading it whole.
import { closeSync, openSync, readSync } from 'node:fs';
import { StoreError } from './damage.js';

/** Lines of a text file without reading it whole (evaluation dumps can be large). */
export function* readLinesSync(file: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new StoreError(`${file}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const buf = Buffer.alloc(1 << 20);
    let rest = '';
    const decoder = new TextDecoder('utf-8');
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + decoder.decode(buf.subarray(0, n), { stream: true });
      const parts = text.split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) yield p.endsWith('\r') ? p.slice(0, -1) : p;
    }
    rest += decoder.decode();
    if (rest) yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
  } finally {
    closeSync(fd);
  }
}
