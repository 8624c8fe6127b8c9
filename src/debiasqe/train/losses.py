"""Training losses: pixel, perceptual, GAN (vanilla / relativistic) and the
domain-divergence regularization L_R of the paper (eq. 6-8).

Conventions follow BasicSR (the authors' code base):

* pixel losses are means over all elements;
* the perceptual loss is ``sum_l w_l * mean|psi_l(x) - psi_l(gt)|`` with the
  ground-truth features detached;
* GAN losses work on *logits* (``BCEWithLogits``); the discriminator loss is
  returned unweighted, the generator's adversarial term is multiplied by its
  recipe weight by the caller.

All features are dicts ``{layer_name: tensor}`` as returned by
``debiasqe.archs.vgg.VGGFeatures``, so the features of I_R, I_C and I_E are
computed once per step and shared between the perceptual loss and L_R.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from ..core.errors import ConfigError

Tensor = torch.Tensor

# --------------------------------------------------------------------------- pixel


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error over all elements."""
    return F.l1_loss(pred, target)


def charbonnier_loss(pred: Tensor, target: Tensor, eps: float = 1e-12) -> Tensor:
    """BasicSR's Charbonnier loss: ``mean(sqrt((pred - target)^2 + eps))``."""
    return torch.sqrt((pred - target) ** 2 + eps).mean()


def mse_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all elements. Its gradient is proportional to the error, where
    L1's is only its sign: at an identity start (I_E = I_C) L1's sign noise barely moves a
    short training, MSE's gradient points at the mean correction."""
    return F.mse_loss(pred, target)


PIXEL_LOSSES = {"l1": l1_loss, "charbonnier": charbonnier_loss, "mse": mse_loss}


def pixel_loss(kind: str):
    """The pixel loss function called ``kind`` (``l1`` or ``charbonnier``)."""
    try:
        return PIXEL_LOSSES[kind]
    except KeyError:
        raise ConfigError(
            f"pixel_loss: unknown kind {kind!r}; expected one of {sorted(PIXEL_LOSSES)}"
        ) from None


# ---------------------------------------------------------------------- perceptual


def perceptual_loss(
    feats_x: Mapping[str, Tensor],
    feats_gt: Mapping[str, Tensor],
    layer_weights: Mapping[str, float],
) -> Tensor:
    """``sum_l w_l * L1(psi_l(x), psi_l(gt).detach())`` (BasicSR PerceptualLoss,
    criterion 'l1', before the overall perceptual weight)."""
    total = None
    for name, w in layer_weights.items():
        term = F.l1_loss(feats_x[name].float(), feats_gt[name].detach().float()) * w
        total = term if total is None else total + term
    if total is None:
        raise ConfigError("perceptual loss: no layers given")
    return total


# ----------------------------------------------------------------------------- GAN


def _bce(logits: Tensor, target_is_real: bool) -> Tensor:
    logits = logits.float()
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def vanilla_d_loss(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Discriminator loss of the plain (Real-ESRGAN) GAN, per-pixel logits allowed.

    Returns ``(l_real, l_fake)`` = ``(BCE(real, 1), BCE(fake, 0))``, each the mean
    over all logits; the D objective is their sum. ``fake_logits`` must come from
    the detached generator output.
    """
    return _bce(real_logits, True), _bce(fake_logits, False)


def vanilla_g_loss(fake_logits: Tensor) -> Tensor:
    """Generator's adversarial loss of the plain GAN: ``BCE(D(I_E), 1)``."""
    return _bce(fake_logits, True)


def ragan_d_loss(real_logits: Tensor, fake_logits: Tensor, mean=torch.mean) -> tuple[Tensor, Tensor]:
    """Relativistic-average discriminator loss (ESRGAN, BasicSR ``ESRGANModel``).

    ``l_real = 0.5 * BCE(C(r) - mean C(f).detach(), 1)``,
    ``l_fake = 0.5 * BCE(C(f) - mean C(r).detach(), 0)``; the D objective is
    their sum. BasicSR gets the same gradients with three D forwards; here the
    opposite term's logits are detached instead.
    """
    l_real = _bce(real_logits - mean(fake_logits.detach()), True) * 0.5
    l_fake = _bce(fake_logits - mean(real_logits.detach()), False) * 0.5
    return l_real, l_fake


def ragan_g_loss(real_logits: Tensor, fake_logits: Tensor, mean=torch.mean) -> Tensor:
    """Relativistic-average generator loss (BasicSR ``ESRGANModel``):
    ``(BCE(C(r) - mean C(f), 0) + BCE(C(f) - mean C(r), 1)) / 2`` with ``C(r)``
    detached (the real logits carry no gradient).

    ``mean`` takes the batch mean (data-parallel training passes the mean over
    all processes' batches, ``distributed.global_mean``)."""
    real_logits = real_logits.detach()
    l_real = _bce(real_logits - mean(fake_logits), False)
    l_fake = _bce(fake_logits - mean(real_logits), True)
    return (l_real + l_fake) / 2


GAN_KINDS = ("vanilla", "ragan")


# ------------------------------------------------------ domain divergence (L_R)

#: per-sample reductions of |psi(a) - psi(b)| available to ``domain_divergence``.
#:   mean: mean absolute difference over C,H,W (the default; scale-free in size)
#:   sum:  sum of absolute differences over C,H,W
#:   l2:   root-mean-square difference over C,H,W (an L2 distance normalised by size)
REDUCTIONS = ("mean", "sum", "l2")


def _per_sample_distance(a: Tensor, b: Tensor, reduction: str) -> Tensor:
    d = (a.float() - b.float()).flatten(1)
    if reduction == "mean":
        return d.abs().mean(dim=1)
    if reduction == "sum":
        return d.abs().sum(dim=1)
    if reduction == "l2":
        return d.pow(2).mean(dim=1).sqrt()
    raise ConfigError(f"ddr.reduction: unknown {reduction!r}; expected one of {list(REDUCTIONS)}")


def domain_divergence(
    feats_r: Mapping[str, Tensor],
    feats_c: Mapping[str, Tensor],
    feats_e: Mapping[str, Tensor],
    layer_weights: Mapping[str, float],
    reduction: str = "mean",
) -> Tensor:
    """Domain-divergence regularization L_R (paper eq. 6-8).

    For each layer ``l``: ``D_CR = ||psi_l(I_R) - psi_l(I_C)||`` and
    ``D_CE = ||psi_l(I_E) - psi_l(I_C)||`` per sample (``reduction``: see
    :data:`REDUCTIONS`), hinge per sample ``L = D_CR - D_CE if D_CE < D_CR else 0``;
    the result is ``sum_l w_l * mean_batch(L)``. Only I_E receives gradient:
    the features of I_R and I_C are detached (D_CR is a constant target).
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"ddr.reduction: unknown {reduction!r}; expected one of {list(REDUCTIONS)}")
    total = None
    for name, w in layer_weights.items():
        fr = feats_r[name].detach()
        fc = feats_c[name].detach()
        fe = feats_e[name]
        d_cr = _per_sample_distance(fr, fc, reduction)
        d_ce = _per_sample_distance(fe, fc, reduction)
        hinge = torch.where(d_ce < d_cr, d_cr - d_ce, torch.zeros_like(d_ce))
        term = hinge.mean() * w
        total = term if total is None else total + term
    if total is None:
        raise ConfigError("ddr.layers: no layers given")
    return total
