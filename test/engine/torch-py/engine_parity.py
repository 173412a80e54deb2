"""What kefer_torch draws from the engine's seeded streams, for the test to compare with the engine itself:
  augment  IMAGES.npy (uint8 [B, S, S, 3]) SEED EPOCH STEP MODE OUT.npy  -> the batch augmented as the
           engine's trainer would (float32 [B, S, S, 3])
  init     BACKBONE SEED SIZE OUT.safetensors -> the initial model (engine names and torch layouts)
  order    N SEED EPOCH OUT.json -> the epoch's sample order"""
import json
import sys

import numpy as np

from kefer_torch import augment as aug
from kefer_torch.data import IMAGENET_MEAN, IMAGENET_STD, epoch_order
from kefer_torch.rng import derive_seed

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "augment":
    images = np.load(args[0])
    seed, epoch, step, mode, out = int(args[1]), int(args[2]), int(args[3]), args[4], args[5]
    params = aug.batch_params(derive_seed(seed, epoch, step, 1), images.shape[1], mode, len(images))
    np.save(out, np.stack([aug.apply(img, p, IMAGENET_MEAN, IMAGENET_STD) for img, p in zip(images, params)]))
elif cmd == "init":
    import torch

    from kefer_torch.checkpoint import model_tensors
    from kefer_torch.models import KeferNet, engine_init
    from kefer_torch.safetensors_io import write_safetensors

    backbone, seed, size, out = args[0], int(args[1]), int(args[2]), args[3]
    model = engine_init(KeferNet(backbone, size, seed=seed), seed)
    write_safetensors(out, model_tensors(model.state_dict(), torch.zeros(7, 512)))
elif cmd == "order":
    json.dump(epoch_order(int(args[0]), int(args[1]), int(args[2])), open(args[3], "w"))
