"""safetensors files: the `safetensors` package when installed, else a small reader/writer of the format.

Why our own: Debian 12 packages no python3-safetensors, and on machines without PyPI (this project's CI
among them) it cannot be installed; the format is simple (8-byte little-endian header length, a JSON header
of name -> dtype / shape / data_offsets, raw little-endian bytes), and the engine reads and writes it the
same way (src/engine/util/safetensors.ts). Names are written sorted, so equal tensors give equal files.
"""
import json
import struct
import sys

import numpy as np
import torch

try:  # pragma: no cover - depends on the machine
    import safetensors.torch as _st
except ImportError:  # pragma: no cover
    _st = None

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


class SafetensorsError(ValueError):
    pass


def read_safetensors(path):
    """name -> CPU tensor, and the __metadata__ dict."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(f"{path}: truncated: no header")
    (n,) = struct.unpack("<Q", data[:8])
    if n <= 0 or 8 + n > len(data):
        raise SafetensorsError(f"{path}: bad header length {n}")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except ValueError:
        raise SafetensorsError(f"{path}: header is not valid JSON")
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, e in header.items():
        dtype = _DTYPES.get(e.get("dtype"))
        if dtype is None:
            raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype {e.get('dtype')}")
        shape = list(e["shape"])
        a, b = e["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if b - a != count * torch.tensor([], dtype=dtype).element_size() or base + b > len(data):
            raise SafetensorsError(f"{path}: tensor {name}: data size does not match shape {shape} ({e['dtype']})")
        raw = bytearray(data[base + a:base + b])
        t = torch.frombuffer(raw, dtype=dtype) if count else torch.empty(0, dtype=dtype)
        if sys.byteorder != "little" and t.element_size() > 1:  # pragma: no cover
            t = t.byteswap()
        out[name] = t.reshape(shape).clone()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes name -> tensor (CPU, contiguous copies are made) with string metadata."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    if _st is not None:
        _st.save_file(tensors, path, metadata=metadata or {})
        return
    header = {"__metadata__": dict(metadata or {})}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _NAMES:
            raise SafetensorsError(f"{path}: tensor {name}: dtype {t.dtype} has no safetensors name")
        raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    js = json.dumps(header, separators=(",", ":"))
    # pad so the data starts 8-byte aligned, as the reference writer does
    js += " " * ((8 - (8 + len(js.encode("utf-8"))) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js.encode("utf-8"))))
        f.write(js.encode("utf-8"))
        for c in chunks:
            f.write(c)
