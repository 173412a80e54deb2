// The measurement behind the duplicate finder's library choices (README "Dependencies and why", docs/duplicates.md).
// Perceptual hashes: sharp-phash (DCT pHash, 64 bits) and blockhash-core (block-mean hash, 64 and 256 bits)
// on real FERPlus faces: distances of planted copies (resize, JPEG, flip, brightness, 5-10% crop) to their
// original, against the nearest distinct face; and the CPU time per image.
//   npm i --no-save --ignore-scripts sharp-phash blockhash-core && npx tsx bench/dupsCandidates.ts [--n 400]
// (the ANN candidates are measured by bench/dups.ts --ann-candidates.)
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../src/engine/util/rng.js';
import { plantedCopy, TRANSFORMS, type Transform } from '../src/engine/dups/planted.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 400);
const root = path.join(process.env.KEFER_SHARED_DATA ?? path.resolve('../shared/data'), 'ferplus/data/FER2013Train');

type Hasher = { name: string; bits: number; hash(px: Raw): Promise<Uint8Array> };
interface Raw { data: Uint8Array; width: number; height: number }

const hexBits = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
const strBits = (s: string) => {
  const out = new Uint8Array(s.length / 8);
  for (let i = 0; i < s.length; i++) if (s[i] === '1') out[i >> 3] |= 1 << (7 - (i & 7));
  return out;
};
const popcount = (a: Uint8Array, b: Uint8Array) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    let x = a[i] ^ b[i];
    while (x) {
      d += x & 1;
      x >>= 1;
    }
  }
  return d;
};
function rgba(px: Raw): Uint8Array {
  const out = new Uint8Array(px.width * px.height * 4);
  for (let i = 0; i < px.width * px.height; i++) {
    out[i * 4] = out[i * 4 + 1] = out[i * 4 + 2] = px.data[i];
    out[i * 4 + 3] = 255;
  }
  return out;
}
function flip(px: Raw): Raw {
  const out = new Uint8Array(px.data.length);
  for (let y = 0; y < px.height; y++) for (let x = 0; x < px.width; x++) out[y * px.width + x] = px.data[y * px.width + px.width - 1 - x];
  return { ...px, data: out };
}

async function main(): Promise<void> {
  const phash = (await import('sharp-phash' as string)).default as (img: Buffer, o: unknown) => Promise<string>;
  const blockhash = (await import('blockhash-core' as string)) as { bmvbhash(d: { width: number; height: number; data: Uint8Array }, bits: number): string };
  const hashers: Hasher[] = [
    { name: 'sharp-phash (DCT, 64 bits)', bits: 64, hash: async (p) => strBits(await phash(Buffer.from(p.data), { raw: { width: p.width, height: p.height, channels: 1 } })) },
    { name: 'blockhash-core 8 (64 bits)', bits: 64, hash: async (p) => hexBits(blockhash.bmvbhash({ width: p.width, height: p.height, data: rgba(p) }, 8)) },
    { name: 'blockhash-core 16 (256 bits)', bits: 256, hash: async (p) => hexBits(blockhash.bmvbhash({ width: p.width, height: p.height, data: rgba(p) }, 16)) },
  ];
  const files = new Rng(7).shuffle(readdirSync(root).filter((f) => f.endsWith('.png'))).slice(0, 2 * N);
  const decode = async (input: Buffer | string): Promise<Raw> => {
    const { data, info } = await sharp(input).greyscale().raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data), width: info.width, height: info.height };
  };
  const originals = files.slice(0, N);
  const distinct = files.slice(N);
  const rng = new Rng(11);
  console.log(`CPU ${os.cpus()[0].model} (${os.arch()}), ${N} originals with one copy per transform, ${distinct.length} distinct faces`);
  for (const h of hashers) {
    const t0 = performance.now();
    const dHashes: Uint8Array[] = [];
    for (const f of distinct) dHashes.push(await h.hash(await decode(path.join(root, f))));
    const per = (performance.now() - t0) / distinct.length;
    const byT = new Map<Transform, number[]>();
    const nearestDistinct: number[] = [];
    for (const f of originals) {
      const orig = await decode(path.join(root, f));
      const ho = await h.hash(orig);
      const hf = await h.hash(flip(orig));
      let best = Infinity;
      for (const d of dHashes) best = Math.min(best, popcount(ho, d), popcount(hf, d));
      nearestDistinct.push(best);
      for (const t of TRANSFORMS) {
        const copy = await decode(await plantedCopy(path.join(root, f), t, rng));
        const hc = await h.hash(copy);
        (byT.get(t) ?? byT.set(t, []).get(t)!).push(Math.min(popcount(ho, hc), popcount(hf, hc)));
      }
    }
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    console.log(`\n${h.name}: ${per.toFixed(2)} ms/image (decode + hash, one thread)`);
    console.log(`  nearest distinct face: 1% ${q(nearestDistinct, 0.01)}, 5% ${q(nearestDistinct, 0.05)}, median ${q(nearestDistinct, 0.5)}`);
    for (const [t, ds] of byT) console.log(`  ${t.padEnd(10)} copy distance: median ${q(ds, 0.5)}, 95% ${q(ds, 0.95)}, 99% ${q(ds, 0.99)}, max ${Math.max(...ds)}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
