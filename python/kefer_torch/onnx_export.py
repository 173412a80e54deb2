"""ONNX export of a KE-FER checkpoint, the graph the studio evaluates with onnxruntime
(src/engine/onnx/export.ts, runtime.ts):
  input   images  float32 [N, S, S, 3]  NHWC, mean/std-normalised
  outputs logits  [N, K] = logitScale * cos(v, t_k);  v [N, 512];  n = F_n(v) [N, 512]
metadata_props: kefer.checkpoint_sha256 (of model.safetensors: the studio re-exports or refuses a stale
file) and kefer.config. torch.onnx writes the model; the metadata is appended as protobuf fields (field 14
of ModelProto), because the `onnx` package is not a dependency.
"""
import hashlib
import json
import os
import warnings

import torch

from .checkpoint import load_checkpoint_dir, read_config
from .losses import l2normalize
from .models import KeferNet

ONNX_FILE = "model.onnx"
META_SHA = "kefer.checkpoint_sha256"
META_CONFIG = "kefer.config"
OPSET = 14


class _Graph(torch.nn.Module):
    def __init__(self, model, text_embeddings, logit_scale):
        super().__init__()
        self.model = model
        self.register_buffer("text_norm_t", l2normalize(text_embeddings.to(torch.float32)).t().contiguous())
        self.logit_scale = float(logit_scale)

    def forward(self, images):
        v, n = self.model(images.permute(0, 3, 1, 2))
        logits = (v / torch.clamp(torch.linalg.norm(v, dim=1, keepdim=True), min=1e-8)) @ self.text_norm_t * self.logit_scale
        return logits, v, n


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, payload):
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def metadata_bytes(props):
    """Serialized ModelProto.metadata_props entries (StringStringEntryProto: key = 1, value = 2)."""
    out = b""
    for k, v in props.items():
        entry = _field(1, k.encode("utf-8")) + _field(2, v.encode("utf-8"))
        out += _field(14, entry)
    return out


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_checkpoint(dir_, out=None, batch=1):
    """Writes DIR/model.onnx (or `out`) from DIR's model.safetensors + config.json; returns the path."""
    config = read_config(dir_)
    model = KeferNet(config["backbone"], config["inputSize"])
    _, te = load_checkpoint_dir(dir_, model)
    model.eval()
    graph = _Graph(model, te, config["logitScale"]).eval()
    s = config["inputSize"]
    out = out or os.path.join(dir_, ONNX_FILE)
    tmp = f"{out}.tmp-{os.getpid()}"
    # torch.onnx warns about shape inference of constants in torchvision's Swin (the graph is still exact: the tests compare it)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, torch.zeros(batch, s, s, 3), tmp, input_names=["images"], output_names=["logits", "v", "n"],
                          dynamic_axes={"images": {0: "N"}, "logits": {0: "N"}, "v": {0: "N"}, "n": {0: "N"}},
                          opset_version=OPSET, do_constant_folding=True)
    sha = file_sha256(os.path.join(dir_, "model.safetensors"))
    with open(tmp, "ab") as f:
        f.write(metadata_bytes({META_SHA: sha, META_CONFIG: json.dumps(config)}))
    os.replace(tmp, out)
    return out
