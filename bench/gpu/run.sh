#!/usr/bin/env bash
# The CUDA runtime's one device call (bench/README.md "## CUDA" has the exact `run` call): on the GPU
# machine, with .kefer/gpu-cuda from bench/gpu/prepare.sh carried,
#   1. builds build/kefer_cuda.node there (scripts/build-native.sh --cuda=require; cuDNN and cuBLAS from
#      python3's nvidia wheels, whose cudnn.h checks native/cudnn_api.h at compile time; if that check
#      fails, it says so and builds with our declarations alone),
#   2. runs the CUDA tests (test/engine/cudaTrain.test.ts, headReference.test.ts),
#   3. times the ResNet-18 @112 KE-FER step at batch 64 and 256: cuda fp32 / tf32 / amp against PyTorch
#      CUDA fp32 (TF32 off) / default (TF32) / channels_last + AMP, in this same call,
#   4. times one end-to-end epoch from FERPlus PNG files: cuda (worker-thread decode + augment) against a
#      PyTorch DataLoader with the same number of worker processes, fp32 and amp,
#   5. prints RESULT lines with the ratios.
# Logs: $OUT/run.log (everything), tests.log, step.jsonl, epoch.jsonl, summary.txt.
# Env: KEFER_BENCH_SECONDS (6) per step figure, KEFER_EPOCH_WORKERS (12), KEFER_SKIP_TESTS=1.
set -uo pipefail
cd "$(dirname "$0")/../.."
P=.kefer/gpu-cuda
out=${OUT:-/tmp/kefer-cuda-out}
mkdir -p "$out"
exec > >(tee -a "$out/run.log") 2>&1
secs=${KEFER_BENCH_SECONDS:-6}
# The benchmarks let cuDNN pick non-deterministic algorithms too, as PyTorch's cudnn.benchmark does;
# the tests keep the default (deterministic) that makes resume exact.
bench_env=(env KEFER_CUDA_NONDETERMINISTIC=${KEFER_CUDA_NONDETERMINISTIC:-1})
workers=${KEFER_EPOCH_WORKERS:-12}
t0=$SECONDS
stage() { echo "== [$((SECONDS - t0)) s] $*"; }
[[ -f $P/cudaStep.cjs ]] || { echo "missing $P: run bench/gpu/prepare.sh here and carry .kefer/gpu-cuda" >&2; exit 2; }

stage "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1
node=$(command -v node || true)
if [[ -z $node ]] || (( $("$node" -p 'process.versions.node.split(".")[0]') < 20 )); then
  node=/tmp/kefer-node/node
  mkdir -p /tmp/kefer-node
  [[ -x $node ]] || python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$P/node.xz" "$node"
  chmod +x "$node"
fi
echo "node $("$node" --version) ($node); $(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1)"
# cuDNN, cuBLAS, NVRTC from the PyTorch environment's nvidia wheels.
nv=$(python3 -c 'import nvidia, os; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
if [[ -n $nv ]]; then
  export LD_LIBRARY_PATH="$(find "$nv" -name '*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cudnn=$(find "$nv" -name 'libcudnn.so.9' 2>/dev/null | head -1)
  [[ -n $cudnn ]] && export KEFER_CUDNN_DIR=$(dirname "$cudnn")
fi
echo "KEFER_CUDNN_DIR=${KEFER_CUDNN_DIR:-not found}"

stage "build the CUDA addon"
export KEFER_BUILD_DIR=/tmp/kefer-build NODE_ADDON_API_DIR=$P/napi/node-addon-api NODE_API_HEADERS_DIR=$P/napi/node-api-headers
built=1
if ! timeout 300 bash scripts/build-native.sh --cuda=require; then
  echo "BUILD: with cudnn.h's compile-time check it failed; building with native/cudnn_api.h alone"
  KEFER_CUDNN_HEADERS=0 timeout 300 bash scripts/build-native.sh --cuda=require || built=0
fi
export KEFER_CUDA_ADDON=$KEFER_BUILD_DIR/kefer_cuda.node KEFER_WASM_DIR=$P/wasm KEFER_SYNTHETIC_DIR=$P/synthetic
if ((built)); then
  "$node" -e "console.log('probe', JSON.stringify(require(process.env.KEFER_CUDA_ADDON).probe()))"
else
  echo "BUILD FAILED: no cuda figures; the PyTorch baselines still run"
fi

if ((built)) && [[ ${KEFER_SKIP_TESTS:-0} != 1 ]]; then
  stage "tests"
  timeout 240 "$node" --test-reporter=spec "$P/cudaTrain.test.cjs" 2>&1 | tee "$out/tests.log"
  timeout 60 "$node" --test-reporter=spec "$P/headReference.test.cjs" 2>&1 | grep -E '^(ℹ|✖)' | tee -a "$out/tests.log"
fi

: >"$out/step.jsonl"
for batch in 64 256; do
  if ((built)); then
    for prec in fp32 tf32 amp; do
      stage "cuda step: resnet18 @112 b$batch $prec"
      timeout 90 "${bench_env[@]}" "$node" "$P/cudaStep.cjs" --batch "$batch" --size 112 --precision "$prec" --seconds "$secs" 2>&1 | tee -a "$out/step.jsonl"
    done
  fi
  stage "pytorch step: resnet18 @112 b$batch fp32 / default / amp_cl"
  PYTHONUNBUFFERED=1 timeout 150 python3 bench/gpu/torch_step.py "{\"backbone\": \"resnet18\", \"size\": 112, \"batch\": $batch, \"seconds\": $secs, \"modes\": [\"fp32\", \"default\", \"amp_cl\"]}" 2>&1 | tee -a "$out/step.jsonl"
done

stage "end-to-end epoch from PNG files"
rm -rf /tmp/kefer-ferplus && mkdir -p /tmp/kefer-ferplus && tar -xf "$P/ferplus.tar" -C /tmp/kefer-ferplus
: >"$out/epoch.jsonl"
list=/tmp/kefer-epoch-files.json  # written by cudaEpoch: PyTorch trains on exactly the same files
rm -f "$list"
for mode in fp32 amp; do
  if ((built)); then
    stage "cuda epoch $mode, $workers workers"
    timeout 150 "${bench_env[@]}" "$node" "$P/cudaEpoch.cjs" --data /tmp/kefer-ferplus/ferplus --batch 256 --workers "$workers" --precision "$mode" --list "$list" 2>&1 | tee -a "$out/epoch.jsonl"
  fi
  if [[ -f $list ]]; then
    tmode=$([[ $mode == amp ]] && echo amp_cl || echo fp32)
    stage "pytorch epoch $tmode, $workers DataLoader workers"
    PYTHONUNBUFFERED=1 timeout 150 python3 bench/gpu/torch_epoch.py "$list" "{\"batch\": 256, \"workers\": $workers, \"mode\": \"$tmode\"}" 2>&1 | tee -a "$out/epoch.jsonl"
  fi
done

stage "summary"
python3 - "$out/step.jsonl" "$out/epoch.jsonl" <<'PY' | tee "$out/summary.txt"
import json, sys
def rows(p):
    out = []
    for l in open(p):
        l = l.strip()
        if l.startswith("{"):
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
    return out
step, epoch = rows(sys.argv[1]), rows(sys.argv[2])
pairs = [("fp32", "fp32"), ("tf32", "default"), ("amp", "amp_cl")]
for b in (64, 256):
    for ours, theirs in pairs:
        a = next((r for r in step if r.get("runtime") == "cuda" and r["batch"] == b and r["precision"] == ours), None)
        t = next((r for r in step if r.get("mode") == theirs and r.get("batch") == b and "runtime" not in r), None)
        if a and t:
            print(f"RESULT step resnet18 @112 b{b}: cuda {ours} {a['img_per_s']:.0f} img/s ({a['ms_per_step']:.1f} ms) = {a['img_per_s'] / t['img_per_s']:.3f}x pytorch {theirs} {t['img_per_s']:.0f} img/s ({t['device']}, torch {t['torch']})")
        else:
            print(f"RESULT step resnet18 @112 b{b} cuda {ours} vs pytorch {theirs}: missing ({'cuda' if not a else 'pytorch'} row absent; see run.log)")
for ours, theirs in (("fp32", "fp32"), ("amp", "amp_cl")):
    a = next((r for r in epoch if r.get("runtime") == "cuda" and r["precision"] == ours), None)
    t = next((r for r in epoch if r.get("runtime") == "pytorch" and r["mode"] == theirs), None)
    if a and t:
        print(f"RESULT epoch {a['images']} FERPlus PNGs b256: cuda {ours} {a['epoch_s']:.1f} s ({a['img_per_s']:.0f} img/s, {a['waiting_for_data_s']:.1f} s waiting for data, {a['workers']} workers) = {t['epoch_s'] / a['epoch_s']:.3f}x pytorch {theirs} {t['epoch_s']:.1f} s ({t['workers']} DataLoader workers)")
    else:
        print(f"RESULT epoch cuda {ours} vs pytorch {theirs}: missing (see run.log)")
PY
stage "done"
