"""Checkpoint directories as the engine writes them (src/engine/train/checkpoint.ts, trainer.ts):

  model.safetensors  encoder.<name> (torch layouts, BN running stats, num_batches_tracked as I64),
                     MLP.fc1|fc2.weight|bias, text_embeddings [K, D]
  config.json        format 'kefer-checkpoint', backbone, classes, neutralIndex, inputSize, mean, std,
                     logitScale, prompts, textSource, featureDim, training (the run's configuration), ...
  optimizer.safetensors + state.json   (checkpoints/last only) momentum buffers and the resume state;
                     buffers in the engine's layouts (conv [kh, kw, in, out], linear [in, out]) so either
                     trainer can read the other's.
Each directory is written to a temporary sibling and renamed over the old one: a process killed while
writing leaves the previous checkpoint intact.
"""
import json
import os
import shutil

import torch

from .safetensors_io import read_safetensors, write_safetensors


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the tensor."""


def clean_state_dict(model):
    """The model's state dict under the engine's names (DDP's `module.` prefix dropped)."""
    sd = model.module.state_dict() if hasattr(model, "module") else model.state_dict()
    return {k: v.detach().to("cpu") for k, v in sd.items()}


def _atomic_dir(target, write):
    tmp = f"{target}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write(tmp)
    old = f"{target}.old-{os.getpid()}"
    if os.path.exists(target):
        os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def model_tensors(state_dict, text_embeddings):
    out = {}
    for k, v in state_dict.items():
        out[k] = v.to(torch.int64) if k.endswith("num_batches_tracked") else v.to(torch.float32)
    out["text_embeddings"] = torch.as_tensor(text_embeddings, dtype=torch.float32)
    return out


def to_engine_layout(t):
    """torch layout -> the engine's tfjs layout, by rank as checkpoint.ts's toTorch/fromTorch decide it."""
    if t.dim() == 4:
        return t.permute(2, 3, 1, 0).contiguous()
    if t.dim() == 2:
        return t.t().contiguous()
    return t


def from_engine_layout(t, like):
    if like.dim() == 4:
        return t.permute(3, 2, 0, 1).contiguous()
    if like.dim() == 2:
        return t.t().contiguous()
    return t.reshape(like.shape)


def save_checkpoint(dir_, state_dict, text_embeddings, config, extra=None):
    """model.safetensors + config.json (+ `extra(tmp_dir)` for optimizer/state files), atomically."""

    def write(tmp):
        write_safetensors(os.path.join(tmp, "model.safetensors"), model_tensors(state_dict, text_embeddings), {"format": "pt", "producer": "kefer-torch"})
        with open(os.path.join(tmp, "config.json"), "w") as f:
            f.write(json.dumps(config, indent=2) + "\n")
        if extra:
            extra(tmp)

    _atomic_dir(dir_, write)


def optimizer_writer(named_params, optimizer, state):
    """A writer of optimizer.safetensors (momentum buffers, engine names and layouts) and state.json."""
    buffers = {}
    for name, p in named_params:
        buf = optimizer.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            buffers[name] = to_engine_layout(buf.detach().to("cpu", torch.float32))

    def write(tmp):
        write_safetensors(os.path.join(tmp, "optimizer.safetensors"), buffers)
        with open(os.path.join(tmp, "state.json"), "w") as f:
            f.write(json.dumps(state, indent=2) + "\n")

    return write


def load_momentum(dir_, named_params, optimizer):
    tensors, _ = read_safetensors(os.path.join(dir_, "optimizer.safetensors"))
    params = dict(named_params)
    for name, t in tensors.items():
        p = params.get(name)
        if p is None:
            raise CheckpointError(f"{dir_}/optimizer.safetensors: momentum for '{name}', which the model does not have")
        buf = from_engine_layout(t, p).to(p.device, p.dtype)
        if buf.shape != p.shape:
            raise CheckpointError(f"{dir_}/optimizer.safetensors: tensor '{name}' has shape {list(t.shape)}, expected the layout of {list(p.shape)}")
        optimizer.state[p]["momentum_buffer"] = buf


def read_config(dir_):
    path = os.path.join(dir_, "config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found (is this a checkpoint directory?)")
    except ValueError:
        raise CheckpointError(f"{path}: not valid JSON")


# Buffers a state dict may leave out: BatchNorm's counters (set to 0, as PyTorch does) and Swin's
# relative position index (computed from the window size; kept).
OPTIONAL_BUFFERS = ("num_batches_tracked", "relative_position_index")


def load_into(model, tensors, where, strict=True):
    """Copies named tensors into the model; a missing or mis-shaped tensor is a CheckpointError naming it.
    Returns (names used, names ignored)."""
    own = model.state_dict()
    missing = [k for k in own if k not in tensors and not k.endswith(OPTIONAL_BUFFERS)]
    if strict and missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointError(f"{where}: missing tensor '{missing[0]}'{more}")
    used = []
    with torch.no_grad():
        for k, dst in own.items():
            t = tensors.get(k)
            if t is None:
                if k.endswith("num_batches_tracked"):
                    dst.zero_()
                continue
            if tuple(t.shape) != tuple(dst.shape):
                raise CheckpointError(f"{where}: tensor '{k}' has shape {list(t.shape)}, expected {list(dst.shape)}")
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise CheckpointError(f"{where}: tensor '{k}' holds a non-finite value")
            dst.copy_(t.to(dst.dtype))
            used.append(k)
    ignored = [k for k in tensors if k not in own]
    return used, ignored


def load_checkpoint_dir(dir_, model):
    """Loads model.safetensors into `model` (strict) and returns (config, text_embeddings)."""
    config = read_config(dir_)
    path = os.path.join(dir_, "model.safetensors")
    tensors, _ = read_safetensors(path)
    tensors = {k[len("module."):] if k.startswith("module.") else k: v for k, v in tensors.items()}
    te = tensors.pop("text_embeddings", None)
    if te is None:
        raise CheckpointError(f"{path}: missing tensor 'text_embeddings'")
    load_into(model, tensors, path)
    return config, te.to(torch.float32)
