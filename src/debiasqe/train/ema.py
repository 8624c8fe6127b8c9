"""Exponential moving average of the generator's weights (BasicSR ``model_ema``).

``ema = decay * ema + (1 - decay) * param`` for every parameter after each
optimiser step; buffers (e.g. BatchNorm statistics) are copied as they are.
The averaged copy is what ``model.pt`` ships and what evaluation uses.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Holds an averaged copy of ``model`` (eval mode, no gradients)."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.module = copy.deepcopy(_unwrap(model)).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        d = self.decay if decay is None else float(decay)
        src = _unwrap(model)
        ema_params = dict(self.module.named_parameters())
        names = [name for name, _ in src.named_parameters()]
        if names:
            mine = [ema_params[name] for name in names]
            theirs = [p.detach() for p in src.parameters()]
            # two multi-tensor kernels for all parameters (same arithmetic as
            # the per-parameter ``mul_(d).add_(p, alpha=1 - d)``)
            torch._foreach_mul_(mine, d)
            torch._foreach_add_(mine, theirs, alpha=1.0 - d)
        ema_bufs = dict(self.module.named_buffers())
        pairs = [(ema_bufs[name], b) for name, b in src.named_buffers()]
        if pairs:
            torch._foreach_copy_([a for a, _ in pairs], [b for _, b in pairs])

    @torch.no_grad()
    def copy_from(self, model: nn.Module) -> None:
        """Set the average to ``model``'s weights (decay 0)."""
        self.update(model, decay=0.0)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


def _unwrap(model: nn.Module) -> nn.Module:
    """The original module behind ``torch.compile`` / DataParallel wrappers."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model) if isinstance(model, nn.DataParallel) else model
