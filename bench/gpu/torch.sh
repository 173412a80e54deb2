#!/usr/bin/env bash
# `npm run bench:gpu-torch`: the PyTorch trainer (python/kefer_torch) on one GPU, for a device machine
# with PyTorch CUDA (no node needed): the step of ResNet-18 and Swin-T at 112 px, fp32 and AMP
# (bench/gpu/kefer_torch_step.py), then 20 steps of the real trainer under torchrun on generated images
# (end to end: DataLoader workers, DDP on NCCL, events), fp32 and AMP, ResNet-18.
# bench/README.md "## PyTorch trainer on a GPU" has the device call. NOT RUN YET (no GPU was lent).
# Logs: $OUT/torch-gpu.log; RESULT lines at the end.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/kefer-torch-gpu-out}
mkdir -p "$out"
exec > >(tee -a "$out/torch-gpu.log") 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "torchvision", torchvision.__version__)'
timeout 300 python3 bench/gpu/kefer_torch_step.py --batch "${KEFER_BENCH_BATCH:-64}" --seconds "${KEFER_BENCH_SECONDS:-6}"

# The trainer end to end: 64 * 21 generated 112 px faces (random noise PNGs), list file, text embeddings.
work=$(mktemp -d)
python3 - "$work" <<'PY'
import json, os, sys
import numpy as np
from PIL import Image
work = sys.argv[1]
os.makedirs(f"{work}/img", exist_ok=True)
rng = np.random.default_rng(0)
with open(f"{work}/train.txt", "w") as f:
    for i in range(64 * 21):
        Image.fromarray(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(f"{work}/img/{i}.png")
        f.write(f"img/{i}.png {i % 7}\n")
classes = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
json.dump({"format": "kefer-text-embeddings", "version": 1, "classes": classes, "prompts": classes, "dim": 512,
           "source": {"kind": "standin", "model": "random", "description": "random vectors (benchmark)"},
           "embeddings": rng.standard_normal((7, 512)).tolist()}, open(f"{work}/text.json", "w"))
PY
for prec in fp32 amp; do
  flag=(); [[ $prec == amp ]] && flag=(--amp)
  PYTHONPATH=python timeout 300 python3 -m kefer_torch.torchrun --standalone --nproc_per_node=1 -m kefer_torch train \
    --data "list:$work/train.txt" --val none --text "$work/text.json" --out "$work/run-$prec" --backbone resnet18 \
    --epochs 1 --batch 64 --max-steps 20 --loader-workers 8 "${flag[@]}" --events json > "$work/$prec.jsonl" || echo "trainer $prec failed"
  python3 - "$work/run-$prec/events.jsonl" "$prec" <<'PY'
import json, sys
from datetime import datetime
t = [datetime.fromisoformat(e["time"].rstrip("Z")) for e in map(json.loads, open(sys.argv[1])) if e["type"] == "step"]
if len(t) > 5:
    print(f"RESULT kefer_torch train resnet18 @112 b64 {sys.argv[2]} (torchrun, 1 GPU, 8 loader workers, PNG decode + augmentation): "
          f"{64 * (len(t) - 5) / (t[-1] - t[4]).total_seconds():.0f} img/s after 4 warm-up steps")
PY
done
rm -rf "$work"
grep '^RESULT' "$out/torch-gpu.log" > "$out/torch-summary.txt" || true
