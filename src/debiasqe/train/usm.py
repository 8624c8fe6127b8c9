"""Unsharp-masked ground truth (Real-ESRGAN's default training setting).

Real-ESRGAN trains its pixel and perceptual losses against a sharpened
ground truth; the GAN loss (and here the conditional discriminator and the
domain-divergence regularizer L_R) keep the plain image. The sharpening is
the classic unsharp mask with a soft threshold mask, with the constants of
BasicSR's ``USMSharp``:

* blur: Gaussian of ``radius`` 50 → kernel size 51, sigma 0 in OpenCV's
  sense, i.e. derived from the size: 0.3 ((k - 1) / 2 - 1) + 0.8 = 8.0;
  borders mirrored without repeating the edge (OpenCV's default
  BORDER_REFLECT_101 = torch's ``reflect``);
* residual r = img - blur(img); sharpened K = clip(img + 0.5 r, 0, 1);
* mask = |r| · 255 > 10 (threshold on the 0-255 scale), softened by the same
  blur; output = mask_s · K + (1 - mask_s) · img.

Implemented here in torch (separable blur, any device, no gradient needed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RADIUS = 50
WEIGHT = 0.5
THRESHOLD = 10


def gaussian_kernel_1d(size: int, sigma: float = 0.0) -> torch.Tensor:
    """OpenCV's ``getGaussianKernel(size, sigma)`` for a float kernel (sigma <= 0: derived from size)."""
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def _blur(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), mirrored borders (reflect; replicate when too small)."""
    n, c, h, w = x.shape
    p = k.numel() // 2
    mode = "reflect" if min(h, w) > p else "replicate"
    y = x.reshape(n * c, 1, h, w)
    kk = k.to(x.dtype).to(x.device)
    y = F.conv2d(F.pad(y, (p, p, 0, 0), mode=mode), kk.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, p, p), mode=mode), kk.view(1, 1, -1, 1))
    return y.reshape(n, c, h, w)


@torch.no_grad()
def usm_sharp(img: torch.Tensor, weight: float = WEIGHT, radius: int = RADIUS,
              threshold: float = THRESHOLD) -> torch.Tensor:
    """Unsharp-masked copy of ``img`` (N, 3, H, W) in [0, 1]; see the module docstring."""
    size = radius + 1 if radius % 2 == 0 else radius
    k = gaussian_kernel_1d(size)
    x = img.float()
    residual = x - _blur(x, k)
    mask = (residual.abs() * 255 > threshold).float()
    soft = _blur(mask, k)
    sharp = (x + weight * residual).clamp_(0, 1)
    return (soft * sharp + (1 - soft) * x).to(img.dtype)
