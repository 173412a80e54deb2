#!/usr/bin/env bash
# GPU training benchmark: ResNet-18 KE-FER training step at 112x112, batch 64, through WebGPU
# (Dawn on Vulkan, tfjs-backend-webgpu) and through PyTorch CUDA on the same machine; prints the
# ratio. Needs .kefer/gpu-bench from bench/gpu/webgpu-prepare.sh (carry it). bench/README.md "## WebGPU"
# has the exact device `run` call.
#   bench/gpu/webgpu.sh            on the GPU machine (unpacks the Vulkan loader into /)
#   bench/gpu/webgpu.sh --local    here: no unpacking, software adapter allowed, PyTorch on CPU
#   bench/gpu/webgpu.sh --profile  WebGPU only: forward / forward+backward / step times and kernels per
#                               step, under tfjs-backend-webgpu flag variants (where the time goes)
# Env: KEFER_GPU_BENCH_SIZE (112), _BATCHES ("64 16"), _SECONDS (20) per measurement.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=.kefer/gpu-bench
local=0 profile=0
[[ ${1:-} == --local ]] && local=1
[[ ${1:-} == --profile ]] && profile=1
size=${KEFER_GPU_BENCH_SIZE:-112} batches=${KEFER_GPU_BENCH_BATCHES:-64 16} secs=${KEFER_GPU_BENCH_SECONDS:-20}
out=${OUT:-/tmp/kefer-gpu-bench-out}
mkdir -p "$out"
[[ -f $B/step.mjs ]] || { echo "missing $B: run bench/gpu/webgpu-prepare.sh here and carry .kefer/gpu-bench" >&2; exit 2; }

if ((local)); then
  export KEFER_WEBGPU_ALLOW_SOFTWARE=1
else
  # The image has no Vulkan loader; the NVIDIA driver brings only its ICD.
  if ! ldconfig -p | grep -q libvulkan.so.1; then
    for f in "$B"/debs/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [[ -f $icd ]] && { export VK_DRIVER_FILES=$icd; break; }
  done
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
  nvidia-smi -L 2>/dev/null
fi

node=$(command -v node || true)
if [[ -z $node ]] || (( $("$node" -p 'process.versions.node.split(".")[0]') < 20 )); then
  node=/tmp/kefer-node/node
  mkdir -p /tmp/kefer-node
  [[ -x $node ]] || python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$B/node.xz" "$node"
  chmod +x "$node"
fi
echo "node $("$node" --version) ($node)"

if ((profile)); then
  for flags in '{}' '{"WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE":1000}' '{"WEBGPU_CPU_FORWARD":false}'; do
    for batch in $batches; do
      echo "== webgpu profile: resnet18 @${size} b${batch} flags ${flags}"
      "$node" "$B/step.mjs" --backbone resnet18 --size "$size" --batch "$batch" --seconds "$secs" --phases --flags "$flags" 2>&1 | grep '^{' | tee -a "$out/profile.log"
    done
  done
  exit 0
fi

py=${KEFER_PYTHON:-python3}
"$py" -c 'import torch' 2>/dev/null || py=/usr/bin/python3

: >"$out/webgpu.log"
: >"$out/torch.log"
for batch in $batches; do
  echo "== webgpu: resnet18 @${size} b${batch}"
  "$node" "$B/step.mjs" --backbone resnet18 --size "$size" --batch "$batch" --seconds "$secs" 2>&1 | tee -a "$out/webgpu.log"
  echo "== pytorch: resnet18 @${size} b${batch}"
  PYTHONUNBUFFERED=1 "$py" bench/gpu/torch_step.py "{\"backbone\": \"resnet18\", \"size\": $size, \"batch\": $batch, \"seconds\": $secs}" 2>&1 | tee -a "$out/torch.log"
done

"$py" - "$out/webgpu.log" "$out/torch.log" <<'PY'
import json, sys
def last_json(p):
    rows = [json.loads(l) for l in open(p) if l.startswith("{")]
    return rows
w = last_json(sys.argv[1]); t = last_json(sys.argv[2])
if not w or not t:
    print("RESULT: incomplete (see logs above)"); sys.exit(1)
for a in w:
    for r in (r for r in t if r["batch"] == a["batch"]):
        print(f"RESULT resnet18 @{a['size']} b{a['batch']}: webgpu {a['img_per_s']:.1f} img/s ({a['adapter']}) = "
              f"{a['img_per_s'] / r['img_per_s']:.3f}x pytorch {r['mode']} {r['img_per_s']:.1f} img/s ({r['device']}, torch {r['torch']})")
PY
