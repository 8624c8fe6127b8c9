"""Data-parallel training over several processes (``training.gpus: N``).

``debiasqe train`` with ``gpus > 1`` re-executes itself under ``torchrun``
(:func:`torchrun_argv`); each of the N processes builds the same Trainer,
draws ``batch / N`` of every step's ``batch`` samples (the same crops as a
single process would, see ``StepBatchSampler``), and averages the gradients
of G and D over the processes before each optimiser step. Every loss of the
recipes is a mean over the batch, so N processes with ``batch / N`` each take
the steps one process takes with ``batch``: the relativistic GAN's batch mean
of the logits is taken over all processes (:func:`global_mean`) and batch
norm layers use the statistics of the whole batch (:func:`sync_batch_norm`:
``torch.nn.SyncBatchNorm`` on CUDA, :class:`GlooBatchNorm` on CPU, where
PyTorch's has no kernel). The backend is NCCL on CUDA and gloo on CPU (the
tests). Process 0 writes the checkpoints, the log and the model.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..core.errors import ConfigError

#: environment variable torchrun sets in every process it starts.
RANK_ENV = "LOCAL_RANK"


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def world_from_env(env=None) -> World:
    """This process's place among torchrun's (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``); one process without them."""
    env = os.environ if env is None else env
    size = int(env.get("WORLD_SIZE", "1"))
    return World(int(env.get("RANK", "0")), size, int(env.get("LOCAL_RANK", "0")))


def init(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU); returns this process's device."""
    if not world.active:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.get_world_size() != world.size:  # pragma: no cover - a foreign process group
        raise ConfigError(f"process group has {dist.get_world_size()} processes, WORLD_SIZE says {world.size}")
    return device


def shard_batch(batch: int, world: World) -> tuple[int, int]:
    """(first slot, slots) of this process in a step's global ``batch``."""
    if batch % world.size:
        raise ConfigError(f"training.gpus: batch {batch} is not divisible by {world.size} processes")
    n = batch // world.size
    return world.rank * n, n


def torchrun_argv(gpus: int, argv: list[str]) -> list[str]:
    """The command that runs ``python -m debiasqe ARGV`` as ``gpus`` processes on this node."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={gpus}",
            "-m", "debiasqe", *argv]


class _AllReduceSum(torch.autograd.Function):
    """Sum over the processes; the gradient of each input is the sum of the
    processes' output gradients (every process's loss depends on every input)."""

    @staticmethod
    def forward(ctx, x):
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        g = grad.clone()
        dist.all_reduce(g)
        return g


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Differentiable sum of ``x`` over the processes (``x`` itself outside a process group)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return x
    return _AllReduceSum.apply(x)


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over the whole batch of all processes (equal local batches); differentiable."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return x.mean()
    return all_reduce_sum(x.sum()) / (x.numel() * dist.get_world_size())


def average_gradients(params: list[nn.Parameter], world: World) -> None:
    """Replace each gradient by its mean over the processes (one collective per call)."""
    if not world.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    torch._foreach_copy_(grads, [v.view_as(g) for v, g in zip(flat.split([g.numel() for g in grads]), grads)])


def broadcast_state(module: nn.Module, world: World) -> None:
    """Process 0's parameters and buffers on every process (identical start)."""
    if world.active:
        for t in module.state_dict().values():
            dist.broadcast(t, 0)


def any_process(flag: bool, world: World, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on one (one collective; for rare decision points)."""
    if not world.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def mean_over_processes(x: torch.Tensor, world: World) -> torch.Tensor:
    if not world.active:
        return x
    y = x.clone()
    dist.all_reduce(y)
    return y / world.size


class GlooBatchNorm(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics are those of the whole batch
    of all processes (what ``torch.nn.SyncBatchNorm`` does on CUDA), for CPU /
    gloo process groups. Same parameters, buffers and state-dict keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, 2, 3)
        n = float(x.numel() // x.shape[1] * dist.get_world_size())  # equal local batches
        xf = x.float()
        stats = all_reduce_sum(torch.cat([xf.sum(dims), (xf * xf).sum(dims)]))
        mean, sq = stats.split(x.shape[1])
        mean = mean / n
        var = sq / n - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)) * m)
        shape = (1, -1, 1, 1)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every BatchNorm2d computing whole-batch statistics across the processes."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_gloo_bn(module)


def _to_gloo_bn(module: nn.Module) -> nn.Module:
    if type(module) is nn.BatchNorm2d:
        bn = GlooBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                           module.track_running_stats).to(next(iter(module.state_dict().values())).device)
        bn.load_state_dict(module.state_dict())
        bn.train(module.training)
        return bn
    for name, child in module.named_children():
        new = _to_gloo_bn(child)
        if new is not child:
            setattr(module, name, new)
    return module


def has_batch_norm(module: nn.Module | None) -> bool:
    return module is not None and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())

