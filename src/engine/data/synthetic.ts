// Synthetic expression faces: SVG cartoons whose mouth, brows and eyes follow each class, with random
// identity, pose, lighting and noise. They let the whole pipeline (train, eval, UI) run without licensed
// data; they are NOT a stand-in for real FER accuracy, and the output folder says so (SYNTHETIC.md).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { classList, type ClassName } from '../classes.js';
import { mapLimit } from './decode.js';
import { Rng } from '../util/rng.js';
import { hashSeed } from './prng.js';
import { SYNTHETIC_MARKER } from './readers/folder.js';

/** Expression controls, in face units (the face is ~80 of the 100 viewBox units wide). 0 = neutral for every field. */
export interface Expression {
  /** Mouth corners lifted (+) or dropped (-). */
  mouthCurve: number;
  /** Extra lift of the left / right corner (one-sided smirk, asymmetric disgust). */
  cornerLeft: number;
  cornerRight: number;
  /** Mouth opening, 0 closed .. 1 wide open. */
  mouthOpen: number;
  /** Mouth width factor (1 = neutral; <1 round "O", >1 stretched). */
  mouthWidth: number;
  /** Lips pressed thin (0..1). */
  lipPress: number;
  /** Upper lip raised (0..1), shows upper teeth. */
  upperLip: number;
  /** Inner / outer brow ends raised (+) or lowered (-). */
  browInner: number;
  browOuter: number;
  /** Brows pulled toward the midline (units). */
  browPull: number;
  /** Eye opening factor (1 = neutral). */
  eyeOpen: number;
  /** Wrinkles across the nose (0..1). */
  noseWrinkle: number;
}

const NEUTRAL_EXPR: Expression = {
  mouthCurve: 0, cornerLeft: 0, cornerRight: 0, mouthOpen: 0, mouthWidth: 1, lipPress: 0, upperLip: 0,
  browInner: 0, browOuter: 0, browPull: 0, eyeOpen: 1, noseWrinkle: 0,
};

// Full-intensity prototypes (FACS-like cues). Samples interpolate from neutral by a random intensity
// (0.55..1.05; from 0.35 the weakest ones were indistinguishable from neutral at 48 px), and the
// per-person jitter below still makes classes overlap: learnable, not trivial.
const PROTOTYPES: Record<ClassName, Partial<Expression>> = {
  neutral: {},
  happiness: { mouthCurve: 5.5, mouthOpen: 0.25, mouthWidth: 1.2, eyeOpen: 0.75, browOuter: 0.5 },
  surprise: { mouthOpen: 1, mouthWidth: 0.62, browInner: 5, browOuter: 5, eyeOpen: 1.55 },
  sadness: { mouthCurve: -4, mouthWidth: 0.92, browInner: 4, browOuter: -2, browPull: 1, eyeOpen: 0.78 },
  anger: { mouthCurve: -1, lipPress: 1, mouthWidth: 0.82, browInner: -4.5, browOuter: 1.5, browPull: 2.5, eyeOpen: 0.72 },
  disgust: { upperLip: 1, mouthOpen: 0.2, cornerLeft: -2, mouthCurve: -1.5, noseWrinkle: 1, browInner: -2.5, browOuter: -0.5, browPull: 1.5, eyeOpen: 0.65 },
  fear: { mouthOpen: 0.35, mouthWidth: 1.3, mouthCurve: -1.5, browInner: 4.5, browOuter: 1.5, browPull: 2, eyeOpen: 1.5 },
  contempt: { cornerRight: 4.5, mouthCurve: 0.3, eyeOpen: 0.92 },
};

const KEYS = Object.keys(NEUTRAL_EXPR) as (keyof Expression)[];
// Person-to-person variation of the resting face, in the same units (adds overlap between classes).
const JITTER: Partial<Record<keyof Expression, number>> = {
  mouthCurve: 0.9, cornerLeft: 0.5, cornerRight: 0.5, mouthOpen: 0.05, mouthWidth: 0.07,
  browInner: 0.9, browOuter: 0.8, browPull: 0.5, eyeOpen: 0.1, upperLip: 0.05,
};

export function sampleExpression(cls: ClassName, rng: Rng): Expression {
  const proto = PROTOTYPES[cls];
  const t = rng.uniform(0.55, 1.05);
  const e = { ...NEUTRAL_EXPR };
  for (const k of KEYS) {
    const target = proto[k] ?? NEUTRAL_EXPR[k];
    e[k] = NEUTRAL_EXPR[k] + (target - NEUTRAL_EXPR[k]) * t + rng.normal(0, JITTER[k] ?? 0);
  }
  // The smirk / disgust side is random so left-right flips (an augmentation) stay label-preserving.
  if (rng.next() < 0.5) [e.cornerLeft, e.cornerRight] = [e.cornerRight, e.cornerLeft];
  e.mouthOpen = Math.max(0, e.mouthOpen);
  e.upperLip = Math.max(0, e.upperLip);
  e.lipPress = Math.max(0, e.lipPress);
  e.noseWrinkle = Math.max(0, e.noseWrinkle);
  e.eyeOpen = Math.max(0.3, e.eyeOpen);
  return e;
}

const f = (n: number) => n.toFixed(2);
const rgb = (c: number[]) => `rgb(${c.map((v) => Math.max(0, Math.min(255, Math.round(v)))).join(',')})`;
const mix = (a: number[], b: number[], t: number) => a.map((v, i) => v + (b[i] - v) * t);

/** SVG (viewBox 100x100) of one face with the given expression; identity and pose are drawn from rng. */
export function faceSvg(expr: Expression, rng: Rng, size: number): string {
  // The face fills the crop like an aligned FER crop (forehead and chin slightly cut), so at 48x48 the
  // mouth is ~20 px wide and a brow raise moves a few pixels: cues a small CNN can see in a short run.
  const cx = 50;
  const cy = 50;
  const faceRx = rng.uniform(37, 43);
  const faceRy = rng.uniform(47, 54);
  // Skin stops short of the darkest tone so dark features keep contrast in grey (FER2013 is grey).
  const skin = mix([244, 204, 172], [96, 62, 40], rng.next() * 0.8);
  const dark = mix(skin, [15, 10, 8], 0.8);
  const hair = mix([25, 20, 18], [170, 130, 80], rng.next() ** 2);
  const bg = mix([40, 40, 40], [215, 215, 215], rng.next());
  const eyeDx = rng.uniform(15, 18);
  const eyeY = cy - rng.uniform(8, 12);
  const eyeRx = rng.uniform(6, 7.5);
  const eyeRy = rng.uniform(3, 3.8) * expr.eyeOpen;
  const browGap = rng.uniform(6.5, 8.5);
  const browW = rng.uniform(2.8, 4);
  const browLen = rng.uniform(12, 15);
  const mouthY = cy + rng.uniform(22, 26);
  const mouthHalf = rng.uniform(12, 15) * expr.mouthWidth;
  // Expression units were tuned on a ~70-unit face; the face is now ~80 units wide, and vertical cues
  // get a further boost so they survive downsampling to 48 px.
  const amp = 1.4;
  const parts: string[] = [];

  // Pose: small rotation, shift and scale about the face centre (FER sets are roughly aligned crops).
  const rot = rng.normal(0, 4);
  const sc = rng.uniform(0.94, 1.04);
  const dx = rng.normal(0, 1.5);
  const dy = rng.normal(0, 1.5);
  parts.push(`<rect width="100" height="100" fill="${rgb(bg)}"/>`);
  parts.push(`<g transform="translate(${f(cx + dx)} ${f(cy + dy)}) rotate(${f(rot)}) scale(${f(sc)}) translate(${-cx} ${-cy})">`);
  // Hair behind the face (only its sides and top show at this crop).
  if (rng.next() < 0.85) {
    parts.push(`<ellipse cx="${cx}" cy="${f(cy - faceRy * 0.3)}" rx="${f(faceRx * 1.12)}" ry="${f(faceRy * rng.uniform(0.8, 0.95))}" fill="${rgb(hair)}"/>`);
  }
  parts.push(`<ellipse cx="${cx}" cy="${cy}" rx="${f(faceRx)}" ry="${f(faceRy)}" fill="${rgb(skin)}"/>`);

  // Eyes: white, iris, lid line. Wide eyes show white around the iris; narrowed ones are slits.
  for (const side of [-1, 1]) {
    const ex = cx + side * eyeDx;
    const irisR = Math.min(eyeRx * 0.5, Math.max(1, eyeRy * 1.05));
    const look = rng.normal(0, 0.6);
    parts.push(`<ellipse cx="${f(ex)}" cy="${f(eyeY)}" rx="${f(eyeRx)}" ry="${f(eyeRy)}" fill="rgb(240,240,236)"/>`);
    parts.push(`<circle cx="${f(ex + look)}" cy="${f(eyeY)}" r="${f(Math.min(irisR, eyeRy))}" fill="${rgb(mix(hair, [0, 0, 0], 0.6))}"/>`);
    parts.push(`<path d="M${f(ex - eyeRx)} ${f(eyeY)} Q${f(ex)} ${f(eyeY - eyeRy * 2)} ${f(ex + eyeRx)} ${f(eyeY)}" stroke="${rgb(dark)}" stroke-width="1.5" fill="none"/>`);
    // Brows: inner end near the midline; raising/lowering the ends is the main cue of several classes.
    // Drawn darker than the skin whatever the hair colour, or light brows vanish on dark skin in grey.
    const innerX = cx + side * (eyeDx - browLen * 0.45 - expr.browPull * 0.9);
    const outerX = cx + side * (eyeDx + browLen * 0.55);
    const baseY = eyeY - browGap;
    const innerY = baseY - expr.browInner * amp;
    const outerY = baseY - expr.browOuter * amp;
    const archY = Math.min(innerY, outerY) - 1.5;
    parts.push(
      `<path d="M${f(innerX)} ${f(innerY)} Q${f((innerX + outerX) / 2)} ${f(archY)} ${f(outerX)} ${f(outerY)}" stroke="${rgb(mix(dark, hair, 0.3))}" stroke-width="${f(browW)}" stroke-linecap="round" fill="none"/>`,
    );
    // Pulled-down inner brows crease the forehead between them.
    if (expr.browInner < -2 && side === 1) {
      parts.push(`<path d="M${f(cx - 1.5)} ${f(baseY + 1)} L${f(cx - 1)} ${f(baseY - 4)} M${f(cx + 1.5)} ${f(baseY + 1)} L${f(cx + 1)} ${f(baseY - 4)}" stroke="${rgb(dark)}" stroke-width="1" opacity="0.7"/>`);
    }
  }

  // Nose, with horizontal wrinkles for disgust.
  const noseY = cy + rng.uniform(9, 13);
  parts.push(`<path d="M${cx} ${f(eyeY + 3)} L${f(cx - 3)} ${f(noseY)} Q${cx} ${f(noseY + 2.5)} ${f(cx + 4)} ${f(noseY)}" stroke="${rgb(dark)}" stroke-width="1.3" fill="none" opacity="0.8"/>`);
  if (expr.noseWrinkle > 0.3) {
    for (let k = 0; k < 3; k++) {
      const y = eyeY + 3 + k * 2.2;
      parts.push(`<path d="M${f(cx - 4.5)} ${f(y)} Q${cx} ${f(y - 1.2)} ${f(cx + 4.5)} ${f(y)}" stroke="${rgb(dark)}" stroke-width="1" opacity="${f(Math.min(1, expr.noseWrinkle) * 0.85)}" fill="none"/>`);
    }
  }

  // Mouth: upper and lower lip curves between the two corners (quadratic Beziers through the lip centres).
  const lx = cx - mouthHalf;
  const rx = cx + mouthHalf;
  const ly = mouthY - (expr.mouthCurve + expr.cornerLeft) * amp;
  const ry = mouthY - (expr.mouthCurve + expr.cornerRight) * amp;
  const cornerAvg = (ly + ry) / 2;
  const openH = expr.mouthOpen * 16;
  const upperC = mouthY - openH * 0.3 - expr.upperLip * 3.5;
  const lowerC = mouthY + openH * 0.7;
  const ctrl = (centre: number) => 2 * centre - cornerAvg;
  const lip = rgb(mix(skin, [110, 25, 35], 0.6));
  if (openH + expr.upperLip * 3.5 > 1.6) {
    const d = `M${f(lx)} ${f(ly)} Q${cx} ${f(ctrl(upperC))} ${f(rx)} ${f(ry)} Q${cx} ${f(ctrl(lowerC))} ${f(lx)} ${f(ly)} Z`;
    parts.push(`<path d="${d}" fill="rgb(40,12,16)" stroke="${lip}" stroke-width="2"/>`);
    // Teeth in smiles and raised upper lips.
    if (expr.mouthCurve > 2 || expr.upperLip > 0.4) {
      parts.push(`<clipPath id="m"><path d="${d}"/></clipPath>`);
      parts.push(`<rect x="${f(lx)}" y="${f(Math.min(upperC, cornerAvg) - 5)}" width="${f(rx - lx)}" height="${f(Math.max(2, (lowerC - upperC) * 0.45) + 5)}" fill="rgb(238,235,225)" clip-path="url(#m)"/>`);
    }
  } else {
    const w = 3.2 - expr.lipPress * 1.8;
    const mid = (upperC + lowerC) / 2;
    parts.push(`<path d="M${f(lx)} ${f(ly)} Q${cx} ${f(ctrl(mid))} ${f(rx)} ${f(ry)}" stroke="${lip}" stroke-width="${f(Math.max(1.2, w))}" stroke-linecap="round" fill="none"/>`);
  }
  parts.push('</g>');

  // Lighting: a linear gradient from a random direction (moderate, so it shades rather than hides).
  const ang = rng.uniform(0, Math.PI * 2);
  const gx = Math.cos(ang) * 0.5;
  const gy = Math.sin(ang) * 0.5;
  parts.push(
    `<defs><linearGradient id="l" x1="${f(0.5 - gx)}" y1="${f(0.5 - gy)}" x2="${f(0.5 + gx)}" y2="${f(0.5 + gy)}">` +
      `<stop offset="0" stop-color="white" stop-opacity="${f(rng.uniform(0, 0.25))}"/><stop offset="1" stop-color="black" stop-opacity="${f(rng.uniform(0.05, 0.3))}"/></linearGradient></defs>`,
  );
  parts.push(`<rect width="100" height="100" fill="url(#l)"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 100 100">${parts.join('')}</svg>`;
}

export interface FaceOptions {
  size: number;
  /** 1 = grey (like FER2013), 3 = RGB. */
  channels: 1 | 3;
}

/** Renders one face to PNG bytes. Deterministic for `seed`. */
export async function renderSyntheticFace(cls: ClassName, seed: number, opts: FaceOptions): Promise<Buffer> {
  const rng = new Rng(seed);
  const expr = sampleExpression(cls, rng);
  const svg = faceSvg(expr, rng, opts.size);
  let img = sharp(Buffer.from(svg)).removeAlpha();
  if (opts.channels === 1) img = img.greyscale();
  const blur = rng.uniform(0, 0.8);
  if (blur > 0.4) img = img.blur(blur);
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  // Sensor-like noise, drawn from the same seeded stream (Math.random would break determinism).
  // Moderate: at sd 12 the 1-2 px cues of a 48 px face drowned in it.
  const sd = rng.uniform(2, 7);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] + rng.normal(0, sd);
    data[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

export interface SyntheticOptions {
  /** Images per class in train; valid and test get ceil(perClass / 5) each. Default 200. */
  perClass?: number;
  classes?: 7 | 8;
  seed?: number;
  /** Side in pixels. Default 64. */
  size?: number;
  channels?: 1 | 3;
  concurrency?: number;
}

export interface SyntheticResult {
  root: string;
  counts: Record<string, number>;
  images: number;
  ms: number;
}

/** Writes root/{train,valid,test}/{class}/*.png and SYNTHETIC.md. Same seed and options => same bytes. */
export async function generateSyntheticDataset(outDir: string, options: SyntheticOptions = {}): Promise<SyntheticResult> {
  const t0 = Date.now();
  const perClass = options.perClass ?? 200;
  const classes = classList(options.classes ?? 8);
  const seed = options.seed ?? 1;
  const size = options.size ?? 64;
  const channels = options.channels ?? 1;
  if (!Number.isInteger(perClass) || perClass < 1) throw new RangeError(`perClass must be a positive integer, got ${perClass}`);
  if (!Number.isInteger(size) || size < 16 || size > 512) throw new RangeError(`size must be an integer 16..512, got ${size}`);
  const root = path.resolve(outDir);
  const splits: Record<string, number> = { train: perClass, valid: Math.ceil(perClass / 5), test: Math.ceil(perClass / 5) };
  const jobs: { split: string; cls: ClassName; i: number; file: string }[] = [];
  for (const [split, n] of Object.entries(splits)) {
    for (const cls of classes) {
      await mkdir(path.join(root, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) jobs.push({ split, cls, i, file: path.join(root, split, cls, `${cls}_${String(i).padStart(5, '0')}.png`) });
    }
  }
  await mapLimit(jobs, options.concurrency ?? 4, async (j) => {
    // Per-image seed from (seed, split, class, index): output does not depend on scheduling order.
    const png = await renderSyntheticFace(j.cls, hashSeed(seed, j.split, j.cls, j.i), { size, channels });
    await writeFile(j.file, png);
  });
  const marker = [
    '# SYNTHETIC DATA — generated, not real faces',
    '',
    'Written by `kefer data generate` (src/engine/data/synthetic.ts). Cartoon SVG faces whose mouth, brows and',
    'eyes follow each class, with random identity, pose, lighting and noise. Use it to exercise the pipeline;',
    'accuracy on it says nothing about real facial-expression recognition.',
    '',
    `- seed: ${seed}`,
    `- size: ${size}x${size}, ${channels === 1 ? 'grey' : 'RGB'}`,
    `- classes (${classes.length}): ${classes.join(', ')}`,
    `- images per class: ${Object.entries(splits).map(([s, n]) => `${s} ${n}`).join(', ')}`,
    '',
  ].join('\n');
  await writeFile(path.join(root, SYNTHETIC_MARKER), marker);
  const counts = Object.fromEntries(Object.entries(splits).map(([s, n]) => [s, n * classes.length]));
  return { root, counts, images: jobs.length, ms: Date.now() - t0 };
}
