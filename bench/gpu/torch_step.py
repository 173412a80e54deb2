"""PyTorch side of bench/gpu/run.sh and bench/gpu/webgpu.sh: the same KE-FER training step as bench/gpu/step.ts (models
and loss from bench/train_torch.py, SGD lr 0.002 momentum 0.9 wd 5e-4) on CUDA when available,
else CPU. Prints one JSON line per precision mode.

Usage: python3 bench/gpu/torch_step.py '{"backbone": "resnet18", "size": 112, "batch": 64, "seconds": 20}'
Modes ("modes" in the config; default ["fp32", "default"]): "fp32" (TF32 off: the arithmetic WebGPU
and the cuda runtime's fp32 do), "default" (PyTorch's defaults: cuDNN convolutions may use TF32 on
Hopper) and "amp_cl" (channels_last + autocast fp16 + GradScaler: PyTorch's fastest usual setting).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from train_torch import Compact, ResNet18, kefer_loss  # noqa: E402


def measure(cfg, device, mode):
    tf32 = mode != "fp32"
    amp = mode == "amp_cl"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(29)
    enc = (ResNet18() if cfg["backbone"] == "resnet18" else Compact()).to(device)
    mlp = nn.Sequential(nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 512)).to(device)
    params = list(enc.parameters()) + list(mlp.parameters())
    opt = torch.optim.SGD(params, lr=0.002, momentum=0.9, weight_decay=5e-4)
    b, size = cfg["batch"], cfg["size"]
    x = torch.randn(b, 3, size, size, device=device)
    y = torch.arange(b, device=device) % 7
    text = torch.randn(7, 512, device=device)
    enc.train()
    if amp:
        enc = enc.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler("cuda") if amp else None

    def step():
        opt.zero_grad(set_to_none=True)
        if amp:
            with torch.autocast("cuda", dtype=torch.float16):
                v = enc(x)
            v = v.float()
            loss = kefer_loss(v, mlp(v), text, y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            v = enc(x)
            loss = kefer_loss(v, mlp(v), text, y)
            loss.backward()
            opt.step()
        return loss.item()  # waits for the GPU, like the WebGPU side's await loss.data()

    for _ in range(3):
        step()  # warm-up: cuDNN autotuning, allocator
    steps, t0 = 0, time.perf_counter()
    while steps < cfg.get("min_steps", 3) or time.perf_counter() - t0 < cfg.get("seconds", 20):
        step()
        steps += 1
    dt = time.perf_counter() - t0
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return {**cfg, "mode": mode, "device": name, "steps": steps, "img_per_s": steps * b / dt, "torch": torch.__version__}


if __name__ == "__main__":
    cfg = json.loads(sys.argv[1])
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for mode in cfg.get("modes", ["fp32", "default"]) if dev == "cuda" else ["fp32"]:
        print(json.dumps(measure(cfg, dev, mode)), flush=True)
