"""KE-FER training on PyTorch (torchrun / DDP), the same method as the KE-FER Studio engine.

Checkpoints (model.safetensors with the engine's tensor names + config.json), the JSON event lines and the
run directory layout are the engine's, so `kefer eval`, the store and the extension take these runs as
their own. Entry point: `python -m kefer_torch <command>` (see __main__.py).
"""

__version__ = "0.1.0"
