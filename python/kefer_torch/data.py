"""Datasets for the trainer: KE-FER list files, images decoded and resized as the engine does them.

Specs: `list:FILE[#split][?root=DIR&classes=7|8]`, the format `kefer labels export --format list` writes
and the engine hands over (`kefer train --engine torch` writes the resolved sample lists, relabel overlay
applied, into the run directory): one "relative/path label" a line, labels 0-based in the canonical order,
images under root (default: the list file's folder).

Decoding (src/engine/data/decode.ts): RGB bytes, grey repeated, alpha dropped. An image enlarged to the
input size (FER2013/FERPlus 48 px, RAF-DB aligned 100 px -> 112) or already at it is resized by
`resize_like_vips`, libvips' bilinear rule that sharp uses, written out as pngFastPath.ts does: the
pixels equal the engine's. Larger images are reduced by Pillow's bilinear filter (the engine: libvips'
reduce), which can differ from the engine's by a grey level here and there.
"""
import math
import os
from urllib.parse import unquote

import numpy as np
import torch
from PIL import Image

from . import augment as aug
from .rng import Rng, derive_seed

CANONICAL_CLASSES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral", "contempt"]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class DataError(ValueError):
    """Bad dataset input; the message names the file and line."""


def parse_spec(spec):
    """`list:FILE[#split][?k=v&...]` -> (path, split, options)."""
    text = spec.strip()
    fmt, sep, rest = text.partition(":")
    if not sep or fmt.lower() != "list":
        raise DataError(f"data spec '{spec}': this trainer reads list:FILE[#split][?root=DIR] specs "
                        "(kefer labels export --format list writes them; kefer train --engine torch converts any spec)")
    options = {}
    if "?" in rest:
        rest, q = rest.split("?", 1)
        for part in filter(None, q.split("&")):
            k, _, v = part.partition("=")
            options[unquote(k).strip()] = unquote(v).strip() if _ else "true"
    split = None
    if "#" in rest:
        rest, split = rest.rsplit("#", 1)
        split = split.strip() or None
    if not rest.strip():
        raise DataError(f"data spec '{spec}' has no path")
    return rest.strip(), split, options


class ListDataset:
    """Samples of one list file: paths (absolute), labels, class names."""

    def __init__(self, spec):
        path, split, options = parse_spec(spec)
        self.spec = spec
        self.file = os.path.abspath(path)
        self.root = os.path.abspath(options.get("root", os.path.dirname(self.file)))
        self.split = split
        if not os.path.isfile(self.file):
            raise DataError(f"{self.file}: list file not found")
        self.paths, self.labels = [], []
        with open(self.file, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                t = line.strip()
                if not t or t.startswith("#"):
                    continue
                parts = t.rsplit(None, 1)
                if len(parts) != 2 or not parts[1].isdigit():
                    raise DataError(f"{self.file}:{n}: expected \"relative_path label\", got '{t}'")
                label = int(parts[1])
                if label >= len(CANONICAL_CLASSES):
                    raise DataError(f"{self.file}:{n}: label '{parts[1]}' is not a canonical code (0..7)")
                self.paths.append(os.path.join(self.root, parts[0].replace("\\", "/")))
                self.labels.append(label)
        k = int(options.get("classes", 8 if 7 in self.labels else 7))
        if k not in (7, 8):
            raise DataError(f"data spec '{spec}': classes={k}: expected 7 or 8")
        if max(self.labels, default=0) >= k:
            raise DataError(f"data spec '{spec}': a label {max(self.labels)} does not fit classes={k}")
        self.classes = CANONICAL_CLASSES[:k]

    def __len__(self):
        return len(self.labels)

    def subset(self, keep):
        out = object.__new__(ListDataset)
        out.__dict__.update(self.__dict__)
        out.paths = [self.paths[i] for i in keep]
        out.labels = [self.labels[i] for i in keep]
        return out


def hold_out(ds, fraction, seed):
    """validation.ts holdOut: a seeded stratified share of each class becomes the validation set."""
    by_class = {}
    for i, y in enumerate(ds.labels):
        by_class.setdefault(y, []).append(i)
    rng = Rng((seed ^ 0x1234567) & 0xFFFFFFFF)
    val = set()
    for y in sorted(by_class, key=lambda c: min(by_class[c])):  # Map insertion order: first appearance
        idx = rng.shuffle(by_class[y])
        val.update(idx[:aug.js_round(len(idx) * fraction)])
    train = [i for i in range(len(ds)) if i not in val]
    return ds.subset(train), ds.subset(sorted(val))


# --- decoding -------------------------------------------------------------------------------------------

def _axis(n_in, n_out):
    inverse = 1 / (1 / (n_in / n_out))
    x = np.arange(n_out, dtype=np.float64) * inverse - 0.5
    i = np.floor(x)
    frac = (x - i).astype(np.float32)
    i = i.astype(np.int64)
    return np.clip(i, 0, n_in - 1), np.clip(i + 1, 0, n_in - 1), frac


def resize_like_vips(px, size):
    """uint8 [h, w, c] (c = 1 or 3) enlarged (or kept) to [size, size, 3] as libvips' bilinear affine does."""
    h, w, c = px.shape
    if c == 1:
        px = np.repeat(px, 3, axis=2)
    if h == size and w == size:
        return np.ascontiguousarray(px)
    xl, xh, fx = _axis(w, size)
    yl, yh, fy = _axis(h, size)
    fy = fy[:, None]
    fx = fx[None, :]
    one = np.float32(1)
    yd = one - fy
    c4 = fy * fx
    s2 = np.trunc(4096 * (yd * fx).astype(np.float64)).astype(np.int64)
    s3 = np.trunc(4096 * (fy - c4).astype(np.float64)).astype(np.int64)
    s4 = np.trunc(4096 * c4.astype(np.float64)).astype(np.int64)
    s1 = 4096 - s2 - s3 - s4
    p = px.astype(np.int64)
    v = (s1[..., None] * p[yl][:, xl] + s2[..., None] * p[yl][:, xh] + s3[..., None] * p[yh][:, xl]
         + s4[..., None] * p[yh][:, xh] + 2048) >> 12
    return v.astype(np.uint8)


def decode_image(path, size):
    """An image file -> uint8 [size, size, 3], as the engine decodes it."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("L", "RGB"):
                px = np.asarray(im)
            elif im.mode in ("LA", "I;16", "I"):
                px = np.asarray(im.convert("L"))
            else:
                px = np.asarray(im.convert("RGB"))
            w, h = im.size
            if (w == size and h == size) or (w < size and h < size):
                return resize_like_vips(px.reshape(h, w, -1), size)
            src = im if im.mode in ("L", "RGB") else im.convert("RGB")
            out = np.asarray(src.resize((size, size), Image.BILINEAR))
            return resize_like_vips(out.reshape(size, size, -1), size)
    except OSError as e:
        raise DataError(f"{path}: cannot decode image ({e})")


# --- epoch order and the torch Dataset --------------------------------------------------------------------

def balanced_order(labels, k, n, rng):
    """balance.ts balancedOrder: n draws, a class uniformly among those present, then one of its samples."""
    by_class = [[] for _ in range(k)]
    for i, y in enumerate(labels):
        by_class[y].append(i)
    present = [c for c in by_class if c]
    out = []
    for _ in range(n):
        members = present[rng.int(len(present))]
        out.append(members[rng.int(len(members))])
    return out


def epoch_order(n, seed, epoch, labels=None, k=None, balance="none"):
    """The engine's sample order for an epoch (trainer.ts): the same Rng(deriveSeed(seed, epoch)) stream."""
    rng = Rng(derive_seed(seed, epoch))
    if balance == "sampler":
        return balanced_order(labels, k, n, rng)
    return rng.shuffle(list(range(n)))


class EngineOrderSampler(torch.utils.data.distributed.DistributedSampler):
    """A DistributedSampler whose global order is the engine's: global batch s of an epoch is
    order[s*B:(s+1)*B] (B = the global batch), as in a one-process engine run; rank r takes the r-th
    contiguous B/world slice of it. Yields (sample, epoch, step, position in the global batch), which the
    dataset needs for the engine's augmentation stream. `set_epoch(e, first_step)` skips steps on resume."""

    def __init__(self, labels, k, global_batch, steps, seed, balance, num_replicas, rank):
        super().__init__(range(len(labels)), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        if global_batch % num_replicas:
            raise ValueError(f"the batch ({global_batch}) must split evenly over {num_replicas} processes")
        self.labels, self.k, self.global_batch, self.steps, self.balance = labels, k, global_batch, steps, balance
        self.local = global_batch // num_replicas
        self.first_step = 0

    def set_epoch(self, epoch, first_step=0):
        super().set_epoch(epoch)
        self.first_step = first_step

    def __iter__(self):
        order = epoch_order(len(self.labels), self.seed, self.epoch, self.labels, self.k, self.balance)
        B, b, r = self.global_batch, self.local, self.rank
        for s in range(self.first_step, self.steps):
            for j in range(r * b, (r + 1) * b):
                yield (order[s * B + j], self.epoch, s, j)

    def __len__(self):
        return (self.steps - self.first_step) * self.local


class TrainImages(torch.utils.data.Dataset):
    """Decoded, augmented training images: item (sample, epoch, step, position) -> (CHW float32, label)."""

    def __init__(self, ds, size, seed, mode, global_batch, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.ds, self.size, self.seed, self.mode, self.global_batch = ds, size, seed, mode, global_batch
        self.mean, self.std = mean, std
        self._params = {}

    def __len__(self):
        return len(self.ds)

    def params(self, epoch, step, pos):
        key = (epoch, step)
        if key not in self._params:
            if len(self._params) > 64:
                self._params.clear()
            self._params[key] = aug.batch_params(derive_seed(self.seed, epoch, step, 1), self.size, self.mode, self.global_batch)
        return self._params[key][pos]

    def __getitem__(self, item):
        i, epoch, step, pos = item
        img = decode_image(self.ds.paths[i], self.size)
        x = aug.apply(img, self.params(epoch, step, pos), self.mean, self.std)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), self.ds.labels[i]


class EvalImages(torch.utils.data.Dataset):
    """Decoded, normalised images (no augmentation): index -> (CHW float32, label)."""

    def __init__(self, ds, size, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.ds, self.size, self.mean, self.std = ds, size, mean, std

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        x = aug.normalise(decode_image(self.ds.paths[i], self.size), self.mean, self.std)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), self.ds.labels[i]
