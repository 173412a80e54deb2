"""PyTorch's outputs for a checkpoint directory on given images: the reference the ONNX export and the
engine are compared with. usage: python forward.py CHECKPOINT_DIR IMAGES.npy (NHWC, normalised) OUT_PREFIX
writes OUT_PREFIX.{logits,v,n}.npy"""
import sys

import numpy as np
import torch

from kefer_torch.checkpoint import load_checkpoint_dir, read_config
from kefer_torch.losses import l2normalize
from kefer_torch.models import KeferNet

ckpt, images, out = sys.argv[1:4]
cfg = read_config(ckpt)
model = KeferNet(cfg["backbone"], cfg["inputSize"])
_, te = load_checkpoint_dir(ckpt, model)
model.eval()
with torch.no_grad():
    v, n = model(torch.from_numpy(np.load(images)).permute(0, 3, 1, 2).contiguous())
    logits = l2normalize(v) @ l2normalize(te).t() * cfg["logitScale"]
for name, t in (("logits", logits), ("v", v), ("n", n)):
    np.save(f"{out}.{name}.npy", t.numpy().astype(np.float32))
