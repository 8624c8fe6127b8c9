"""EMA update worked out by hand."""

import pytest
import torch
from torch import nn

from debiasqe.train.ema import EMA


def test_ema_update_by_hand():
    m = nn.Sequential(nn.Linear(1, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        m[0].weight.fill_(1.0)
        m[0].bias.fill_(0.0)
    ema = EMA(m, decay=0.9)
    assert all(not p.requires_grad for p in ema.module.parameters())
    with torch.no_grad():
        m[0].weight.fill_(2.0)
        m[1].running_mean.fill_(5.0)
    ema.update(m)
    assert ema.module[0].weight.item() == pytest.approx(0.9 * 1 + 0.1 * 2)  # 1.1
    assert ema.module[1].running_mean.item() == 5.0  # buffers copied, not averaged
    with torch.no_grad():
        m[0].weight.fill_(3.0)
    ema.update(m)
    assert ema.module[0].weight.item() == pytest.approx(0.9 * 1.1 + 0.1 * 3)  # 1.29
    assert ema.module[0].bias.item() == 0.0
    # the source model is untouched
    assert m[0].weight.item() == 3.0


def test_ema_state_roundtrip_and_copy():
    m = nn.Linear(2, 2)
    ema = EMA(m, decay=0.999)
    with torch.no_grad():
        m.weight.add_(1.0)
    ema.copy_from(m)
    assert torch.equal(ema.module.weight, m.weight)
    other = EMA(nn.Linear(2, 2))
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.module.weight, m.weight)
    with pytest.raises(ValueError):
        EMA(m, decay=1.0)
