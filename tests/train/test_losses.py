"""Losses against values worked out by hand."""

import math

import pytest
import torch

from debiasqe.core.errors import ConfigError
from debiasqe.train.losses import (
    charbonnier_loss,
    domain_divergence,
    l1_loss,
    mse_loss,
    perceptual_loss,
    pixel_loss,
    ragan_d_loss,
    ragan_g_loss,
    vanilla_d_loss,
    vanilla_g_loss,
)

# softplus(x) = log(1 + e^x); BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x)
SP0 = math.log(2.0)                 # 0.6931472
SP_M1 = math.log(1 + math.exp(-1))  # 0.3132617
SP_M2 = math.log(1 + math.exp(-2))  # 0.1269280
SP_P1 = math.log(1 + math.exp(1))   # 1.3132617
SP_P2 = math.log(1 + math.exp(2))   # 2.1269280


def t(rows):
    """(B, 1, 1, W) tensor from a list of per-sample rows."""
    return torch.tensor(rows, dtype=torch.float32).view(len(rows), 1, 1, -1)


def ddr_inputs(requires_grad=True):
    # layer a: sample 0: R=[1,3] C=[0,0] E=[1,1] -> D_CR=2, D_CE=1 -> hinge 1
    #          sample 1: R=[1,1] C=[0,0] E=[2,0] -> D_CR=1, D_CE=1 -> 0 (not <)
    # layer b: sample 0: R=4 C=1 E=2 -> D_CR=3, D_CE=1 -> 2
    #          sample 1: R=1 C=1 E=5 -> D_CR=0, D_CE=4 -> 0
    fr = {"a": t([[1, 3], [1, 1]]), "b": t([[4], [1]])}
    fc = {"a": t([[0, 0], [0, 0]]), "b": t([[1], [1]])}
    fe = {"a": t([[1, 1], [2, 0]]), "b": t([[2], [5]])}
    for d in (fr, fc, fe):
        for v in d.values():
            v.requires_grad_(requires_grad)
    return fr, fc, fe


def test_ddr_both_hinge_branches_exact():
    fr, fc, fe = ddr_inputs()
    loss = domain_divergence(fr, fc, fe, {"a": 1.0, "b": 0.1})
    # a: mean over batch (1 + 0)/2 = 0.5 ; b: (2 + 0)/2 = 1 -> * 0.1
    assert loss.item() == pytest.approx(0.5 + 0.1, abs=1e-7)


def test_ddr_gradient_reaches_enhanced_only():
    fr, fc, fe = ddr_inputs()
    domain_divergence(fr, fc, fe, {"a": 1.0, "b": 0.1}).backward()
    for d in (fr, fc):
        for v in d.values():
            assert v.grad is None
    # a, sample 0: d/dE of -(|E0-C0| + |E1-C1|)/2, times 1/B = 1/2 -> -0.25 each
    # a, sample 1: hinge inactive -> 0
    assert fe["a"].grad.flatten().tolist() == pytest.approx([-0.25, -0.25, 0.0, 0.0])
    # b, sample 0: -(1) * 1/B * 0.1 = -0.05 ; sample 1 inactive
    assert fe["b"].grad.flatten().tolist() == pytest.approx([-0.05, 0.0])


def test_ddr_zero_when_enhanced_already_far():
    fr, fc, fe = ddr_inputs()
    fe = {k: v.detach() * 0 + 100 for k, v in fe.items()}
    for v in fe.values():
        v.requires_grad_(True)
    loss = domain_divergence(fr, fc, fe, {"a": 1.0, "b": 1.0})
    assert loss.item() == 0.0
    loss.backward()
    assert all(float(v.grad.abs().sum()) == 0.0 for v in fe.values())


def test_ddr_reductions():
    fr, fc, fe = ddr_inputs(requires_grad=False)
    # sum: a s0: D_CR=4 D_CE=2 -> 2 ; s1: 2 vs 2 -> 0 ; mean 1
    assert domain_divergence(fr, fc, fe, {"a": 1.0}, reduction="sum").item() == pytest.approx(1.0)
    # l2 (RMS): a s0: sqrt((1+9)/2)=sqrt5 vs 1 ; s1: 1 vs sqrt2 -> 0
    assert domain_divergence(fr, fc, fe, {"a": 1.0}, reduction="l2").item() == pytest.approx(
        (math.sqrt(5) - 1) / 2, abs=1e-6
    )
    with pytest.raises(ConfigError, match="ddr.reduction"):
        domain_divergence(fr, fc, fe, {"a": 1.0}, reduction="max")


def test_pixel_losses():
    p, g = torch.tensor([0.0, 3.0]), torch.tensor([0.0, -1.0])
    assert l1_loss(p, g).item() == pytest.approx(2.0)
    # sqrt(0 + 1e-12) = 1e-6 ; sqrt(16 + 1e-12) = 4
    assert charbonnier_loss(p, g).item() == pytest.approx((1e-6 + 4.0) / 2, abs=1e-7)
    assert pixel_loss("charbonnier") is charbonnier_loss
    assert mse_loss(p, g).item() == pytest.approx(8.0)  # (0 + 16) / 2
    assert pixel_loss("mse") is mse_loss
    with pytest.raises(ConfigError, match="pixel_loss"):
        pixel_loss("l3")


def test_perceptual_loss_weights_and_detach():
    x = {"a": torch.tensor([1.0, 2.0], requires_grad=True), "b": torch.tensor([0.0], requires_grad=True)}
    gt = {"a": torch.tensor([0.0, 0.0], requires_grad=True), "b": torch.tensor([3.0], requires_grad=True)}
    loss = perceptual_loss(x, gt, {"a": 0.1, "b": 1.0})
    assert loss.item() == pytest.approx(0.1 * 1.5 + 3.0)
    loss.backward()
    assert gt["a"].grad is None and gt["b"].grad is None
    assert x["a"].grad.tolist() == pytest.approx([0.05, 0.05])


def test_vanilla_gan_losses():
    real = torch.tensor([[0.0, 2.0]])
    fake = torch.tensor([[0.0, -1.0]])
    l_real, l_fake = vanilla_d_loss(real, fake)
    assert l_real.item() == pytest.approx((SP0 + SP_M2) / 2, abs=1e-6)   # 0.4100376
    assert l_fake.item() == pytest.approx((SP0 + SP_M1) / 2, abs=1e-6)   # 0.5032044
    assert vanilla_g_loss(fake).item() == pytest.approx((SP0 + SP_P1) / 2, abs=1e-6)  # 1.0032044


def test_relativistic_gan_losses():
    real = torch.tensor([1.0, 3.0], requires_grad=True)  # mean 2
    fake = torch.tensor([0.0, 2.0], requires_grad=True)  # mean 1
    l_real, l_fake = ragan_d_loss(real, fake)
    # 0.5 * mean(BCE([0, 2], 1)) and 0.5 * mean(BCE([-2, 0], 0))
    assert l_real.item() == pytest.approx(0.5 * (SP0 + SP_M2) / 2, abs=1e-6)  # 0.2050188
    assert l_fake.item() == pytest.approx(0.5 * (SP_M2 + SP0) / 2, abs=1e-6)
    (l_real + l_fake).backward()
    # l_real gets grad only through `real`, l_fake only through `fake`:
    # d/dr 0.5*mean(softplus(-(r - 1))) = -0.5 * sigmoid(-(r-1)) / 2
    sig = lambda x: 1 / (1 + math.exp(-x))
    assert real.grad.tolist() == pytest.approx([-0.25 * sig(0), -0.25 * sig(-2)], abs=1e-6)
    assert fake.grad.tolist() == pytest.approx([0.25 * sig(-2), 0.25 * sig(0)], abs=1e-6)

    real.grad = fake.grad = None
    g = ragan_g_loss(real, fake)
    # (mean(BCE([1-1, 3-1], 0)) + mean(BCE([0-2, 2-2], 1))) / 2
    assert g.item() == pytest.approx(((SP0 + SP_P2) / 2 + (SP_P2 + SP0) / 2) / 2, abs=1e-6)  # 1.4100376
    g.backward()
    assert real.grad is None
    assert fake.grad is not None
