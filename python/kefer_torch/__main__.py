"""`python -m kefer_torch <command>`:
  train           KE-FER training (under torchrun for DDP); see train.py
  predict         per-sample logits of a checkpoint on a list spec (JSON lines)
  export-onnx     DIR/model.onnx from a checkpoint directory (what the studio evaluates Swin-T runs with)
  import-ke2nt    a released KE-FER code checkpoint (.pth) -> a studio checkpoint directory
  probe           one JSON line: torch / torchvision versions, devices (what `kefer train --engine torch` checks)
"""
import argparse
import json
import sys


def _predict(argv):
    import torch

    from .checkpoint import load_checkpoint_dir, read_config
    from .data import EvalImages, ListDataset
    from .losses import l2normalize
    from .models import KeferNet

    p = argparse.ArgumentParser(prog="python -m kefer_torch predict")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--embeddings", action="store_true", help="also write v and n")
    a = p.parse_args(argv)
    cfg = read_config(a.checkpoint)
    model = KeferNet(cfg["backbone"], cfg["inputSize"])
    _, te = load_checkpoint_dir(a.checkpoint, model)
    model.eval()
    ds = ListDataset(a.data)
    text_norm = l2normalize(te)
    loader = torch.utils.data.DataLoader(EvalImages(ds, cfg["inputSize"], cfg["mean"], cfg["std"]), batch_size=a.batch)
    i = 0
    with open(a.out, "w") as f, torch.no_grad():
        for x, y in loader:
            v, n = model(x)
            logits = l2normalize(v) @ text_norm.t() * cfg["logitScale"]
            for r in range(len(y)):
                row = {"path": ds.paths[i], "label": int(y[r]), "pred": int(logits[r].argmax()), "logits": logits[r].tolist()}
                if a.embeddings:
                    row.update(v=v[r].tolist(), n=n[r].tolist())
                f.write(json.dumps(row) + "\n")
                i += 1
    return 0


def _export(argv):
    from .onnx_export import export_checkpoint

    p = argparse.ArgumentParser(prog="python -m kefer_torch export-onnx")
    p.add_argument("checkpoint")
    p.add_argument("--out")
    a = p.parse_args(argv)
    print(export_checkpoint(a.checkpoint, a.out))
    return 0


def _import(argv):
    from .data import CANONICAL_CLASSES
    from .ke2nt import convert
    from .text import load_text

    p = argparse.ArgumentParser(prog="python -m kefer_torch import-ke2nt")
    p.add_argument("file")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--text", required=True, help="text embeddings JSON (the engine's format)")
    p.add_argument("--classes", type=int, choices=[7, 8], default=7)
    p.add_argument("--input-size", type=int, default=112, help="the released code's is 112")
    a = p.parse_args(argv)
    classes = CANONICAL_CLASSES[:a.classes]
    convert(a.file, a.out, load_text(a.text, classes), classes, log=lambda m: print(m, file=sys.stderr), input_size=a.input_size)
    return 0


def _probe(_argv):
    import torch
    import torchvision

    from .safetensors_io import _st

    print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__, "cuda": torch.cuda.is_available(),
                      "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                      "safetensors": _st is not None, "python": sys.version.split()[0], "executable": sys.executable}))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    from .checkpoint import CheckpointError
    from .data import DataError
    from .text import TextError

    try:
        if cmd == "train":
            from torch.distributed.elastic.multiprocessing.errors import record

            from .train import run

            return record(run)(rest)
        handler = {"predict": _predict, "export-onnx": _export, "import-ke2nt": _import, "probe": _probe}.get(cmd)
        if handler is None:
            print(f"kefer_torch: unknown command '{cmd}'", file=sys.stderr)
            return 2
        return handler(rest)
    except (DataError, CheckpointError, TextError) as e:
        print(f"kefer_torch: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
