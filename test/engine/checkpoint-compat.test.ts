// Checkpoints as PyTorch's load_state_dict takes them: a ResNet-18 KE-FER checkpoint is exported, then
// rewritten as other tools write state dicts (no num_batches_tracked, int64 counters, fp16 / bf16,
// DataParallel's `module.` prefix, torchvision's fc.*). Each variant must evaluate exactly as the clean
// checkpoint does; a missing weight or a wrong shape must still name the tensor. The clean weights are
// first rounded to values both fp16 and bf16 hold exactly, so the half-precision files carry the same
// numbers and "equal" means bit-equal records.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../../src/engine/data/types.js';
import { evaluateCheckpoint } from '../../src/engine/eval/checkpointEval.js';
import { evaluateCheckpointOnnx } from '../../src/engine/onnx/runtime.js';
import type { EvalResult } from '../../src/engine/eval/evaluate.js';
import { createEncoder, createTransform } from '../../src/engine/model/index.js';
import { standinTextEmbeddings } from '../../src/engine/text/index.js';
import { CheckpointError, IMAGENET_MEAN, IMAGENET_STD, loadCheckpoint, readCheckpointConfig, saveCheckpoint, writeCheckpointFiles } from '../../src/engine/model/checkpoint.js';
import { floatToBf16, floatToHalf, readSafetensors, writeSafetensors, type TensorToWrite } from '../../src/engine/util/safetensors.js';
import { tinyTrainData } from './train-helpers.js';

let work: string;
let valSet: Dataset;
let valSpec: string;
let clean: string;
let cleanEval: EvalResult;
let cleanTensors: Map<string, TensorToWrite>;

const halfToFloat = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  return e === 0 ? s * 2 ** -14 * (f / 1024) : s * 2 ** (e - 15) * (1 + f / 1024);
};
const bf16ToFloat = (b: number): number => new Float32Array(new Uint32Array([b << 16]).buffer)[0];
/** A float32 value both fp16 and bf16 represent exactly (bf16 rounding keeps <= 8 significant bits, which fp16 holds). */
const representable = (x: number): number => halfToFloat(floatToHalf(bf16ToFloat(floatToBf16(x))));

before(async () => {
  let trainSet: Dataset;
  ({ work, trainSet, valSet } = await tinyTrainData('kefer-ckcompat-'));
  valSpec = `synthetic:${path.join(work, 'data')}#valid`;
  const enc = createEncoder('resnet18', { seed: 7, inputSize: 32 });
  const tr = createTransform(7);
  // Non-trivial BN statistics and counters, so the buffers really matter.
  let i = 0;
  for (const [name, v] of enc.buffers) {
    i++;
    if (name.endsWith('running_var')) v.assign(tf.fill(v.shape, 0.5 + (i % 5) * 0.25));
    else if (name.endsWith('running_mean')) v.assign(tf.fill(v.shape, ((i % 7) - 3) * 0.0625));
    else v.assign(tf.scalar(1000 + i));
  }
  for (const store of [enc, tr]) {
    for (const v of [...store.params.values(), ...store.buffers.values()]) {
      const q = Float32Array.from(v.dataSync(), representable);
      v.assign(tf.tensor(q, v.shape));
    }
  }
  const text = standinTextEmbeddings(trainSet.classes, trainSet.classes);
  const textQ = Float32Array.from(text.matrix, representable);
  clean = path.join(work, 'clean');
  const config = { format: 'kefer-checkpoint' as const, version: 1 as const, backbone: 'resnet18' as const, classes: trainSet.classes, neutralIndex: 6, inputSize: 32, mean: IMAGENET_MEAN, std: IMAGENET_STD, logitScale: 100, prompts: text.prompts, textSource: text.source, featureDim: 512 };
  await saveCheckpoint(clean, { encoder: enc, transform: tr, textEmbeddings: textQ, config });
  enc.dispose();
  tr.dispose();
  const { tensors } = await readSafetensors(path.join(clean, 'model.safetensors'));
  cleanTensors = new Map([...tensors].map(([k, t]) => [k, { dtype: t.dtype === 'I64' ? 'I64' : 'F32', shape: t.shape, data: t.data }]));
  cleanEval = await evaluateCheckpoint(clean, valSet);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A checkpoint directory holding the clean config and these tensors. */
async function variant(name: string, tensors: Map<string, TensorToWrite>): Promise<string> {
  const dir = path.join(work, name);
  await writeCheckpointFiles(dir, tensors, await readCheckpointConfig(clean));
  return dir;
}

function edit(fn: (name: string, t: TensorToWrite) => [string, TensorToWrite] | null): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const [k, t] of cleanTensors) {
    const r = fn(k, t);
    if (r) out.set(r[0], r[1]);
  }
  return out;
}

const isCounter = (k: string) => k.endsWith('.num_batches_tracked');
const COUNTERS = 20; // resnet18: bn1, two per basic block, three downsample BNs

function assertSameEval(got: EvalResult, what: string): void {
  assert.equal(got.records.length, cleanEval.records.length);
  for (let i = 0; i < got.records.length; i++) {
    assert.deepEqual(got.records[i].probs, cleanEval.records[i].probs, `${what}: probabilities of ${got.records[i].id}`);
    assert.equal(got.records[i].gap, cleanEval.records[i].gap, `${what}: gap of ${got.records[i].id}`);
  }
  assert.deepEqual(got.summary.confusion, cleanEval.summary.confusion, what);
}

const ACCEPTED: { name: string; tensors: () => Map<string, TensorToWrite>; notes: RegExp[] }[] = [
  {
    // the case: torchvision's ImageNet weights carry no counters
    name: 'no-counters',
    tensors: () => edit((k, t) => (isCounter(k) ? null : [k, t])),
    notes: [new RegExp(`${COUNTERS} BatchNorm num_batches_tracked counters missing \\(e\\.g\\. 'encoder\\.bn1\\.num_batches_tracked'\\)`)],
  },
  { name: 'int64-counters', tensors: () => edit((k, t) => [k, isCounter(k) ? { ...t, dtype: 'I64', data: [2 ** 40 + 3] } : t]), notes: [] },
  { name: 'fp16', tensors: () => edit((k, t) => [k, isCounter(k) ? t : { ...t, dtype: 'F16' }]), notes: [/cast 1\d\d F16 tensors to float32/] },
  { name: 'bf16', tensors: () => edit((k, t) => [k, isCounter(k) ? t : { ...t, dtype: 'BF16' }]), notes: [/cast 1\d\d BF16 tensors to float32/] },
  { name: 'ddp', tensors: () => edit((k, t) => [`module.${k}`, t]), notes: [/stripped the DataParallel\/DDP 'module\.' prefix from 125 tensor names/] },
  {
    name: 'torchvision-fc',
    tensors: () => {
      const m = edit((k, t) => [k, t]);
      m.set('encoder.fc.weight', { dtype: 'F32', shape: [1000, 512], data: new Float32Array(512_000).fill(0.5) });
      m.set('encoder.fc.bias', { dtype: 'F32', shape: [1000], data: new Float32Array(1000) });
      return m;
    },
    notes: [/ignored the torchvision classifier \(encoder\.fc\.bias, encoder\.fc\.weight\)/],
  },
  {
    name: 'all-at-once',
    tensors: () => {
      const m = edit((k, t) => (isCounter(k) ? null : [`module.${k}`, { ...t, dtype: k.startsWith('encoder.layer') ? 'BF16' : 'F16' }]));
      m.set('module.fc.weight', { dtype: 'F16', shape: [1000, 512], data: new Float32Array(512_000) });
      return m;
    },
    notes: [/num_batches_tracked counters missing/, /'module\.' prefix/, /F16 tensors to float32/, /BF16 tensors to float32/, /ignored the torchvision classifier \(fc\.weight\)/],
  },
];

for (const v of ACCEPTED) {
  test(`accepted like load_state_dict: ${v.name}; evaluation equals the clean checkpoint's`, async () => {
    const dir = await variant(v.name, v.tensors());
    const logged: string[] = [];
    const model = await loadCheckpoint(dir, { log: (m) => logged.push(m) });
    assert.deepEqual(model.warnings, [], 'no unexpected tensors');
    for (const re of v.notes) assert.ok(model.notes.some((n) => re.test(n)), `note ${re} in ${JSON.stringify(model.notes)}`);
    assert.equal(model.notes.length, v.notes.length, `exactly the expected notes: ${JSON.stringify(model.notes)}`);
    assert.equal(logged.length, model.notes.length);
    model.dispose();
    assertSameEval(await evaluateCheckpoint(dir, valSet), v.name);
  });
}

test('unexpected extra tensors load with a warning that lists them', async () => {
  const m = edit((k, t) => [k, t]);
  m.set('encoder.layer5.0.conv1.weight', { dtype: 'F32', shape: [4, 4], data: new Float32Array(16) });
  m.set('ema.MLP.fc1.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
  const dir = await variant('extras', m);
  const logged: string[] = [];
  const model = await loadCheckpoint(dir, { log: (x) => logged.push(x) });
  assert.equal(model.warnings.length, 1);
  assert.match(model.warnings[0], /model\.safetensors: 2 unexpected tensors ignored: ema\.MLP\.fc1\.weight, encoder\.layer5\.0\.conv1\.weight$/);
  assert.ok(logged.some((l) => l.startsWith('warning: ') && l.includes('ema.MLP.fc1.weight')));
  model.dispose();
  assertSameEval(await evaluateCheckpoint(dir, valSet), 'extras');
});

test('a missing weight or a wrong shape is still an error naming the tensor (prefixes and dtypes notwithstanding)', async () => {
  const missing = await variant('missing', edit((k, t) => (k === 'encoder.layer3.1.bn2.weight' ? null : [k, t])));
  await assert.rejects(loadCheckpoint(missing), (e: Error) => e instanceof CheckpointError && e.message === `${path.join(missing, 'model.safetensors')}: missing tensor 'encoder.layer3.1.bn2.weight'`);
  const ddpMissing = await variant('ddp-missing', edit((k, t) => (k === 'MLP.fc2.bias' ? null : [`module.${k}`, { ...t, dtype: isCounter(k) ? 'I64' : 'F16' }])));
  await assert.rejects(loadCheckpoint(ddpMissing), /missing tensor 'MLP\.fc2\.bias'/);
  const shape = await variant('shape', edit((k, t) => [k, k === 'encoder.layer1.0.conv1.weight' ? { dtype: 'F32', shape: [64, 64, 1, 3], data: new Float32Array(64 * 64 * 3) } : t]));
  await assert.rejects(loadCheckpoint(shape), /model\.safetensors: tensor 'encoder\.layer1\.0\.conv1\.weight' has shape \[64, 64, 1, 3\], expected \[64, 64, 3, 3\]/);
  const counterShape = await variant('counter-shape', edit((k, t) => [k, k === 'encoder.bn1.num_batches_tracked' ? { dtype: 'I64', shape: [2], data: [1, 2] } : t]));
  await assert.rejects(loadCheckpoint(counterShape), /tensor 'encoder\.bn1\.num_batches_tracked' has shape \[2\], expected \[\]/);
  const twice = edit((k, t) => [k, t]);
  twice.set('module.MLP.fc1.bias', cleanTensors.get('MLP.fc1.bias')!);
  await assert.rejects(loadCheckpoint(await variant('twice', twice)), /tensor 'MLP\.fc1\.bias' appears twice/);
  const noText = await variant('no-text', edit((k, t) => (k === 'text_embeddings' ? null : [k, t])));
  await assert.rejects(loadCheckpoint(noText), /missing tensor 'text_embeddings'/);
});

test('fp16 / bf16 writer and reader round-trip exactly representable values and round to nearest even', async () => {
  const vals = new Float32Array([0, -0, 1, -2, 0.099975586, 65504, 6e-8, 1e-5, 3.140625, -1.5e-3]);
  const file = path.join(work, 'half.safetensors');
  await writeSafetensors(file, new Map<string, TensorToWrite>([['h', { dtype: 'F16', shape: [10], data: vals }], ['b', { dtype: 'BF16', shape: [10], data: vals }]]));
  const { tensors } = await readSafetensors(file);
  for (let i = 0; i < vals.length; i++) {
    assert.equal(tensors.get('h')!.data[i], halfToFloat(floatToHalf(vals[i])));
    assert.equal(tensors.get('b')!.data[i], bf16ToFloat(floatToBf16(vals[i])));
  }
  assert.equal(tensors.get('h')!.data[5], 65504);
  assert.equal(floatToHalf(65520), 0x7c00, 'overflow rounds to infinity');
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to even');
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02, 'a tie rounds to even (up)');
  assert.equal(floatToBf16(1 + 2 ** -8), 0x3f80);
  assert.equal(floatToBf16(1 + 3 * 2 ** -8), 0x3f82);
});

const BIN = path.resolve(__dirname, '../../bin/kefer.js');
function kefer(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, KEFER_FROM_SOURCE: '1' }, timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the issue as a user meets it: kefer eval and kefer export-onnx take a checkpoint without num_batches_tracked', async () => {
  const dir = await variant('cli-no-counters', edit((k, t) => (isCounter(k) ? null : [k, t])));
  const evalRun = kefer('eval', '--checkpoint', dir, '--data', valSpec, '--runtime', 'tfjs', '--backend', 'wasm', '--json');
  assert.equal(evalRun.code, 0, evalRun.err);
  assert.match(evalRun.err, /20 BatchNorm num_batches_tracked counters missing/);
  const summary = JSON.parse(evalRun.out) as { accuracy: number; confusion: number[][] };
  assert.deepEqual(summary.confusion, cleanEval.summary.confusion);
  assert.equal(summary.accuracy, cleanEval.summary.accuracy);

  const out = path.join(work, 'onnx-out');
  await mkdir(out, { recursive: true });
  const exp = kefer('export-onnx', '--checkpoint', dir, '--out', path.join(out, 'm.onnx'), '--json');
  assert.equal(exp.code, 0, exp.err);
  assert.match(exp.err, /num_batches_tracked counters missing/);
  assert.ok((JSON.parse(exp.out) as { notes: string[] }).notes.some((n) => /num_batches_tracked/.test(n)));
  assert.ok((await readFile(path.join(out, 'm.onnx'))).length > 40e6, 'a full ResNet-18 graph');
});

test('onnxruntime evaluation of a DDP + half-precision + counterless checkpoint equals the clean one', async () => {
  const dir = await variant('onnx-all', ACCEPTED.find((v) => v.name === 'all-at-once')!.tensors());
  const logged: string[] = [];
  const got = await evaluateCheckpointOnnx(dir, valSet, { log: (m) => logged.push(m) });
  const want = await evaluateCheckpointOnnx(clean, valSet);
  assert.ok(logged.some((l) => /num_batches_tracked counters missing/.test(l)), 'the export notes the missing counters');
  for (let i = 0; i < want.records.length; i++) assert.deepEqual(got.records[i].probs, want.records[i].probs, `probabilities of ${want.records[i].id}`);
});

test('a torch-written state dict (python3 + torch) loads', { skip: hasTorch() ? false : 'python3 with torch is not installed here: the torch-written variant is not checked' }, async () => {
  // Rewrites the clean file with torch's own safetensors writer, as torchvision's ImageNet weights
  // come (no counters), and checks the evaluation.
  const dir = path.join(work, 'torch-written');
  await variant('torch-written', cleanTensors);
  const script = `
import sys, torch
from safetensors.torch import load_file, save_file
sd = load_file(sys.argv[1])
sd = {k: v for k, v in sd.items() if not k.endswith('num_batches_tracked')}
save_file({k: v.contiguous() for k, v in sd.items()}, sys.argv[1])
`;
  const r = spawnSync('python3', ['-c', script, path.join(dir, 'model.safetensors')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assertSameEval(await evaluateCheckpoint(dir, valSet), 'torch-written');
});

function hasTorch(): boolean {
  return spawnSync('python3', ['-c', 'import torch, safetensors'], { encoding: 'utf8' }).status === 0;
}
