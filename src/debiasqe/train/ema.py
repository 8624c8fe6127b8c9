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
        for name, p in src.named_parameters():
            ema_params[name].mul_(d).add_(p.detach(), alpha=1.0 - d)
        ema_bufs = dict(self.module.named_buffers())
        for name, b in src.named_buffers():
            ema_bufs[name].copy_(b)

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
