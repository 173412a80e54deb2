"""The released KE-FER code's checkpoints (hangyu94/KE2NT) -> a studio checkpoint directory.

The released training script saves `{"state_dict": model.state_dict(), "epoch", "optimizer", "scheduler",
"val_result"}` (image_encoder/model-best.pth.tar) for its SwinT_clip model: `encoder.*` is a Microsoft
Swin-T (models/swin.py: 2x2 patches at 112 px, window 7, a Linear-BN-Linear-BN 512-d feature head) and
`MLP.fc1|fc2` is F_n. The text features are not in the file: the released code computes them from CLIP
ViT-B/16 with the prompts the engine uses ("a photo of a person making a {name} facial expression."), so
the studio's `--text` source (clip) gives the same vectors; logit scale 100 (CLIP's exp(logit_scale)).

Name map (released -> torchvision's SwinTransformer as models.py builds it):
  patch_embed.proj.*                  features.0.0.*
  patch_embed.norm.*                  features.0.2.*
  layers.I.blocks.J.norm1|norm2.*     features.(2I+1).J.norm1|norm2.*
  layers.I.blocks.J.attn.qkv|proj.*   features.(2I+1).J.attn.qkv|proj.*
  layers.I.blocks.J.attn.relative_position_bias_table   same place
  layers.I.blocks.J.mlp.fc1|fc2.*     features.(2I+1).J.mlp.0|3.*
  layers.I.downsample.reduction|norm.*  features.(2I+2).reduction|norm.*
  norm.*                              norm.*
  feature.0..3.*                      head.0..3.*
relative_position_index and attn_mask are buffers both implementations compute from the window size
(they are checked against ours, then dropped).
"""
import os
import re
import sys
import types

import torch

from .checkpoint import CheckpointError

_BLOCK = re.compile(r"^layers\.(\d+)\.blocks\.(\d+)\.(.+)$")
_DOWN = re.compile(r"^layers\.(\d+)\.downsample\.(.+)$")
_MLP = {"mlp.fc1": "mlp.0", "mlp.fc2": "mlp.3"}


class _Stub:
    """Stands in for classes a checkpoint pickles that are not importable here (the released code's lr
    scheduler): the tensors are what the converter needs."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__["_state"] = state


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        cls = type(name, (_Stub,), {"__module__": self.__name__})
        setattr(self, name, cls)
        return cls


def _torch_load(path):
    """torch.load, with stub modules for the ones the pickle names and this Python lacks (torch 1.13
    ignores a custom pickle_module unless weights_only, and weights_only refuses such objects)."""
    added = []
    try:
        for _ in range(16):
            try:
                return torch.load(path, map_location="cpu")
            except ModuleNotFoundError as e:
                if not e.name or e.name in added:
                    raise
                parts = e.name.split(".")
                for i in range(1, len(parts) + 1):
                    name = ".".join(parts[:i])
                    if name not in sys.modules:
                        sys.modules[name] = _StubModule(name)
                        added.append(name)
        return torch.load(path, map_location="cpu")
    finally:
        for name in added:
            sys.modules.pop(name, None)


def read_state_dict(path):
    """name -> tensor from .safetensors, or from a torch.save file (a bare state dict, or a dict holding
    one under state_dict / model / model_state_dict); DataParallel's `module.` prefix removed."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: not found")
    if path.endswith(".safetensors"):
        from .safetensors_io import read_safetensors

        sd, _ = read_safetensors(path)
    else:
        try:
            # Unpickling runs code from the file: convert only checkpoints you trust.
            obj = _torch_load(path)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: not found")
        except Exception as e:  # a corrupt or foreign file: say which
            raise CheckpointError(f"{path}: not a PyTorch checkpoint ({type(e).__name__}: {e})")
        sd = obj
        if isinstance(obj, dict):
            for key in ("state_dict", "model", "model_state_dict"):
                if isinstance(obj.get(key), dict):
                    sd = obj[key]
                    break
        if not isinstance(sd, dict) or not sd or not all(torch.is_tensor(v) for v in sd.values()):
            raise CheckpointError(f"{path}: holds no state dict (looked for a dict of tensors, or one under 'state_dict', 'model', 'model_state_dict')")
    out = {}
    for k, v in sd.items():
        bare = k
        while bare.startswith("module."):
            bare = bare[len("module."):]
        out[bare] = v
    return out


def is_released_swin(tensors):
    return any(k.startswith("patch_embed.") or _BLOCK.match(k) for k in tensors)


def map_released_swin(tensors, where):
    """Released backbone names (no `encoder.` prefix) -> ours; returns (tensors, notes)."""
    out, dropped = {}, []
    for k, v in tensors.items():
        m = _BLOCK.match(k)
        if k.startswith("patch_embed.proj."):
            out["features.0.0." + k[len("patch_embed.proj."):]] = v
        elif k.startswith("patch_embed.norm."):
            out["features.0.2." + k[len("patch_embed.norm."):]] = v
        elif m:
            stage, block, rest = int(m.group(1)), m.group(2), m.group(3)
            if rest in ("attn.relative_position_index", "attn_mask"):
                dropped.append(k)
                continue
            for old, new in _MLP.items():
                if rest.startswith(old + "."):
                    rest = new + rest[len(old):]
            out[f"features.{2 * stage + 1}.{block}.{rest}"] = v
        elif _DOWN.match(k):
            d = _DOWN.match(k)
            out[f"features.{2 * int(d.group(1)) + 2}.{d.group(2)}"] = v
        elif k.startswith("feature."):
            out["head." + k[len("feature."):]] = v
        else:
            out[k] = v
    notes = [f"mapped the released Swin-T names onto torchvision's ({len(out)} tensors); {len(dropped)} window buffers recomputed"] if out else []
    return out, notes


def convert(path, out_dir, text, classes, log=print, input_size=112):
    """Writes out_dir (model.safetensors, config.json, model.onnx) from a released-code checkpoint."""
    from .checkpoint import load_into, save_checkpoint
    from .data import IMAGENET_MEAN, IMAGENET_STD
    from .models import FEATURE_DIM, KeferNet
    from .onnx_export import export_checkpoint

    sd = read_state_dict(path)
    enc = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    mlp = {k[len("MLP."):]: v for k, v in sd.items() if k.startswith("MLP.")}
    if not enc or not is_released_swin(enc):
        raise CheckpointError(f"{path}: no released Swin-T encoder in it (expected tensors named encoder.patch_embed.*, encoder.layers.*; found e.g. {', '.join(list(sd)[:3])})")
    mapped, notes = map_released_swin(enc, path)
    model = KeferNet("swin_t", input_size)
    # the released code's buffers must agree with ours (same window size), else the model differs
    ours = model.encoder.state_dict()
    for k, v in enc.items():
        m = _BLOCK.match(k)
        if m and m.group(3) == "attn.relative_position_index":
            mine = ours[f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}.attn.relative_position_index"]
            if v.numel() != mine.numel() or not torch.equal(v.reshape(-1).to(mine.dtype), mine):
                raise CheckpointError(f"{path}: tensor 'encoder.{k}' does not match a 7x7 window (shape {list(v.shape)})")
    try:
        load_into(model.encoder, mapped, path)
        load_into(model.MLP, mlp, path)
    except CheckpointError as e:
        # name the tensor as the released file has it
        msg = re.sub(r"'((features|head|norm)\.[\w.]+)'", lambda m: f"'encoder.{released_name(m.group(1))}' (ours: encoder.{m.group(1)})", str(e))
        msg = re.sub(r"'(fc[12]\.\w+)'", r"'MLP.\1'", msg)
        raise CheckpointError(msg)
    extra = [k for k in sd if not k.startswith(("encoder.", "MLP."))]
    if extra:
        log(f"warning: {path}: {len(extra)} tensor(s) outside encoder.* / MLP.* ignored, e.g. '{extra[0]}'")
    for n in notes:
        log(f"{path}: {n}")
    neutral = classes.index("neutral")
    config = {"format": "kefer-checkpoint", "version": 1, "backbone": "swin_t", "classes": classes, "neutralIndex": neutral, "inputSize": input_size,
              "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "logitScale": 100.0, "prompts": text["prompts"], "textSource": text["source"],
              "featureDim": FEATURE_DIM, "training": {"importedFrom": "ke2nt", "file": path}}
    save_checkpoint(out_dir, {**{f"encoder.{k}": v for k, v in model.encoder.state_dict().items()}, **{f"MLP.{k}": v for k, v in model.MLP.state_dict().items()}},
                    text["matrix"], config)
    onnx = export_checkpoint(out_dir)
    log(f"wrote {out_dir} (model.safetensors, config.json) and {onnx}")
    return out_dir


def released_name(ours):
    """Our encoder tensor name -> the released code's (the inverse of map_released_swin)."""
    m = re.match(r"^features\.(\d+)\.(.+)$", ours)
    if m:
        i, rest = int(m.group(1)), m.group(2)
        if i == 0:
            return {"0": "patch_embed.proj", "2": "patch_embed.norm"}[rest.split(".")[0]] + rest[1:]
        if i % 2 == 1:
            block, _, tail = rest.partition(".")
            for released, mine in _MLP.items():
                if tail.startswith(mine + "."):
                    tail = released + tail[len(mine):]
            return f"layers.{(i - 1) // 2}.blocks.{block}.{tail}"
        return f"layers.{(i - 2) // 2}.downsample.{rest}"
    if ours.startswith("head."):
        return "feature." + ours[len("head."):]
    return ours
