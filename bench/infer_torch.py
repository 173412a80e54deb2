"""PyTorch CPU inference baseline for bench/infer.ts: torchvision's ResNet-18 encoder (eval mode, no_grad),
forward only, at its best: eager NCHW, eager channels_last, and TorchScript frozen with
optimize_for_inference (BatchNorm folded, oneDNN layouts), each warmed until steady; the fastest is the
baseline. Same batch and threads as the measured side.

Usage: python3 bench/infer_torch.py '{"batch": 32, "size": 112, "seconds": 8, "threads": 2}'  -> one JSON line.
"only": ["torchscript-frozen"] measures those variants alone (bench/infer.ts's paired rounds).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import resnet18_encoder, setup, timed, warm_until_steady  # noqa: E402


def variants(model, x):
    yield "eager", model, x
    yield "channels_last", model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    model = model.to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
    yield "torchscript-frozen", frozen, x


def main():
    cfg = json.loads(sys.argv[1])
    info = setup(cfg.get("threads", os.cpu_count()))
    torch.manual_seed(0)
    model = resnet18_encoder().eval()
    x = torch.randn(cfg["batch"], 3, cfg["size"], cfg["size"])
    rows = []
    with torch.no_grad():
        for name, m, inp in variants(model, x):
            if cfg.get("only") and name not in cfg["only"]:
                continue
            warm = warm_until_steady(lambda: m(inp))
            n, wall, cpu = timed(lambda: m(inp), cfg["seconds"])
            imgs = n * cfg["batch"]
            rows.append({"variant": name, "img_per_s": imgs / wall, "cpu_img_per_s": imgs / cpu, "images": imgs, "warmup_calls": warm})
    best = max(rows, key=lambda r: r["img_per_s"])
    print(json.dumps({**best, "variants": rows, **info}))


if __name__ == "__main__":
    main()
