"""The engine's seeded PRNG (src/engine/util/rng.ts: mulberry32) and deriveSeed, bit for bit.

With them this trainer draws the same initial weights, the same epoch order and the same augmentation
parameters as the engine from the same seed. mulberry32 is counter-based (the i-th state is
seed + i * 0x6d2b79f5), so long streams (weight init) are computed with numpy in one go.
"""
import math

import numpy as np

M32 = 0xFFFFFFFF
GOLDEN = 0x6D2B79F5


def _imul(a, b):
    return (a * b) & M32


def _mix(t):
    t = _imul(t ^ (t >> 15), t | 1)
    t ^= (t + _imul(t ^ (t >> 7), t | 61)) & M32
    return (t ^ (t >> 14)) & M32


class Rng:
    """mulberry32, as rng.ts's Rng: next() in [0, 1), int, uniform, normal (Box-Muller), shuffle."""

    def __init__(self, seed):
        self.state = seed & M32

    def next(self):
        self.state = (self.state + GOLDEN) & M32
        return _mix(self.state) / 4294967296.0

    def int(self, n):
        return int(math.floor(self.next() * n))

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.next()

    def normal(self, mean=0.0, sd=1.0):
        u = 1 - self.next()
        v = self.next()
        return mean + sd * math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.int(i + 1)
            items[i], items[j] = items[j], items[i]
        return items

    # Vectorised streams (same values as calling next() count times).
    def next_array(self, count):
        i = np.arange(1, count + 1, dtype=np.uint64)
        states = ((np.uint64(self.state) + i * np.uint64(GOLDEN)) & np.uint64(M32)).astype(np.uint32)
        self.state = int((self.state + count * GOLDEN) & M32)
        with np.errstate(over="ignore"):
            t = states
            t = (t ^ (t >> np.uint32(15))) * (t | np.uint32(1))
            t = t ^ (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61)))
            t = t ^ (t >> np.uint32(14))
        return t.astype(np.float64) / 4294967296.0

    def normal_array(self, count):
        d = self.next_array(2 * count)
        u = 1 - d[0::2]
        v = d[1::2]
        return np.sqrt(-2 * np.log(u)) * np.cos(2 * np.pi * v)

    def uniform_array(self, lo, hi, count):
        return lo + (hi - lo) * self.next_array(count)


def derive_seed(base, *parts):
    """rng.ts deriveSeed: an independent stream seed from a base seed and integers (epoch, step, ...)."""
    h = (base ^ 0x9E3779B9) & M32
    for p in parts:
        h = _imul(h ^ (p & M32), 0x85EBCA6B)
        h ^= h >> 13
        h = _imul(h, 0xC2B2AE35)
        h ^= h >> 16
    return h
