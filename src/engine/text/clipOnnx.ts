// Runs a CLIP text encoder exported to ONNX (e.g. Xenova/clip-vit-base-patch16 onnx/text_model.onnx,
// a CLIPTextModelWithProjection) with onnxruntime-node: input_ids int64 [B,77] (+ attention_mask if
// the graph asks) -> text_embeds [B,D] = EOT-token features after the final LayerNorm and projection.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { CLIP_CONTEXT_LENGTH } from './tokenizer.js';

/** Where the ONNX text model may sit inside a model directory (hub layout first). */
export const TEXT_MODEL_CANDIDATES = ['onnx/text_model.onnx', 'text_model.onnx', 'onnx/model.onnx', 'model.onnx'];

export function findTextModel(dir: string): string | undefined {
  return TEXT_MODEL_CANDIDATES.map((p) => path.join(dir, p)).find((p) => fs.existsSync(p));
}

export interface ClipTextEncoder {
  /** ids: [batch, 77] int64 (zero padded). Returns [batch, dim] row-major. */
  encode(ids: BigInt64Array, batch: number): Promise<{ embeds: Float32Array; dim: number }>;
  release(): Promise<void>;
}

export async function loadClipTextEncoder(onnxPath: string): Promise<ClipTextEncoder> {
  const session = await ort.InferenceSession.create(onnxPath, { executionProviders: ['cpu'] });
  const outName = session.outputNames.includes('text_embeds') ? 'text_embeds' : undefined;
  if (!outName) {
    throw new Error(
      `${onnxPath}: the graph has no 'text_embeds' output (outputs: ${session.outputNames.join(', ')}). ` +
        `Export the text model with its projection (CLIPTextModelWithProjection).`,
    );
  }
  if (!session.inputNames.includes('input_ids')) {
    throw new Error(`${onnxPath}: the graph has no 'input_ids' input (inputs: ${session.inputNames.join(', ')})`);
  }
  return {
    async encode(ids, batch) {
      const len = ids.length / batch;
      if (len !== CLIP_CONTEXT_LENGTH) throw new Error(`CLIP text input must be [B, ${CLIP_CONTEXT_LENGTH}], got length ${len}`);
      const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, [batch, len]) };
      if (session.inputNames.includes('attention_mask')) {
        // CLIP's causal mask already hides padding from the EOT token; the mask only matters to exports that ask.
        const mask = BigInt64Array.from(ids, (v) => (v !== 0n ? 1n : 0n));
        feeds.attention_mask = new ort.Tensor('int64', mask, [batch, len]);
      }
      const out = await session.run(feeds, [outName]);
      const t = out[outName];
      if (t.dims.length !== 2 || t.dims[0] !== batch) throw new Error(`${onnxPath}: text_embeds has shape [${t.dims.join(', ')}], expected [${batch}, D]`);
      return { embeds: Float32Array.from(t.data as Float32Array), dim: t.dims[1] };
    },
    release: () => session.release(),
  };
}
