"""Training recipes (paper §5.1 and the first author's BasicSR configs).

``RECIPES[name]`` holds a recipe's defaults at paper scale; a method config
(see :func:`debiasqe.train.trainer.resolve_config`) overrides any top-level key.
Weights follow eq. 9: ``λr L_recon + λp L_percept + λd L_discrim + λR L_R``.

* ``fidelity``: the seven fidelity baselines and RRDBNet stage 1.
* ``esrgan``: RaGAN + VGG-style discriminator; (λr, λp, λd, λR) = (1e-2, 1, 5e-3, 1e-1).
* ``realesrgan``: plain BCE GAN on a UNet-SN per-pixel map; (1, 1, 1e-1, 1e-1).
"""

from __future__ import annotations

import copy

#: VGG-19 layers of Real-ESRGAN's perceptual loss and their weights.
REALESRGAN_LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}

RECIPES: dict[str, dict] = {
    "fidelity": {
        "pixel_loss": "l1",          # l1 | charbonnier | mse
        "pixel_weight": 1.0,
        "perceptual_layers": None,   # no perceptual loss
        "perceptual_weight": 0.0,
        "gan": None,                 # no discriminator
        "gan_weight": 0.0,
        "discriminator": None,
        "ddr_weight": 0.0,
        "lr": 2e-4,
        "betas": [0.9, 0.99],
        "weight_decay": 0.0,
        "scheduler": "cosine",       # CosineAnnealing over all iters
        "eta_min": 1e-7,
        "milestones": None,
        "gamma": 0.5,
        "iters": 500_000,
        "batch": 16,
        "patch": 128,
        "ema": 0.999,
    },
    "esrgan": {
        "pixel_loss": "l1",
        "pixel_weight": 1e-2,
        "perceptual_layers": {"conv5_4": 1.0},
        "perceptual_weight": 1.0,
        "gan": "ragan",
        "gan_weight": 5e-3,
        "discriminator": "vgg",      # VGG-style, 64 feat, BN, linear head, input 128
        "ddr_weight": 1e-1,          # λR when ddr is switched on
        "lr": 1e-4,
        "betas": [0.9, 0.99],
        "weight_decay": 0.0,
        "scheduler": "multistep",
        "eta_min": 0.0,
        "milestones": [50_000, 100_000, 200_000, 300_000],
        "gamma": 0.5,
        "iters": 400_000,
        "batch": 16,
        "patch": 128,
        "ema": 0.999,
    },
    "realesrgan": {
        "pixel_loss": "l1",
        "pixel_weight": 1.0,
        "perceptual_layers": dict(REALESRGAN_LAYERS),
        "perceptual_weight": 1.0,
        "gan": "vanilla",
        "gan_weight": 1e-1,
        "discriminator": "unet",     # UNet with spectral norm, 64 feat, skips
        "ddr_weight": 1e-1,
        "lr": 1e-4,
        "betas": [0.9, 0.99],
        "weight_decay": 0.0,
        "scheduler": "multistep",
        "eta_min": 0.0,
        "milestones": [400_000],     # Real-ESRGAN's config: a single step at the end
        "gamma": 0.5,
        "iters": 400_000,
        "batch": 48,                 # 12 per GPU x 4 GPUs in the original
        "patch": 256,
        "ema": 0.999,
    },
}


def recipe(name: str) -> dict:
    """A deep copy of recipe ``name``'s defaults (KeyError if unknown)."""
    return copy.deepcopy(RECIPES[name])
