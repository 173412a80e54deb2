"""What every PyTorch baseline in bench/ shares, so each is PyTorch at its best on the same terms as the
measured side: torchvision's own model definitions, the same thread count, warm-up until the step time is
steady, and the versions and instruction set printed beside the figures.

The instruction set: Debian's torch 1.13 calls the system's oneDNN (libdnnl.so.2, the library the kefer addon
links), which honours DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA; ATen's own kernels honour ATEN_CPU_CAPABILITY.
bench/*.ts set both for an --isa cap, on both sides.
"""
import os
import re
import statistics
import time

import torch
import torch.nn as nn
import torchvision


def setup(threads):
    """Threads as the measured side uses them (Debian's torch defaults to one here); returns the versions."""
    if threads:
        torch.set_num_threads(threads)
    m = re.search(r"MKL-DNN v([0-9.]+)", torch.__config__.show())
    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onednn": m.group(1) if m else "unknown",
        "threads": torch.get_num_threads(),
        "isa_cap": os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "none",
        "aten_capability": os.environ.get("ATEN_CPU_CAPABILITY", "default"),
    }


def resnet18_encoder():
    """torchvision's ResNet-18 without its classifier: the 512-d pooled features, KE-FER's encoder."""
    m = torchvision.models.resnet18()
    m.fc = nn.Identity()
    return m


def warm_until_steady(fn, min_calls=5, max_calls=40, tolerance=0.05, max_seconds=120):
    """Calls fn until the last three calls are within `tolerance` of their median (at least min_calls)."""
    times = []
    t_start = time.perf_counter()
    while len(times) < max_calls:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_calls:
            last = times[-3:]
            med = statistics.median(last)
            if max(abs(t - med) for t in last) <= tolerance * med:
                break
        if time.perf_counter() - t_start > max_seconds:
            break
    return len(times)


def timed(fn, seconds, min_calls=3):
    """Calls fn for `seconds` (at least min_calls): calls, wall seconds, CPU seconds."""
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while n < min_calls or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n, time.perf_counter() - t0, time.process_time() - c0
