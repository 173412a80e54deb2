// Visual encoders F_e: torchvision ResNet-18 (the paper's backbone) and a compact ResNet-style
// backbone sized for CPU training. Both output a 512-d embedding v.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';
import { addBatchNorm, addConv, batchNorm, conv, type ParamStore } from './layers.js';

export type BackboneName = 'resnet18' | 'compact';
export const BACKBONES: readonly BackboneName[] = ['resnet18', 'compact'];

export interface Encoder extends ParamStore {
  name: BackboneName;
  inputSize: number;
  featureDim: number;
  /** x: [B, H, W, 3] normalised images -> v: [B, 512]. Training mode updates BN running stats. */
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D;
  dispose(): void;
}

interface BlockSpec {
  name: string;
  cin: number;
  cout: number;
  stride: number;
}

function addBasicBlock(store: ParamStore, b: BlockSpec, rng: Rng): void {
  addConv(store, `${b.name}.conv1`, 3, b.cin, b.cout, rng);
  addBatchNorm(store, `${b.name}.bn1`, b.cout);
  addConv(store, `${b.name}.conv2`, 3, b.cout, b.cout, rng);
  addBatchNorm(store, `${b.name}.bn2`, b.cout);
  if (b.stride !== 1 || b.cin !== b.cout) {
    addConv(store, `${b.name}.downsample.0`, 1, b.cin, b.cout, rng);
    addBatchNorm(store, `${b.name}.downsample.1`, b.cout);
  }
}

function basicBlock(store: ParamStore, b: BlockSpec, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  let y = tf.relu(batchNorm(store, `${b.name}.bn1`, conv(store, `${b.name}.conv1`, x, b.stride), training));
  y = batchNorm(store, `${b.name}.bn2`, conv(store, `${b.name}.conv2`, y, 1), training);
  const shortcut =
    b.stride !== 1 || b.cin !== b.cout
      ? batchNorm(store, `${b.name}.downsample.1`, conv(store, `${b.name}.downsample.0`, x, b.stride), training)
      : x;
  return tf.relu(tf.add(y, shortcut)) as tf.Tensor4D;
}

function stageBlocks(widths: number[], blocks: number[], cin0: number, firstStride: number[]): BlockSpec[] {
  const specs: BlockSpec[] = [];
  let cin = cin0;
  widths.forEach((w, s) => {
    for (let i = 0; i < blocks[s]; i++) {
      specs.push({ name: `layer${s + 1}.${i}`, cin, cout: w, stride: i === 0 ? firstStride[s] : 1 });
      cin = w;
    }
  });
  return specs;
}

function disposeStore(store: ParamStore): void {
  for (const v of store.params.values()) v.dispose();
  for (const v of store.buffers.values()) v.dispose();
}

/** torchvision resnet18 without its fc layer: 7x7/2 stem, 3x3/2 max-pool, 4 stages of 2 blocks. */
export function createResNet18(seed: number, inputSize = 112): Encoder {
  const rng = new Rng(seed);
  const store: ParamStore = { params: new Map(), buffers: new Map() };
  addConv(store, 'conv1', 7, 3, 64, rng);
  addBatchNorm(store, 'bn1', 64);
  const blocks = stageBlocks([64, 128, 256, 512], [2, 2, 2, 2], 64, [1, 2, 2, 2]);
  for (const b of blocks) addBasicBlock(store, b, rng);
  return {
    ...store,
    name: 'resnet18',
    inputSize,
    featureDim: 512,
    apply(x, training) {
      return tf.tidy(() => {
        let h = tf.relu(batchNorm(store, 'bn1', conv(store, 'conv1', x, 2), training));
        h = tf.maxPool(h, 3, 2, 1);
        for (const b of blocks) h = basicBlock(store, b, h, training);
        return tf.mean(h, [1, 2]) as tf.Tensor2D;
      });
    },
    dispose: () => disposeStore(store),
  };
}

/**
 * Compact backbone for CPU training on small face crops (FER2013/FERPlus are 48x48).
 * 3x3 stem (stride 1), three stages of basic blocks at 32/64/128/256 channels, each stage
 * halving the resolution, then a 1x1 conv + BN to 512 and global average pooling. No ReLU after
 * the last BN so v can take both signs, like a projection into the text space.
 * At 48x48: ~0.11 GMACs and ~1.3 M parameters (ResNet-18 at 112x112: ~0.45 GMACs, 11.2 M).
 */
export function createCompact(seed: number, inputSize = 48): Encoder {
  const rng = new Rng(seed);
  const store: ParamStore = { params: new Map(), buffers: new Map() };
  addConv(store, 'conv1', 3, 3, 32, rng);
  addBatchNorm(store, 'bn1', 32);
  const blocks = stageBlocks([64, 128, 256], [1, 1, 1], 32, [2, 2, 2]);
  for (const b of blocks) addBasicBlock(store, b, rng);
  addConv(store, 'head.conv', 1, 256, 512, rng);
  addBatchNorm(store, 'head.bn', 512);
  return {
    ...store,
    name: 'compact',
    inputSize,
    featureDim: 512,
    apply(x, training) {
      return tf.tidy(() => {
        let h = tf.relu(batchNorm(store, 'bn1', conv(store, 'conv1', x, 1), training));
        for (const b of blocks) h = basicBlock(store, b, h, training);
        h = batchNorm(store, 'head.bn', conv(store, 'head.conv', h, 1), training);
        return tf.mean(h, [1, 2]) as tf.Tensor2D;
      });
    },
    dispose: () => disposeStore(store),
  };
}

export function createEncoder(backbone: BackboneName, opts: { seed?: number; inputSize?: number } = {}): Encoder {
  const seed = opts.seed ?? 29;
  switch (backbone) {
    case 'resnet18':
      return createResNet18(seed, opts.inputSize ?? 112);
    case 'compact':
      return createCompact(seed, opts.inputSize ?? 48);
    default:
      throw new Error(`unknown backbone '${backbone as string}' (expected one of ${BACKBONES.join(', ')})`);
  }
}

/** Trainable parameter count (BN running stats excluded). */
export function countParams(enc: ParamStore): number {
  let n = 0;
  for (const v of enc.params.values()) n += v.size;
  return n;
}
