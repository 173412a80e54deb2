// Adapters for the two expression models users can run in Node today, so the accuracy bench scores
// them on exactly the images KE-FER is scored on. Both run on the tfjs backend the engine activated
// (wasm here): face-api's `node-wasm` bundle and human's graph model are loaded through the shared
// @tensorflow/tfjs-core instance, so neither needs @tensorflow/tfjs-node (the project's optional
// dependency for real users stays untouched, no alias).
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { FACEAPI_ORDER, HUMAN_ORDER, toCanonical } from './classMaps.js';

export type PeerId = 'face-api' | 'human';
export const PEER_IDS: readonly PeerId[] = ['face-api', 'human'];

export interface Peer {
  id: PeerId;
  /** Package, version, model and input, for the report. */
  description: string;
  /**
   * `rgb`: n images of size x size x 3 bytes, each the whole dataset image used as the face crop.
   * Returns one probability vector per image in `classes` order (classes the peer lacks get 0).
   */
  predict(rgb: Uint8Array, n: number, size: number, classes: readonly string[]): Promise<number[][]>;
  dispose(): void;
}

const req = createRequire(__filename);

/** The installed package's folder (human's "exports" does not expose package.json, so no resolve of it). */
function packageDir(name: string): string {
  for (const base of req.resolve.paths(name) ?? []) {
    if (existsSync(path.join(base, name, 'package.json'))) return path.join(base, name);
  }
  throw new Error(`${name} is not installed`);
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(path.join(packageDir(name), 'package.json'), 'utf8')) as { version: string }).version;
}

/** True when both peer packages (and @tensorflow/tfjs, which face-api's bundle requires) resolve. */
export function peersInstalled(): boolean {
  try {
    for (const p of ['@vladmandic/face-api', '@vladmandic/human', '@tensorflow/tfjs']) packageDir(p);
    return true;
  } catch {
    return false;
  }
}

type Expressions = Record<string, number>;
interface FaceApiModule {
  nets: {
    faceExpressionNet: {
      loadFromDisk(dir: string): Promise<void>;
      predictExpressions(input: tf.Tensor3D[]): Promise<Expressions[] | Expressions>;
      dispose(): void;
    };
  };
}

/** face-api's expression net: 112x112 RGB in 0..255 (the net subtracts its own mean and scales). */
export async function loadFaceApiPeer(): Promise<Peer> {
  // The node-wasm bundle requires @tensorflow/tfjs and tfjs-backend-wasm, not tfjs-node.
  const faceapi = req('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApiModule;
  const net = faceapi.nets.faceExpressionNet;
  await net.loadFromDisk(path.join(packageDir('@vladmandic/face-api'), 'model'));
  return {
    id: 'face-api',
    description: `@vladmandic/face-api ${packageVersion('@vladmandic/face-api')} FaceExpressionNet, whole image bilinear-upscaled to 112x112 RGB`,
    async predict(rgb, n, size, classes) {
      const per = size * size * 3;
      const inputs = Array.from({ length: n }, (_, i) =>
        tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(Float32Array.from(rgb.subarray(i * per, (i + 1) * per)), [size, size, 3]), [112, 112], false)),
      );
      try {
        const out = await net.predictExpressions(inputs);
        const list = Array.isArray(out) ? out : [out];
        return list.map((e) => toCanonical(FACEAPI_ORDER.map((k) => e[k]), FACEAPI_ORDER, classes));
      } finally {
        tf.dispose(inputs);
      }
    },
    dispose: () => net.dispose(),
  };
}

interface GraphModelLike {
  inputs: { shape?: number[] }[];
  execute(x: tf.Tensor): tf.Tensor | tf.Tensor[];
  dispose(): void;
}

/**
 * human's emotion model (oarriaga mini-Xception, 64x64x1). Preprocessing copied from human's
 * src/gear/emotion.ts (3.3.6): image in [0, 1], resizeBilinear to the model size,
 * gray = 0.2989 R + 0.587 G + 0.114 B, then (gray - 0.5) * 2; the graph ends in a softmax.
 * Loaded directly because human.detect() would first run its face detector on the 48x48 image.
 */
export async function loadHumanPeer(): Promise<Peer> {
  const { loadGraphModel } = await import('@tensorflow/tfjs');
  const dir = path.join(packageDir('@vladmandic/human'), 'models');
  const json = JSON.parse(readFileSync(path.join(dir, 'emotion.json'), 'utf8')) as {
    modelTopology: object; format?: string; generatedBy?: string; convertedBy?: string;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const bins = json.weightsManifest.flatMap((g) => g.paths).map((p) => readFileSync(path.join(dir, p)));
  const all = Buffer.concat(bins);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const model = (await loadGraphModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy }),
  )) as unknown as GraphModelLike;
  const shape = model.inputs[0].shape ?? [];
  const inputSize = shape[2] ?? 64;
  if (shape[3] !== 1) throw new Error(`human emotion model: expected a 1-channel input, got shape [${shape.join(', ')}]`);
  const rgbWeights = tf.tensor1d([0.2989, 0.587, 0.114], 'float32');
  return {
    id: 'human',
    description: `@vladmandic/human ${packageVersion('@vladmandic/human')} emotion (mini-Xception), whole image bilinear to ${inputSize}x${inputSize} gray in [-1, 1]`,
    async predict(rgb, n, size, classes) {
      const out = tf.tidy(() => {
        const img = tf.div(tf.tensor4d(Float32Array.from(rgb.subarray(0, n * size * size * 3)), [n, size, size, 3]), 255);
        const resized = tf.image.resizeBilinear(img as tf.Tensor4D, [inputSize, inputSize], false);
        const gray = tf.sum(tf.mul(resized, rgbWeights), 3, true);
        const y = model.execute(tf.mul(tf.sub(gray, 0.5), 2));
        return Array.isArray(y) ? y[0] : y;
      });
      const data = await out.data();
      out.dispose();
      const K = HUMAN_ORDER.length;
      return Array.from({ length: n }, (_, i) => toCanonical(data.subarray(i * K, (i + 1) * K), HUMAN_ORDER, classes));
    },
    dispose() {
      model.dispose();
      rgbWeights.dispose();
    },
  };
}

export async function loadPeer(id: PeerId): Promise<Peer> {
  return id === 'face-api' ? loadFaceApiPeer() : loadHumanPeer();
}
