// `kefer import-checkpoint FILE --from ke2nt`: a checkpoint saved by the released KE-FER code
// (hangyu94/KE2NT: its Swin-T + MLP state dict) becomes a studio run: RUN_DIR/checkpoints/best with
// model.safetensors (the studio's names), config.json and model.onnx, converted by python/kefer_torch
// (reading a .pth needs torch). The released code's text features are CLIP ViT-B/16's for the prompts
// the engine uses, so --text clip reproduces them. With --data the checkpoint is evaluated (per-sample
// records for the diagnostics panel) and with --store the run is registered, so its mistakes can be
// browsed and relabelled like any run's.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../data/index.js';
import { evaluateCheckpointOnnx } from '../onnx/runtime.js';
import { classList } from '../classes.js';
import { resolveTextEmbeddings, writeTextEmbeddingsJson } from '../text/index.js';
import { findTorchPython, runKeferTorch } from '../torch/python.js';
import { num, oneOf } from './args.js';
import { UserError } from './errors.js';
import { formatSummary } from './eval.js';
import { openStore, registerRunDir } from './storeLink.js';

export const summary = 'convert a checkpoint of the released KE-FER code (--from ke2nt) into a studio run';

const HELP = `usage: kefer import-checkpoint FILE.pth --from ke2nt --out RUN_DIR [--text SOURCE] [--classes 7|8]
                                [--data SPEC [--store PATH]]
  FILE       what the released code saves (image_encoder/model-best.pth.tar: {"state_dict": ...}), a bare
             state dict, or a .safetensors of it; encoder.* (its Swin-T) and MLP.* (F_n) are read
  --out      the run directory: checkpoints/best (model.safetensors, config.json, model.onnx), run.json
  --text     the class text embeddings (default auto). The released code used CLIP ViT-B/16 on the same
             prompts: clip reproduces them; a stand-in changes every prediction (a warning says so)
  --classes  7 (default: RAF-DB's, the released code's) or 8
  --data     evaluate the imported checkpoint on SPEC (onnxruntime): per-sample records for the panel
  --store    register the run and its records (needs --data)
Reading a .pth unpickles it, which can run code: import only files you trust. Needs a Python with torch
(KEFER_PYTHON, python3, /usr/bin/python3).`;

export async function run(argv: string[]): Promise<number> {
  const { values: f, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { from: { type: 'string' }, out: { type: 'string' }, text: { type: 'string' }, classes: { type: 'string' }, 'input-size': { type: 'string' }, data: { type: 'string' }, store: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (f.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UserError(`one checkpoint file expected\n${HELP}`);
  if (f.from !== 'ke2nt') throw new UserError(`--from: expected ke2nt (the released KE-FER code), got '${f.from ?? ''}'`);
  if (!f.out) throw new UserError('--out RUN_DIR is required');
  if (f.store && !f.data) throw new UserError('--store registers the run with its per-sample records: add --data SPEC');
  const k = Number(oneOf(f, 'classes', ['7', '8'] as const, '7')) as 7 | 8;
  const inputSize = num(f, 'input-size', 112, { int: true, min: 16 });
  const file = path.resolve(positionals[0]);
  const log = (m: string) => console.error(m);
  const found = await findTorchPython();
  if (!found.ok) throw new UserError(`import-checkpoint: ${found.why}`);
  const classes = classList(k);
  const text = await resolveTextEmbeddings(f.text ?? 'auto', classes, { log });
  if (text.source.kind !== 'clip' && text.source.origin !== 'clip') log(`warning: the released code's text features are CLIP ViT-B/16's; these are ${text.source.description}: the imported model's predictions will differ from the released model's (use --text clip)`);
  const runDir = path.resolve(f.out);
  const best = path.join(runDir, 'checkpoints', 'best');
  mkdirSync(path.join(runDir, 'torch'), { recursive: true });
  const textFile = path.join(runDir, 'torch', 'text.json');
  writeTextEmbeddingsJson(textFile, text);
  const r = await runKeferTorch(found.info, ['import-ke2nt', file, '--out', best, '--text', textFile, '--classes', String(k), '--input-size', String(inputSize)], log);
  if (r.code !== 0) {
    const why = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean).reverse().find((l) => l.startsWith('kefer_torch: ')) ?? r.stderr.trim().split('\n').pop();
    throw new UserError(why?.replace(/^kefer_torch: /, '') ?? `import failed (exit ${r.code})`);
  }
  const runJson: Record<string, unknown> = { status: 'done', importedFrom: { format: 'ke2nt', file }, config: { backbone: 'swin_t', inputSize, importedFrom: 'ke2nt' }, textSource: text.source, finished: new Date().toISOString(), bestEpoch: -1, selectedOn: 'imported', history: [] };
  if (f.data) {
    const dataset = await loadDataset(f.data);
    const res = await evaluateCheckpointOnnx(best, dataset, { log: (m) => /^onnx:/.test(m) && log(m) });
    writeFileSync(path.join(runDir, 'records.jsonl'), res.records.map((x) => JSON.stringify(x)).join('\n') + '\n');
    writeFileSync(path.join(runDir, 'eval-val.json'), JSON.stringify(res.summary, null, 2) + '\n');
    runJson.validation = f.data;
    runJson.valAccuracy = res.summary.accuracy;
    runJson.valMeanClassAccuracy = res.summary.meanClassAccuracy;
    console.log(formatSummary(res.summary));
    if (f.store) {
      const store = openStore(f.store);
      try {
        const reg = registerRunDir(store, dataset, f.data, runDir, 'done', { valAccuracy: res.summary.accuracy, valMeanClassAccuracy: res.summary.meanClassAccuracy, importedFrom: file }, { backbone: 'swin_t', config: runJson.config, textSource: text.source.description, backend: 'onnxruntime (imported from the released KE-FER code)' });
        console.log(`registered run ${reg.runId} with ${reg.records} per-sample records in ${f.store}`);
      } finally {
        store.close();
      }
    }
  }
  writeFileSync(path.join(runDir, 'run.json'), JSON.stringify(runJson, null, 2) + '\n');
  console.log(`imported ${file} into ${best} (swin_t, ${classes.length} classes)`);
  return 0;
}
