"""PyTorch CPU inference baseline for bench/infer.ts: ResNet-18 (eval mode, no_grad) forward only.

Usage: python3 bench/infer_torch.py '{"batch": 32, "size": 112, "seconds": 8}'  -> one JSON line.
Reuses the model definition of bench/train_torch.py (torchvision-equivalent, no torchvision needed).
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_torch import ResNet18  # noqa: E402


def main():
    cfg = json.loads(sys.argv[1])
    torch.manual_seed(0)
    # Same cores as onnxruntime gets (Debian's build may default to 1 thread).
    torch.set_num_threads(cfg.get("threads", os.cpu_count()))
    model = ResNet18().eval()
    x = torch.randn(cfg["batch"], 3, cfg["size"], cfg["size"])
    with torch.no_grad():
        model(x)  # warm-up
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < cfg["seconds"] or n == 0:
            model(x)
            n += cfg["batch"]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"img_per_s": n / wall, "cpu_img_per_s": n / cpu, "images": n, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
