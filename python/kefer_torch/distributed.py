"""Process-group helpers for torchrun / DDP, and a SyncBatchNorm that runs on CPUs (gloo).

torch's SyncBatchNorm (1.13) refuses CPU tensors, so on CPU `CpuSyncBatchNorm` does the same job with
two collectives per layer on its own process group: forward all-gathers each rank's (mean, M2, count) and
combines them (Chan et al.), backward all-reduces sum(dy) and sum(dy * xhat). State-dict names are
BatchNorm's. On CUDA torch's own SyncBatchNorm (NCCL) is used.
"""
import os

import torch
import torch.distributed as dist
from torch import nn


class Dist:
    """rank / world / local rank of this process (torchrun's environment), or a single process."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        self.enabled = "RANK" in os.environ and "WORLD_SIZE" in os.environ
        self.bn_group = None

    def init(self, device):
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return self

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def backend(self):
        return dist.get_backend() if self.enabled and dist.is_initialized() else "none"

    def all_max(self, value):
        """The largest of every rank's value (a float)."""
        if not self.enabled:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t.item())

    def all_sum(self, t):
        if self.enabled:
            dist.all_reduce(t)
        return t

    def gather_rows(self, x):
        """Every rank's rows, rank order, concatenated; this rank's rows keep their gradient."""
        if not self.enabled or self.world == 1:
            return x
        parts = [torch.empty_like(x) for _ in range(self.world)]
        dist.all_gather(parts, x.detach().contiguous())
        parts[self.rank] = x
        return torch.cat(parts, 0)

    def barrier(self):
        if self.enabled:
            dist.barrier()

    def close(self):
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def _channel_view(t, ndim):
    return t.view(1, -1, *([1] * (ndim - 2)))


class _SyncBN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum, group, world):
        dims = [0] + list(range(2, x.dim()))
        c = x.shape[1]
        count = x.numel() // c
        mean = x.mean(dims)
        m2 = ((x - _channel_view(mean, x.dim())) ** 2).sum(dims)
        stats = torch.cat([mean, m2, torch.tensor([float(count)], dtype=x.dtype, device=x.device)])
        parts = [torch.empty_like(stats) for _ in range(world)]
        dist.all_gather(parts, stats, group=group)
        g_mean, g_m2, n = parts[0][:c], parts[0][c:2 * c], parts[0][2 * c]
        for p in parts[1:]:  # Chan et al.'s pairwise combination, in rank order
            pm, pm2, pn = p[:c], p[c:2 * c], p[2 * c]
            tot = n + pn
            delta = pm - g_mean
            g_mean = g_mean + delta * (pn / tot)
            g_m2 = g_m2 + pm2 + delta * delta * (n * pn / tot)
            n = tot
        var = g_m2 / n
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(g_mean, alpha=momentum)
            running_var.mul_(1 - momentum).add_(var * (n / torch.clamp(n - 1, min=1)), alpha=momentum)
        invstd = torch.rsqrt(var + eps)
        xhat = (x - _channel_view(g_mean, x.dim())) * _channel_view(invstd, x.dim())
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.group, ctx.n, ctx.dims = group, n, dims
        return xhat * _channel_view(weight, x.dim()) + _channel_view(bias, x.dim())

    @staticmethod
    def backward(ctx, dy):
        xhat, weight, invstd = ctx.saved_tensors
        dims, nd = ctx.dims, dy.dim()
        sum_dy = dy.sum(dims)
        sum_dy_xhat = (dy * xhat).sum(dims)
        both = torch.cat([sum_dy, sum_dy_xhat])
        dist.all_reduce(both, group=ctx.group)
        c = sum_dy.numel()
        g_dy, g_dy_xhat = both[:c] / ctx.n, both[c:] / ctx.n
        dx = _channel_view(weight * invstd, nd) * (dy - _channel_view(g_dy, nd) - xhat * _channel_view(g_dy_xhat, nd))
        return dx, sum_dy_xhat, sum_dy, None, None, None, None, None, None


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of all ranks (gloo); plain BatchNorm outside training or alone."""

    group = None
    world = 1

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {x.dim()}-D)")

    def forward(self, x):
        if not self.training or self.world == 1:
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        return _SyncBN.apply(x, self.weight, self.bias, self.running_mean, self.running_var, self.eps, self.momentum, self.group, self.world)


def convert_sync_batchnorm(module, device, world):
    """Every BatchNorm1d/2d -> a synchronised one (torch's on CUDA, CpuSyncBatchNorm on CPU)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    group = dist.new_group(backend="gloo")
    return _convert(module, group, world)


def _convert(module, group, world):
    out = module
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        out = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        out.group, out.world = group, world
        with torch.no_grad():
            if module.affine:
                out.weight.copy_(module.weight)
                out.bias.copy_(module.bias)
            out.running_mean.copy_(module.running_mean)
            out.running_var.copy_(module.running_var)
            out.num_batches_tracked.copy_(module.num_batches_tracked)
    for name, child in module.named_children():
        out.add_module(name, _convert(child, group, world))
    return out
