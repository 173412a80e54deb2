"""Test fixture for `kefer import-checkpoint --from ke2nt`: a checkpoint laid out as the released KE-FER
code saves it, and an independent forward of that architecture.

The released code (hangyu94/KE2NT) could not be run here (it needs timm and CLIP's package), so this file
builds its state dict from the architecture its models/swin.py and models/backbone_raf.py define: names,
shapes and the checkpoint dict {"state_dict", "epoch", "optimizer", "scheduler", "val_result"}, with a
scheduler object of a class that is not importable (as the released lr scheduler is not, here).
`released_forward` computes v = encoder(x) from that state dict in plain torch.nn.functional, following
the released structure (window partition, cyclic shift with its -100 attention mask, patch merging in
x0, x1, x2, x3 order, the Linear-BN-Linear-BN head), independently of torchvision's SwinTransformer.

usage: python ke2nt_fixture.py OUT.pth IMAGES.npy|- V_OUT.npy [--variant FILE drop|reshape NAME]...
"""
import math
import pickle
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

DIM, DEPTHS, HEADS, WINDOW, PATCH = 96, [2, 2, 6, 2], [3, 6, 12, 24], 7, 2


def relative_index(w):
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
    return rel[:, :, 0] * (2 * w - 1) + rel[:, :, 1]


def build_state_dict(seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=0.05: torch.randn(*s, generator=g) * scale
    sd = {}
    e = "encoder."
    sd[e + "patch_embed.proj.weight"] = r(DIM, 3, PATCH, PATCH, scale=0.3)
    sd[e + "patch_embed.proj.bias"] = r(DIM)
    sd[e + "patch_embed.norm.weight"] = 1 + r(DIM)
    sd[e + "patch_embed.norm.bias"] = r(DIM)
    res = 112 // PATCH
    for i, depth in enumerate(DEPTHS):
        d = DIM * 2 ** i
        for j in range(depth):
            b = f"{e}layers.{i}.blocks.{j}."
            sd[b + "norm1.weight"], sd[b + "norm1.bias"] = 1 + r(d), r(d)
            sd[b + "attn.relative_position_bias_table"] = r((2 * WINDOW - 1) ** 2, HEADS[i], scale=0.02)
            sd[b + "attn.relative_position_index"] = relative_index(WINDOW)
            sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"] = r(3 * d, d), r(3 * d)
            sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"] = r(d, d), r(d)
            sd[b + "norm2.weight"], sd[b + "norm2.bias"] = 1 + r(d), r(d)
            sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"] = r(4 * d, d), r(4 * d)
            sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"] = r(d, 4 * d), r(d)
            if j % 2 == 1 and res > WINDOW:
                sd[b + "attn_mask"] = shift_mask(res, WINDOW, WINDOW // 2)
        if i < 3:
            sd[f"{e}layers.{i}.downsample.reduction.weight"] = r(2 * d, 4 * d)
            sd[f"{e}layers.{i}.downsample.norm.weight"], sd[f"{e}layers.{i}.downsample.norm.bias"] = 1 + r(4 * d), r(4 * d)
            res //= 2
    nf = DIM * 8
    sd[e + "norm.weight"], sd[e + "norm.bias"] = 1 + r(nf), r(nf)
    for idx, (cin, cout) in ((0, (nf, nf)), (2, (nf, 512))):
        sd[f"{e}feature.{idx}.weight"] = r(cout, cin)
        bn = f"{e}feature.{idx + 1}."
        sd[bn + "weight"], sd[bn + "bias"] = 1 + r(cout), r(cout)
        sd[bn + "running_mean"], sd[bn + "running_var"] = r(cout), 0.5 + torch.rand(cout, generator=g)
        sd[bn + "num_batches_tracked"] = torch.tensor(1000)
    sd["MLP.fc1.weight"], sd["MLP.fc1.bias"] = r(128, 512), r(128)
    sd["MLP.fc2.weight"], sd["MLP.fc2.bias"] = r(512, 128), r(512)
    return sd


def windows(x, w):
    b, h, wd, c = x.shape
    return x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def unwindows(x, w, h, wd):
    b = x.shape[0] // ((h // w) * (wd // w))
    return x.view(b, h // w, wd // w, w, w, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h, wd, -1)


def shift_mask(res, w, s):
    img = torch.zeros(1, res, res, 1)
    cnt = 0
    for hs in (slice(0, -w), slice(-w, -s), slice(-s, None)):
        for ws in (slice(0, -w), slice(-w, -s), slice(-s, None)):
            img[:, hs, ws, :] = cnt
            cnt += 1
    m = windows(img, w).squeeze(-1)
    m = m[:, None, :] - m[:, :, None]
    return m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)


def block(x, sd, p, res, heads, w, shift):
    b, L, c = x.shape
    short = x
    x = F.layer_norm(x, (c,), sd[p + "norm1.weight"], sd[p + "norm1.bias"]).view(b, res, res, c)
    if shift:
        x = torch.roll(x, (-shift, -shift), (1, 2))
    xw = windows(x, w)
    n = xw.shape[1]
    qkv = F.linear(xw, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).reshape(-1, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
    attn = q @ k.transpose(-2, -1)
    bias = sd[p + "attn.relative_position_bias_table"][relative_index(w).reshape(-1)].view(n, n, -1).permute(2, 0, 1)
    attn = attn + bias[None]
    if shift:
        mask = shift_mask(res, w, shift)
        nw = mask.shape[0]
        attn = (attn.view(-1, nw, heads, n, n) + mask[None, :, None]).view(-1, heads, n, n)
    out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(-1, n, c)
    out = F.linear(out, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
    x = unwindows(out, w, res, res)
    if shift:
        x = torch.roll(x, (shift, shift), (1, 2))
    x = short + x.reshape(b, L, c)
    y = F.layer_norm(x, (c,), sd[p + "norm2.weight"], sd[p + "norm2.bias"])
    y = F.linear(F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])), sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
    return x + y


@torch.no_grad()
def released_forward(sd, x):
    e = lambda k: sd["encoder." + k]
    h = F.conv2d(x, e("patch_embed.proj.weight"), e("patch_embed.proj.bias"), stride=PATCH)
    b, c, res, _ = h.shape
    h = F.layer_norm(h.flatten(2).transpose(1, 2), (c,), e("patch_embed.norm.weight"), e("patch_embed.norm.bias"))
    for i, depth in enumerate(DEPTHS):
        for j in range(depth):
            w, shift = WINDOW, 0 if j % 2 == 0 else WINDOW // 2
            if res <= w:
                w, shift = res, 0
            h = block(h, sd, f"encoder.layers.{i}.blocks.{j}.", res, HEADS[i], w, shift)
        if i < 3:
            c = h.shape[-1]
            g = h.view(b, res, res, c)
            g = torch.cat([g[:, 0::2, 0::2], g[:, 1::2, 0::2], g[:, 0::2, 1::2], g[:, 1::2, 1::2]], -1).view(b, -1, 4 * c)
            p = f"layers.{i}.downsample."
            h = F.linear(F.layer_norm(g, (4 * c,), e(p + "norm.weight"), e(p + "norm.bias")), e(p + "reduction.weight"))
            res //= 2
    h = F.layer_norm(h, (h.shape[-1],), e("norm.weight"), e("norm.bias")).mean(1)
    for idx in (0, 2):
        h = F.linear(h, e(f"feature.{idx}.weight"))
        bn = f"feature.{idx + 1}."
        h = F.batch_norm(h, e(bn + "running_mean"), e(bn + "running_var"), e(bn + "weight"), e(bn + "bias"), False, 0.0, 2e-5)
    return h


def save(path, sd):
    # the released lr scheduler's class, unimportable where the checkpoint is read
    mod = types.ModuleType("utils.lr_scheduler")
    sched_cls = type("ConstantWarmupScheduler", (), {"__module__": "utils.lr_scheduler"})
    mod.ConstantWarmupScheduler = sched_cls
    sys.modules["utils"] = types.ModuleType("utils")
    sys.modules["utils.lr_scheduler"] = mod
    sched = sched_cls()
    sched.last_epoch = 12
    torch.save({"state_dict": sd, "epoch": 12, "optimizer": {"state": {}, "param_groups": []}, "scheduler": sched, "val_result": 91.2}, path)


def main(argv):
    out, images, v_out = argv[:3]
    sd = build_state_dict()
    save(out, sd)
    rest = argv[3:]
    while rest:  # --variant FILE drop|reshape NAME: a damaged copy
        _, file, kind, name = rest[:4]
        rest = rest[4:]
        bad = dict(sd)
        if kind == "drop":
            del bad[name]
        else:
            bad[name] = bad[name][..., :-1].clone()
        save(file, bad)
    if images != "-":
        x = torch.from_numpy(np.load(images)).permute(0, 3, 1, 2).contiguous()
        np.save(v_out, released_forward(sd, x).numpy())


if __name__ == "__main__":
    main(sys.argv[1:])
