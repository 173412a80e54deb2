// Our Winograd F(4x4, 3x3) for AVX2 (native/wino_avx2.h), which the oneDNN inference encoder runs for the
// 3x3 stride-1 convolutions where oneDNN's kernels are AVX2 ones (oneDNN has Winograd only for AVX-512).
// Checked: 'auto' picks it and 'direct' does not; each image's features equal the direct convolutions' to
// 1e-4 of their scale, yet not bit for bit (so ours ran), for maps that are not multiples of the 4x4 tile
// (input 48: 12, 6, 3, 2; input 72: 18, 9, 5, 3), for one image and for a batch. On an AVX-512 machine the
// file runs itself again under DNNL_MAX_CPU_ISA=AVX2 (oneDNN reads the cap once, when first used).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { ensureTfBackend } from '../../src/engine/backend/index.js';
import { createEncoder } from '../../src/engine/model/index.js';
import { loadOnednn } from '../../src/engine/runtimes/onednn/addon.js';
import { OnednnEvaluator, OnednnInference } from '../../src/engine/runtimes/onednn/inference.js';

const { addon, why } = loadOnednn();
const isa = addon?.isa() ?? '';
const capped = process.env.DNNL_MAX_CPU_ISA !== undefined || process.env.ONEDNN_MAX_CPU_ISA !== undefined;
const skip = !addon ? `the oneDNN addon cannot run here: ${why}` : !/^avx2|^avx512/.test(isa) ? `oneDNN runs ${isa} kernels here, not AVX2` : false;
if (skip) console.log(`# SKIP Winograd on AVX2: ${skip}`);

function seededNormal(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (s * 1664525 + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

describe('oneDNN inference: our Winograd on AVX2', { skip }, () => {
  if (isa.startsWith('avx512') && !capped) {
    test('runs again under DNNL_MAX_CPU_ISA=AVX2 and passes there', (t) => {
      const file = __filename;
      // Without NODE_TEST_CONTEXT: node's runner would take the child for a nested run and skip its files.
      const { NODE_TEST_CONTEXT: _nested, ...env } = process.env;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', file], {
        encoding: 'utf8',
        env: { ...env, DNNL_MAX_CPU_ISA: 'AVX2' },
        timeout: 300_000,
      });
      const out = `${r.stdout}\n${r.stderr}`;
      for (const line of out.split('\n').filter((l) => /ℹ (batch|'auto')/.test(l))) t.diagnostic(line.trim().slice(2));
      assert.equal(r.status, 0, out);
      assert.match(out, /pass [1-9]/, out);
      assert.match(out, /fail 0/, out);
      assert.match(out, /skipped 0/, out);
    });
    return;
  }

  for (const inputSize of [48, 72]) {
    test(`input ${inputSize}: 'auto' runs it, and features equal direct's to 1e-4 (batch 5 and 1)`, async (t) => {
      const kinds = (algorithm: 'auto' | 'direct') => {
        const inst = OnednnInference.create({ backbone: 'resnet18', inputSize, batch: 5 }, { algorithm });
        try {
          return inst.info().convolution;
        } finally {
          inst.release();
        }
      };
      const auto = kinds('auto');
      t.diagnostic(`'auto': ${auto} (${isa})`);
      assert.match(auto, /wino_4x3:avx2 \(kefer\)/);
      assert.doesNotMatch(kinds('direct'), /wino/);

      await ensureTfBackend();
      const encoder = createEncoder('resnet18', { seed: 11, inputSize });
      const direct = new OnednnEvaluator(encoder, { batchSize: 5, algorithm: 'direct' });
      const wino = new OnednnEvaluator(encoder, { batchSize: 5, algorithm: 'auto' });
      try {
        await direct.load();
        await wino.load();
        const x = seededNormal(5 * inputSize * inputSize * 3, inputSize);
        for (const n of [5, 1]) {
          const a = direct.run(x.subarray(0, n * inputSize * inputSize * 3), n);
          const b = wino.run(x.subarray(0, n * inputSize * inputSize * 3), n);
          assert.equal(a.length, b.length);
          let scale = 0;
          let diff = 0;
          for (let i = 0; i < a.length; i++) {
            scale = Math.max(scale, Math.abs(a[i]));
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
          }
          t.diagnostic(`batch ${n}: max |v direct - v winograd| ${diff.toExponential(2)} of max |v| ${scale.toExponential(2)}`);
          assert.ok(scale > 0, 'features are not all zero');
          assert.ok(diff <= 1e-4 * scale, `batch ${n}: features differ by ${diff} (scale ${scale})`);
          assert.ok(diff > 0, `batch ${n}: Winograd's rounding differs from direct's (ours ran)`);
        }
      } finally {
        direct.release();
        wino.release();
        encoder.dispose();
      }
    });
  }
});
