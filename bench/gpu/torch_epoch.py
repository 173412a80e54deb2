"""PyTorch side of the end-to-end epoch in bench/gpu/run.sh: one training epoch of ResNet-18 @112 +
F_n + the KE-FER loss (bench/train_torch.py) from the same PNG files and labels as bench/gpu/cudaEpoch.ts
(its --list JSON), with a torch DataLoader (worker processes, pinned memory, non-blocking copies) and
the released code's augmentation through torchvision: resize 112, random crop after 4-pixel padding
with p 0.5, horizontal flip, ImageNet normalisation, random erasing 0.02-0.25. Timed wall-clock from
the DataLoader's start to the last step. Prints one JSON line.

Usage: python3 bench/gpu/torch_epoch.py LIST.json '{"batch": 256, "workers": 12, "mode": "fp32"|"amp_cl"}'
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision import transforms as T  # noqa: E402
from train_torch import ResNet18, kefer_loss  # noqa: E402


class Pngs(torch.utils.data.Dataset):
    def __init__(self, files, labels):
        self.files, self.labels = files, labels
        self.tf = T.Compose([
            T.Resize((112, 112)),
            T.RandomApply([T.RandomCrop(112, padding=4)], p=0.5),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            T.RandomErasing(scale=(0.02, 0.25)),
        ])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return self.tf(Image.open(self.files[i]).convert("RGB")), self.labels[i]


def main():
    lst = json.load(open(sys.argv[1]))
    cfg = json.loads(sys.argv[2])
    mode = cfg.get("mode", "fp32")
    amp = mode == "amp_cl"
    torch.backends.cudnn.allow_tf32 = mode != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(29)
    dev = cfg.get("device", "cuda")  # "cpu" only to check the script where no GPU is
    neutral = lst["classes"].index("neutral")
    enc = ResNet18().to(dev)
    if amp:
        enc = enc.to(memory_format=torch.channels_last)
    mlp = nn.Sequential(nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 512)).to(dev)
    opt = torch.optim.SGD(list(enc.parameters()) + list(mlp.parameters()), lr=0.002, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler("cuda") if amp else None
    text = torch.randn(len(lst["classes"]), 512, device=dev)
    loader = torch.utils.data.DataLoader(Pngs(lst["files"], lst["labels"]), batch_size=cfg["batch"], shuffle=True, drop_last=True,
                                         num_workers=cfg["workers"], pin_memory=True, prefetch_factor=4)
    enc.train()

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        if amp:
            with torch.autocast("cuda", dtype=torch.float16):
                v = enc(x)
            v = v.float()
            loss = kefer_loss(v, mlp(v), text, y, neutral=neutral)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            v = enc(x)
            loss = kefer_loss(v, mlp(v), text, y, neutral=neutral)
            loss.backward()
            opt.step()
        return loss.item()

    # One step on a random batch first: cuDNN's autotuning (benchmark=True) and the CUDA context stay out
    # of the timed epoch, as the cuda runtime's algorithm search happens when it is built.
    fmt = torch.channels_last if amp else torch.contiguous_format
    step(torch.randn(cfg["batch"], 3, 112, 112, device=dev).contiguous(memory_format=fmt), torch.arange(cfg["batch"], device=dev) % len(lst["classes"]))
    if dev == "cuda":
        torch.cuda.synchronize()
    steps, loss_v = 0, float("nan")
    t0 = time.perf_counter()
    for x, y in loader:
        x = x.to(dev, non_blocking=True)
        y = y.to(dev, non_blocking=True)
        if amp:
            x = x.contiguous(memory_format=torch.channels_last)
        loss_v = step(x, y)
        steps += 1
    dt = time.perf_counter() - t0
    n = steps * cfg["batch"]
    print(json.dumps({"runtime": "pytorch", "mode": mode, "batch": cfg["batch"], "workers": cfg["workers"], "images": n, "epoch_s": dt,
                      "img_per_s": n / dt, "last_loss": loss_v, "device": torch.cuda.get_device_name() if dev == "cuda" else dev, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
