"""PyTorch side of `npm run bench:train -- --end-to-end` (bench/trainEpoch.ts): two epochs of torchvision's
ResNet-18 @112 + F_n + the KE-FER loss (train_torch.py) on the CPU from the same PNG files, with a DataLoader
(worker processes, persistent) and the released code's augmentation through torchvision; after each epoch a
torch.no_grad() eval-mode validation pass (logits, v, n, softmax per sample) over the same validation PNGs
and torch.save of the model and optimizer (as the trainer writes checkpoints/last and best). The second
epoch is measured. Then the eval forward alone at its best (eager no_grad, TorchScript frozen), warmed until
steady. Prints one JSON line.

Usage: python3 bench/epoch_torch.py LIST.json '{"batch": 16, "threads": 2, "workers": 2, "val_batch": 16, "eval_batch": 100, "out": DIR}'
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import resnet18_encoder, setup, timed, warm_until_steady  # noqa: E402
from train_torch import kefer_loss  # noqa: E402

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class Pngs(torch.utils.data.Dataset):
    def __init__(self, items, train):
        self.items = items
        aug = [T.RandomApply([T.RandomCrop(112, padding=4)], p=0.5), T.RandomHorizontalFlip()] if train else []
        tail = [T.RandomErasing(scale=(0.02, 0.25))] if train else []
        self.tf = T.Compose([T.Resize((112, 112)), *aug, T.ToTensor(), T.Normalize(MEAN, STD), *tail])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        f, y = self.items[i]
        return self.tf(Image.open(f).convert("RGB")), y


def main():
    lst = json.load(open(sys.argv[1]))
    cfg = json.loads(sys.argv[2])
    info = setup(cfg["threads"])
    torch.manual_seed(29)
    neutral = lst["classes"].index("neutral")
    enc = resnet18_encoder()
    mlp = nn.Sequential(nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 512))
    opt = torch.optim.SGD(list(enc.parameters()) + list(mlp.parameters()), lr=0.002, momentum=0.9, weight_decay=5e-4)
    text = F.normalize(torch.randn(len(lst["classes"]), 512), dim=1)
    train_loader = torch.utils.data.DataLoader(Pngs(lst["train"], True), batch_size=cfg["batch"], shuffle=True, drop_last=True,
                                               num_workers=cfg["workers"], persistent_workers=cfg["workers"] > 0)
    val_loader = torch.utils.data.DataLoader(Pngs(lst["val"], False), batch_size=cfg["val_batch"], shuffle=False,
                                             num_workers=cfg["workers"], persistent_workers=cfg["workers"] > 0)

    def epoch():
        enc.train()
        mlp.train()
        t0 = time.perf_counter()
        marks = []
        for x, y in train_loader:
            opt.zero_grad(set_to_none=True)
            v = enc(x)
            loss = kefer_loss(v, mlp(v), text, y, neutral=neutral)
            loss.backward()
            opt.step()
            loss.item()
            marks.append(time.perf_counter())
        tv = time.perf_counter()
        enc.eval()
        mlp.eval()
        n = 0
        with torch.no_grad():
            for x, y in val_loader:
                v = enc(x)
                nv = mlp(v)
                probs = torch.softmax(100 * F.normalize(v, dim=1) @ text.t(), dim=1)
                (probs.argmax(1) == y).sum().item()
                F.cosine_similarity(v, nv).numpy()
                n += x.shape[0]
        val_sec = time.perf_counter() - tv
        torch.save({"enc": enc.state_dict(), "mlp": mlp.state_dict(), "opt": opt.state_dict()}, os.path.join(cfg["out"], "torch-last.pt"))
        torch.save({"enc": enc.state_dict(), "mlp": mlp.state_dict()}, os.path.join(cfg["out"], "torch-best.pt"))
        steps = [b - a for a, b in zip([t0] + marks, marks)]
        return {"epochSec": time.perf_counter() - t0, "stepSec": statistics.median(steps[1:] or steps), "valImages": n, "valSec": val_sec}

    epoch()
    measured = epoch()

    # The eval forward alone at its best, on a batch of eval_batch (the measured side's validation batch).
    x = torch.randn(cfg["eval_batch"], 3, 112, 112)
    enc.eval()
    forward = []
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(enc)))
        for name, m in (("eager", enc), ("torchscript-frozen", frozen)):
            warm_until_steady(lambda: m(x), min_calls=3, max_calls=15)
            calls, wall, _ = timed(lambda: m(x), 6)
            forward.append({"variant": name, "img_per_s": calls * cfg["eval_batch"] / wall})
    print(json.dumps({**measured, "eval_forward": forward, "workers": cfg["workers"], **info}), flush=True)


if __name__ == "__main__":
    main()
