"""The KE-FER model on PyTorch: visual encoder F_e + transformation network F_n (`MLP.fc1`, `MLP.fc2`).

State-dict names are the engine's checkpoint names (src/engine/train/checkpoint.ts): `encoder.<torchvision
name>` and `MLP.fc1|fc2.weight|bias`, so model.safetensors files are interchangeable.

Backbones:
  resnet18  torchvision's resnet18 without its classifier (fc); v = the pooled 512-d feature.
  compact   the engine's small CPU backbone (src/engine/model/encoders.ts) from torchvision's BasicBlock.
  swin_t    torchvision's SwinTransformer configured as the released KE-FER code's backbone
            (hangyu94/KE2NT models/swin.py, a face-recognition Swin-T): 2x2 patches at 112 px (a 56x56
            token grid, as Swin-T at 224 px with 4x4 patches), window 7, depths 2-2-6-2, heads 3-6-12-24,
            stochastic depth 0.1; its classifier replaced by the released code's feature head
            Linear(768, 768) - BatchNorm1d - Linear(768, 512) - BatchNorm1d (no biases, BN eps 2e-5),
            stored as `encoder.head.0..3`.

resnet18 and compact start from the engine's own initial weights for the same seed (the engine's Rng:
Kaiming-normal convolutions in the engine's order, F_n uniform as nn.Linear), so a run here and an engine
run start from the same model. swin_t (no engine counterpart) takes torchvision's initialisation.
"""
import math

import numpy as np
import torch
from torch import nn
import torchvision
from torchvision.models.resnet import BasicBlock

from .rng import Rng

BACKBONES = ("resnet18", "compact", "swin_t")
DEFAULT_INPUT = {"resnet18": 112, "compact": 48, "swin_t": 112}
FEATURE_DIM = 512
SWIN_HEAD_EPS = 2e-5


def _downsample(cin, cout, stride):
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class Compact(nn.Module):
    """encoders.ts createCompact: 3x3 stem (stride 1), one basic block per stage at 64/128/256 (stride 2),
    a 1x1 conv + BN to 512 (no ReLU after it), global average pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu = nn.ReLU(inplace=True)
        cin = 32
        for s, w in enumerate([64, 128, 256]):
            setattr(self, f"layer{s + 1}", nn.Sequential(BasicBlock(cin, w, 2, _downsample(cin, w, 2))))
            cin = w
        self.head = nn.Module()
        self.head.conv = nn.Conv2d(256, 512, 1, bias=False)
        self.head.bn = nn.BatchNorm2d(512)

    def forward(self, x):
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        h = self.head.bn(self.head.conv(h))
        return h.mean((2, 3))


def resnet18_encoder():
    m = torchvision.models.resnet18()
    m.fc = nn.Identity()
    return m


def swin_t_encoder(stochastic_depth=0.1):
    from torchvision.models.swin_transformer import SwinTransformer

    m = SwinTransformer(patch_size=[2, 2], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                        window_size=[7, 7], stochastic_depth_prob=stochastic_depth, num_classes=1000)
    m.head = nn.Sequential(nn.Linear(768, 768, bias=False), nn.BatchNorm1d(768, eps=SWIN_HEAD_EPS),
                           nn.Linear(768, FEATURE_DIM, bias=False), nn.BatchNorm1d(FEATURE_DIM, eps=SWIN_HEAD_EPS))
    for lin in (m.head[0], m.head[2]):
        nn.init.trunc_normal_(lin.weight, std=0.02)
    return m


class Transform(nn.Module):
    """F_n: 512 -> 128 -> ReLU -> 512."""

    def __init__(self, dim=FEATURE_DIM, hidden=128):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, v):
        return self.fc2(torch.relu(self.fc1(v)))


class KeferNet(nn.Module):
    """x [N, 3, S, S] normalised -> (v = F_e(x), n = F_n(v))."""

    def __init__(self, backbone, input_size=None, seed=None):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone '{backbone}' (expected one of {', '.join(BACKBONES)})")
        self.backbone = backbone
        self.input_size = input_size or DEFAULT_INPUT[backbone]
        if seed is not None and backbone == "swin_t":
            torch.manual_seed(seed)  # torchvision's initialisation, from this seed
        self.encoder = {"resnet18": resnet18_encoder, "compact": Compact, "swin_t": swin_t_encoder}[backbone]()
        self.MLP = Transform()

    def forward(self, x):
        v = self.encoder(x)
        return v, self.MLP(v)


def _conv_names(backbone):
    """(name, k, cin, cout) of every conv in the order encoders.ts creates (and draws) them."""
    convs = []
    if backbone == "resnet18":
        convs.append(("conv1", 7, 3, 64))
        widths, blocks, strides, cin = [64, 128, 256, 512], [2, 2, 2, 2], [1, 2, 2, 2], 64
    else:
        convs.append(("conv1", 3, 3, 32))
        widths, blocks, strides, cin = [64, 128, 256], [1, 1, 1], [2, 2, 2], 32
    for s, w in enumerate(widths):
        for i in range(blocks[s]):
            stride = strides[s] if i == 0 else 1
            name = f"layer{s + 1}.{i}"
            convs += [(f"{name}.conv1", 3, cin, w), (f"{name}.conv2", 3, w, w)]
            if stride != 1 or cin != w:
                convs.append((f"{name}.downsample.0", 1, cin, w))
            cin = w
    if backbone == "compact":
        convs.append(("head.conv", 1, 256, 512))
    return convs


@torch.no_grad()
def engine_init(model, seed):
    """The engine's initial weights for `seed` (encoders.ts addConv / layers.ts addLinear, rng.ts): the
    ResNet convolutions and F_n; a swin_t encoder keeps the initialisation KeferNet(seed=) drew."""
    if model.backbone in ("resnet18", "compact"):
        rng = Rng(seed)
        enc = dict(model.encoder.named_parameters())
        for name, k, cin, cout in _conv_names(model.backbone):
            std = math.sqrt(2 / (cout * k * k))
            w = (rng.normal_array(k * k * cin * cout) * std).astype(np.float32).reshape(k, k, cin, cout)
            enc[f"{name}.weight"].copy_(torch.from_numpy(w.transpose(3, 2, 0, 1).copy()))
        for mod in model.encoder.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.reset_parameters()
    # swin_t keeps torchvision's initialisation, drawn when KeferNet(seed=...) built it
    rng = Rng((seed ^ 0x5F3759DF) & 0xFFFFFFFF)
    for lin, cin, cout in ((model.MLP.fc1, 512, 128), (model.MLP.fc2, 128, 512)):
        bound = 1 / math.sqrt(cin)
        w = rng.uniform_array(-bound, bound, cin * cout).astype(np.float32).reshape(cin, cout)
        b = rng.uniform_array(-bound, bound, cout).astype(np.float32)
        lin.weight.copy_(torch.from_numpy(w.T.copy()))
        lin.bias.copy_(torch.from_numpy(b))
    return model
