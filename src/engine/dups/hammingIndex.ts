// Radius search over 64-bit codes without comparing all pairs: multi-index hashing (Norouzi, Punjani and
// Fleet, CVPR 2012). The code is cut into four 16-bit chunks; two codes within distance r agree within
// floor(r / 4) on at least one chunk (pigeonhole), so a query looks up, in each chunk's table, the keys
// within that distance of its own chunk and checks the full distance of what it finds there.
// The bits are shuffled (a fixed permutation: distances do not change) before they are cut into chunks:
// a blockhash's bits follow the picture's rows, and faces share their top and bottom rows, so unshuffled
// chunks pile into a few huge buckets and every query walks them (quadratic; measured on FERPlus).
// Each table holds its entries' codes beside their ids, in bucket order: a query walks its buckets as
// contiguous memory and touches the dedupe stamps only for the few entries within the radius (on FERPlus
// a query walks ~38,000 entries to find ~80; the walk is the whole cost).
import { Rng } from '../util/rng.js';

const CHUNKS = 4;

/** Set bits of a 32-bit word (kept in this module: the search's inner loop calls it). */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** 16-bit masks with at most d bits set, d = 0..3. */
function masksUpTo(d: number): Uint16Array {
  const out: number[] = [];
  for (let m = 0; m < 1 << 16; m++) if (popcount(m) <= d) out.push(m);
  return Uint16Array.from(out);
}

/** A fixed shuffle of the 64 bit positions: PERM[k] is where bit k goes (0..31 high word, 32..63 low). */
const PERM = new Rng(0x5eed).shuffle(Array.from({ length: 64 }, (_, k) => k));

/** The code with its bits shuffled by PERM, written to out[at], out[at + 1]. */
function shuffleBits(hi: number, lo: number, out: Uint32Array, at: number): void {
  let h = 0, l = 0;
  for (let k = 0; k < 64; k++) {
    const bit = k < 32 ? (hi >>> (31 - k)) & 1 : (lo >>> (63 - k)) & 1;
    if (!bit) continue;
    const to = PERM[k];
    if (to < 32) h |= 1 << (31 - to);
    else l |= 1 << (63 - to);
  }
  out[at] = h >>> 0;
  out[at + 1] = l >>> 0;
}

export class HammingIndex {
  /** Per chunk: start of each key's entries (CSR), 65,537 offsets. */
  private readonly offsets: Uint32Array[] = [];
  /** Per chunk: the entries' ids in bucket order. */
  private readonly ids: Uint32Array[] = [];
  /** Per chunk: the entries' shuffled codes in bucket order, (hi, lo) interleaved. */
  private readonly codes: Uint32Array[] = [];
  private readonly seen: Int32Array;
  private stamp = 0;
  private readonly n: number;
  private readonly q = new Uint32Array(2);

  /** Codes as high and low 32-bit words; entry i is (hi[i], lo[i]). */
  constructor(codesHi: Uint32Array, codesLo: Uint32Array) {
    const n = (this.n = codesHi.length);
    const sh = new Uint32Array(2 * n);
    for (let i = 0; i < n; i++) shuffleBits(codesHi[i], codesLo[i], sh, 2 * i);
    for (let c = 0; c < CHUNKS; c++) {
      const counts = new Uint32Array(65537);
      for (let i = 0; i < n; i++) counts[chunk(sh[2 * i], sh[2 * i + 1], c) + 1]++;
      for (let k = 1; k < counts.length; k++) counts[k] += counts[k - 1];
      const fill = counts.slice(0, 65536);
      const ids = new Uint32Array(n);
      const codes = new Uint32Array(2 * n);
      for (let i = 0; i < n; i++) {
        const p = fill[chunk(sh[2 * i], sh[2 * i + 1], c)]++;
        ids[p] = i;
        codes[2 * p] = sh[2 * i];
        codes[2 * p + 1] = sh[2 * i + 1];
      }
      this.offsets.push(counts);
      this.ids.push(ids);
      this.codes.push(codes);
    }
    this.seen = new Int32Array(n).fill(-1);
  }

  get size(): number {
    return this.n;
  }

  /** Calls `found(entry, distance)` once for every entry within `radius` (at most 15) of the code. */
  search(codeHi: number, codeLo: number, radius: number, found: (entry: number, distance: number) => void): void {
    if (radius > 15) throw new RangeError(`HammingIndex: radius ${radius} is over 15 (four 16-bit chunks, at most 3 bits each)`);
    shuffleBits(codeHi, codeLo, this.q, 0);
    const qhi = this.q[0], qlo = this.q[1];
    // Generalised pigeonhole: with radius = s * CHUNKS + a, a code within the radius is within s bits on
    // one of the first a + 1 chunks or within s - 1 on one of the others (else its distance would be at
    // least (a + 1)(s + 1) + (CHUNKS - a - 1)s = radius + 1).
    const s = Math.floor(radius / CHUNKS), a = radius - s * CHUNKS;
    const st = ++this.stamp;
    const seen = this.seen;
    for (let c = 0; c < CHUNKS; c++) {
      const within = c <= a ? s : s - 1;
      if (within < 0) continue;
      const masks = MASKS[within];
      const key = chunk(qhi, qlo, c);
      const off = this.offsets[c], ids = this.ids[c], codes = this.codes[c];
      for (let t = 0; t < masks.length; t++) {
        const k = key ^ masks[t];
        for (let p = off[k], end = off[k + 1]; p < end; p++) {
          const d = popcount(codes[2 * p] ^ qhi) + popcount(codes[2 * p + 1] ^ qlo);
          if (d > radius) continue;
          const i = ids[p];
          if (seen[i] === st) continue;
          seen[i] = st;
          found(i, d);
        }
      }
    }
  }
}

const MASKS = [0, 1, 2, 3].map(masksUpTo);

function chunk(hi: number, lo: number, c: number): number {
  return c < 2 ? (hi >>> (16 * c)) & 0xffff : (lo >>> (16 * (c - 2))) & 0xffff;
}
