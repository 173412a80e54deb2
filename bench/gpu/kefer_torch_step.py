"""The kefer_torch training step on one GPU: ResNet-18 and Swin-T at 112 px, fp32 and AMP (fp16 autocast,
GradScaler), the batch resident on the GPU. The step is the trainer's (python/kefer_torch/train.py):
KeferNet forward, the KE-FER loss (kefer_loss, pairwise Lc), backward, torch's SGD (lr 0.002, momentum
0.9, wd 5e-4), the loss read back (.item()) every step. Ratios are against fp32 of the same backbone in
this run. One JSON line per figure, then RESULT lines.
usage: python bench/gpu/kefer_torch_step.py [--batch 64] [--seconds 6] [--backbones resnet18,swin_t]"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))

import torch  # noqa: E402

from kefer_torch.losses import kefer_loss, l2normalize  # noqa: E402
from kefer_torch.models import KeferNet, engine_init  # noqa: E402


def bench(backbone, amp, batch, seconds, device):
    torch.manual_seed(0)
    model = engine_init(KeferNet(backbone, 112, seed=29), 29).to(device).train()
    if amp:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9, weight_decay=5e-4)
    scaler = torch.cuda.amp.GradScaler(enabled=amp)
    text = l2normalize(torch.randn(7, 512, device=device))
    x = torch.randn(batch, 3, 112, 112, device=device)
    if amp:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,), device=device)

    def step():
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            v, n = model(x)
        total, *_ = kefer_loss(v.float(), n.float(), text, y, 6)
        opt.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(opt)
        scaler.update()
        return total.item()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0, steps = time.time(), 0
    while time.time() - t0 < seconds:
        step()
        steps += 1
    wall = time.time() - t0
    return {"backbone": backbone, "precision": "amp" if amp else "fp32", "batch": batch, "steps": steps, "img_per_s": steps * batch / wall, "ms_per_step": 1000 * wall / steps}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seconds", type=float, default=6)
    p.add_argument("--backbones", default="resnet18,swin_t")
    a = p.parse_args()
    if not torch.cuda.is_available():
        print("SKIPPED: torch sees no CUDA device")
        return 0
    device = torch.device("cuda", 0)
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(0)
    for backbone in a.backbones.split(","):
        fp32 = bench(backbone, False, a.batch, a.seconds, device)
        amp = bench(backbone, True, a.batch, a.seconds, device)
        for r in (fp32, amp):
            print(json.dumps({**r, "gpu": name, "torch": torch.__version__}), flush=True)
        print(f"RESULT kefer_torch step {backbone} @112 b{a.batch}: fp32 {fp32['img_per_s']:.0f} img/s ({fp32['ms_per_step']:.1f} ms), "
              f"amp {amp['img_per_s']:.0f} img/s = {amp['img_per_s'] / fp32['img_per_s']:.2f}x fp32 ({name}, torch {torch.__version__})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
