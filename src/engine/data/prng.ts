// Per-item seeds for generated data (the PRNG itself is util/rng.ts), so output does not depend on
// generation order.

/** 32-bit string/number hash (FNV-1a) to derive independent per-item seeds. */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
