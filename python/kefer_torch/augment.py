"""The engine's training augmentation (src/engine/train/augment.ts), drawn from the same Rng streams.

The engine draws a batch's augmentation from one Rng(deriveSeed(seed, epoch, step, 1)), sample after
sample. The draws never depend on pixels, so `batch_params` replays them for a whole global batch and a
sample takes the parameters of its position: a sample is augmented exactly as the engine would augment
it, on whichever rank or loader worker it lands.

Modes: standard (released code: random crop after zero padding with p = 0.5, horizontal flip, mean/std
normalisation, random erasing p = 0.5 area 0.02..0.25 aspect 0.3..3.3 value 0), light (no erasing),
affine (the FER+ paper's: rotation, skew, scale, shift, mirrored border, flip), none.
"""
import math

import numpy as np

from .rng import Rng

AUGMENT_MODES = ("standard", "light", "affine", "none")
FERPLUS_AFFINE = dict(max_shift=0.08, max_scale=1.05, max_angle_deg=20, max_skew=0.05)


def js_round(x):
    """Math.round: halves round up."""
    return int(math.floor(x + 0.5))


def _crop_params(rng, size, mode):
    pad = max(1, js_round(4 * size / 112))
    crop = rng.next() < 0.5
    dx = rng.int(2 * pad + 1) - pad if crop else 0
    dy = rng.int(2 * pad + 1) - pad if crop else 0
    flip = rng.next() < 0.5
    erase = None
    if mode == "standard" and rng.next() < 0.5:
        area = size * size
        for _ in range(10):
            target = area * rng.uniform(0.02, 0.25)
            aspect = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
            h = js_round(math.sqrt(target * aspect))
            w = js_round(math.sqrt(target / aspect))
            if h >= size or w >= size or h < 1 or w < 1:
                continue
            top = rng.int(size - h + 1)
            left = rng.int(size - w + 1)
            erase = (top, left, h, w)
            break
    return ("crop", dx, dy, flip, erase)


def _affine_params(rng, size):
    a = FERPLUS_AFFINE
    shift_y = size * a["max_shift"] * rng.uniform(-1, 1)
    shift_x = size * a["max_shift"] * rng.uniform(-1, 1)
    ang = (a["max_angle_deg"] * rng.uniform(-1, 1) * math.pi) / 180
    sk_y = a["max_skew"] * rng.uniform(-1, 1)
    sk_x = a["max_skew"] * rng.uniform(-1, 1)

    def scale():
        s = rng.uniform(1, a["max_scale"])
        return 1 / s if rng.next() < 0.5 else s

    s_y = scale()
    s_x = scale()
    flip = rng.next() < 0.5
    return ("affine", shift_y, shift_x, ang, sk_y, sk_x, s_y, s_x, flip)


def sample_params(rng, size, mode):
    if mode == "none":
        return ("none",)
    if mode == "affine":
        return _affine_params(rng, size)
    return _crop_params(rng, size, mode)


def batch_params(seed, size, mode, count):
    """The parameters of every sample of one batch, in batch order, from the batch's Rng seed."""
    rng = Rng(seed)
    return [sample_params(rng, size, mode) for _ in range(count)]


def normalise(img, mean, std):
    """uint8 [S, S, 3] -> float32 [S, S, 3]: (v / 255 - mean) / std, computed in float64 as the engine does."""
    return ((img.astype(np.float64) / 255.0 - np.asarray(mean)) / np.asarray(std)).astype(np.float32)


def apply(img, params, mean, std):
    """uint8 [S, S, 3] -> normalised, augmented float32 [S, S, 3] (HWC)."""
    kind = params[0]
    if kind == "none":
        return normalise(img, mean, std)
    if kind == "affine":
        return _apply_affine(img, params, mean, std)
    _, dx, dy, flip, erase = params
    size = img.shape[0]
    x = normalise(img, mean, std)
    zero = (-np.asarray(mean, dtype=np.float64) / np.asarray(std)).astype(np.float32)
    out = np.empty_like(x)
    out[:] = zero
    cols = np.arange(size)
    src_x = (size - 1 - cols if flip else cols) + dx
    src_y = np.arange(size) + dy
    okx = (src_x >= 0) & (src_x < size)
    oky = (src_y >= 0) & (src_y < size)
    out[np.ix_(oky, okx)] = x[np.ix_(src_y[oky], src_x[okx])]
    if erase is not None:
        top, left, h, w = erase
        out[top:top + h, left:left + w, :] = 0
    return out


def _mirror(i, n):
    m = np.mod(i, 2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def _apply_affine(img, params, mean, std):
    _, shift_y, shift_x, ang, sk_y, sk_x, s_y, s_x, flip = params
    size = img.shape[0]
    c, s = math.cos(ang), math.sin(ang)
    k00, k01, k10, k11 = 1 + sk_y * sk_x, sk_y, sk_x, 1
    a00, a01 = (c * k00 - s * k10) * s_y, (c * k01 - s * k11) * s_x
    a10, a11 = (s * k00 + c * k10) * s_y, (s * k01 + c * k11) * s_x
    ctr = (size - 1) / 2
    ys = np.arange(size, dtype=np.float64)[:, None]
    xs = np.arange(size, dtype=np.float64)[None, :]
    py = ys - (ctr + shift_y)
    px = ((size - 1 - xs) if flip else xs) - (ctr + shift_x)
    iy = ctr + a00 * py + a01 * px
    ix = ctr + a10 * py + a11 * px
    y0 = np.floor(iy)
    x0 = np.floor(ix)
    fy = (iy - y0)[..., None]
    fx = (ix - x0)[..., None]
    y0 = y0.astype(np.int64)
    x0 = x0.astype(np.int64)
    r0, r1 = _mirror(y0, size), _mirror(y0 + 1, size)
    c0, c1 = _mirror(x0, size), _mirror(x0 + 1, size)
    im = img.astype(np.float64)
    v = (1 - fy) * ((1 - fx) * im[r0, c0] + fx * im[r0, c1]) + fy * ((1 - fx) * im[r1, c0] + fx * im[r1, c1])
    # the engine maps through its float32 normalisation table's end points; the map is linear between them
    lo = ((0 / 255.0 - np.asarray(mean)) / np.asarray(std)).astype(np.float32).astype(np.float64)
    hi = ((255 / 255.0 - np.asarray(mean)) / np.asarray(std)).astype(np.float32).astype(np.float64)
    return (lo + (v / 255.0) * (hi - lo)).astype(np.float32)
