"""Writes an encoder state dict (torchvision names, as `--init` takes it) from a seed: the shared starting
point of the engine-vs-torch step test. usage: python init_weights.py BACKBONE SEED OUT.safetensors"""
import sys

import torch

from kefer_torch.models import KeferNet, engine_init
from kefer_torch.safetensors_io import write_safetensors

backbone, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = engine_init(KeferNet(backbone, seed=seed), seed)
sd = model.encoder.state_dict()
# BatchNorm away from its defaults (running statistics, scale and shift), so loading them is exercised
# and no tensor starts at zero (a relative comparison after one step is then about the step)
g = torch.Generator().manual_seed(seed)
for k, v in sd.items():
    if k.endswith(("running_mean", "bn1.bias", "bn2.bias", "downsample.1.bias")):
        v.copy_(torch.randn(v.shape, generator=g) * 0.1)
    elif k.endswith(("running_var", "bn1.weight", "bn2.weight", "downsample.1.weight")):
        v.copy_(0.5 + torch.rand(v.shape, generator=g))
write_safetensors(out, {k: (v.to(torch.int64) if k.endswith("num_batches_tracked") else v.float()) for k, v in sd.items()})
