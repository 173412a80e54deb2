"""Class text embeddings t_k, as the engine resolved them: the engine's JSON format
(src/engine/text/fileSource.ts writeTextEmbeddingsJson: classes, prompts, source, embeddings rows)."""
import json

import torch

ALIASES = {"happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise", "fearful": "fear",
           "disgusted": "disgust", "contemptuous": "contempt"}


class TextError(ValueError):
    pass


def load_text(path, classes):
    """-> dict(matrix [K, D] float32 in `classes` order, prompts, source)."""
    try:
        with open(path) as f:
            body = json.load(f)
    except (OSError, ValueError) as e:
        raise TextError(f"{path}: cannot read text embeddings ({e})")
    rows = body.get("embeddings")
    names = body.get("classes")
    if not isinstance(rows, list) or not isinstance(names, list) or len(rows) != len(names):
        raise TextError(f"{path}: expected the engine's text-embeddings JSON (classes, embeddings rows)")
    index = {ALIASES.get(n.strip().lower(), n.strip().lower()): i for i, n in enumerate(names)}
    picked = []
    for c in classes:
        if c not in index:
            raise TextError(f"{path}: no embedding for class \"{c}\" (file has: {', '.join(names)})")
        picked.append(rows[index[c]])
    prompts = body.get("prompts") or [""] * len(names)
    source = body.get("source") or {"kind": "file", "model": "unknown", "description": f"text embeddings from {path}"}
    return {"matrix": torch.tensor(picked, dtype=torch.float32), "prompts": [prompts[index[c]] for c in classes], "source": source}
