"""PyTorch CPU baseline for bench/train.ts: the same KE-FER training step (encoder forward in
training mode + KE-FER loss + backward + SGD update) on the same shapes, at its best: torchvision's
ResNet-18 (the project's compact backbone is defined here: it has no torchvision twin), eager NCHW and
channels_last, each warmed until the step time is steady; the faster is the baseline.

Usage: python3 bench/train_torch.py CONFIG_JSON   -> prints one JSON line per config.
CONFIG_JSON: [{"backbone": "resnet18"|"compact", "batch": 16, "size": 112, "seconds": 10, "threads": 2}, ...]
("threads" optional: torch's default when absent)
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import resnet18_encoder, setup, timed, warm_until_steady  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return F.relu(y + s)


def stages(widths, blocks, cin, first_strides):
    layers = []
    for w, n, s in zip(widths, blocks, first_strides):
        layers.append(nn.Sequential(*[BasicBlock(cin if i == 0 else w, w, s if i == 0 else 1) for i in range(n)]))
        cin = w
    return nn.Sequential(*layers)


def ResNet18():  # noqa: N802 (bench/gpu/torch_*.py construct it by this name)
    """torchvision's ResNet-18 without its classifier."""
    return resnet18_encoder()


class Compact(nn.Module):
    """Mirror of src/engine/model/encoders.ts createCompact."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.body = stages([64, 128, 256], [1, 1, 1], 32, [2, 2, 2])
        self.head = nn.Sequential(nn.Conv2d(256, 512, 1, bias=False), nn.BatchNorm2d(512))

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.head(self.body(x)).mean((2, 3))


def kefer_loss(v, n, text, labels, neutral=6, scale=100.0):
    """Ls + Lt + Lc (pairwise), as ../shared/docs/method.md states them."""
    tn = F.normalize(text, dim=1)
    logits = scale * F.normalize(v, dim=1) @ tn.t()
    ls = F.cross_entropy(logits, labels)
    mask = (labels != neutral).float()
    m = mask.sum()
    ty = tn[labels]
    cos_t = F.cosine_similarity(v - n, ty - tn[neutral:neutral + 1], dim=1)
    lt = (mask * (1 - cos_t)).sum() / m.clamp(min=1)
    s = ty @ (F.normalize(n, dim=1) - F.normalize(v, dim=1)).t()
    lc = (torch.outer(mask, mask) * (s + 2)).sum() / (m * m).clamp(min=1)
    return ls + lt + lc


def measure(cfg):
    info = setup(cfg.get("threads"))
    rows = []
    for layout in ("eager", "channels_last"):
        torch.manual_seed(29)
        enc = ResNet18() if cfg["backbone"] == "resnet18" else Compact()
        mlp = nn.Sequential(nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 512))
        params = list(enc.parameters()) + list(mlp.parameters())
        opt = torch.optim.SGD(params, lr=0.002, momentum=0.9, weight_decay=5e-4)
        b, size = cfg["batch"], cfg["size"]
        x = torch.randn(b, 3, size, size)
        if layout == "channels_last":
            enc = enc.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.arange(b) % 7
        text = torch.randn(7, 512)
        enc.train()

        def step():
            opt.zero_grad(set_to_none=True)
            v = enc(x)
            loss = kefer_loss(v, mlp(v), text, y)
            loss.backward()
            opt.step()
            return loss.item()

        warm = warm_until_steady(step, min_calls=3, max_calls=15)
        steps, dt, cpu = timed(step, cfg.get("seconds", 10), cfg.get("min_steps", 2))
        rows.append({"layout": layout, "steps": steps, "img_per_s": steps * b / dt, "cpu_img_per_s": steps * b / cpu, "warmup_steps": warm})
    best = max(rows, key=lambda r: r["img_per_s"])
    return {**cfg, **best, "layouts": rows, **info}


if __name__ == "__main__":
    for c in json.loads(sys.argv[1]):
        print(json.dumps(measure(c)), flush=True)
