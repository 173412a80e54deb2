// Radius search over 64-bit codes without comparing all pairs: multi-index hashing (Norouzi, Punjani and
// Fleet, CVPR 2012). The code is cut into four 16-bit chunks; two codes within distance r agree within
// floor(r / 4) on at least one chunk (pigeonhole), so a query looks up, in each chunk's table, the keys
// within that distance of its own chunk and checks the full distance of what it finds there.
// The bits are shuffled (a fixed permutation: distances do not change) before they are cut into chunks:
// a blockhash's bits follow the picture's rows, and faces share their top and bottom rows, so unshuffled
// chunks pile into a few huge buckets and every query walks them (quadratic; measured on FERPlus).
import { popcount32 } from './nearHash.js';
import { Rng } from '../util/rng.js';

const CHUNKS = 4;

/** 16-bit masks with at most d bits set, d = 0..3. */
function masksUpTo(d: number): number[] {
  const out: number[] = [];
  for (let m = 0; m < 1 << 16; m++) if (popcount32(m) <= d) out.push(m);
  return out;
}

/** A fixed shuffle of the 64 bit positions: PERM[k] is where bit k goes (0..31 high word, 32..63 low). */
const PERM = new Rng(0x5eed).shuffle(Array.from({ length: 64 }, (_, k) => k));

/** The code with its bits shuffled by PERM. */
function shuffleBits(hi: number, lo: number): [number, number] {
  let h = 0, l = 0;
  for (let k = 0; k < 64; k++) {
    const bit = k < 32 ? (hi >>> (31 - k)) & 1 : (lo >>> (63 - k)) & 1;
    if (!bit) continue;
    const to = PERM[k];
    if (to < 32) h |= 1 << (31 - to);
    else l |= 1 << (63 - to);
  }
  return [h >>> 0, l >>> 0];
}

export class HammingIndex {
  /** Per chunk: start of each key's entries in `entries` (CSR), 65,537 offsets. */
  private readonly offsets: Uint32Array[] = [];
  private readonly entries: Uint32Array[] = [];
  private readonly seen: Int32Array;
  private stamp = 0;

  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;

  /** Codes as high and low 32-bit words; entry i is (hi[i], lo[i]). */
  constructor(codesHi: Uint32Array, codesLo: Uint32Array) {
    const n = codesHi.length;
    const hi = (this.hi = new Uint32Array(n));
    const lo = (this.lo = new Uint32Array(n));
    for (let i = 0; i < n; i++) [hi[i], lo[i]] = shuffleBits(codesHi[i], codesLo[i]);
    for (let c = 0; c < CHUNKS; c++) {
      const counts = new Uint32Array(65537);
      for (let i = 0; i < n; i++) counts[chunk(hi[i], lo[i], c) + 1]++;
      for (let k = 1; k < counts.length; k++) counts[k] += counts[k - 1];
      const fill = counts.slice(0, 65536);
      const e = new Uint32Array(n);
      for (let i = 0; i < n; i++) e[fill[chunk(hi[i], lo[i], c)]++] = i;
      this.offsets.push(counts);
      this.entries.push(e);
    }
    this.seen = new Int32Array(n).fill(-1);
  }

  get size(): number {
    return this.hi.length;
  }

  /** Calls `found(entry, distance)` once for every entry within `radius` (at most 15) of the code. */
  search(codeHi: number, codeLo: number, radius: number, found: (entry: number, distance: number) => void): void {
    if (radius > 15) throw new RangeError(`HammingIndex: radius ${radius} is over 15 (four 16-bit chunks, at most 3 bits each)`);
    const [qhi, qlo] = shuffleBits(codeHi, codeLo);
    const masks = MASKS[Math.floor(radius / CHUNKS)];
    const s = ++this.stamp;
    for (let c = 0; c < CHUNKS; c++) {
      const key = chunk(qhi, qlo, c);
      const off = this.offsets[c];
      const ent = this.entries[c];
      for (const m of masks) {
        const k = key ^ m;
        for (let p = off[k], end = off[k + 1]; p < end; p++) {
          const i = ent[p];
          if (this.seen[i] === s) continue;
          this.seen[i] = s;
          const d = popcount32((this.hi[i] ^ qhi) >>> 0) + popcount32((this.lo[i] ^ qlo) >>> 0);
          if (d <= radius) found(i, d);
        }
      }
    }
  }
}

const MASKS = [0, 1, 2, 3].map(masksUpTo);

function chunk(hi: number, lo: number, c: number): number {
  return c < 2 ? (hi >>> (16 * c)) & 0xffff : (lo >>> (16 * (c - 2))) & 0xffff;
}
