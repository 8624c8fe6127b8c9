"""Unsharp-masked ground truth (Real-ESRGAN's default): the filter and where it is used."""

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from debiasqe.train.trainer import Trainer
from debiasqe.train.usm import gaussian_kernel_1d, usm_sharp

from test_train import PairSet, Recording, cfg, nets


def _opencv_usm(img):
    """The same filter written with OpenCV (kernel 51, sigma 0, BORDER_REFLECT_101 default)."""
    blur = cv2.GaussianBlur(img, (51, 51), 0)
    residual = img - blur
    mask = (np.abs(residual) * 255 > 10).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (51, 51), 0)
    sharp = np.clip(img + 0.5 * residual, 0, 1)
    return soft * sharp + (1 - soft) * img


def test_kernel_is_opencvs_with_sigma_8():
    ours = gaussian_kernel_1d(51).numpy()
    np.testing.assert_allclose(ours, cv2.getGaussianKernel(51, 0).ravel(), rtol=1e-6)
    # sigma 0 -> 0.3 * ((51 - 1) / 2 - 1) + 0.8 = 8.0
    np.testing.assert_allclose(ours, cv2.getGaussianKernel(51, 8.0).ravel(), rtol=1e-6)


def test_matches_opencv_reference_and_leaves_flat_areas():
    rng = np.random.default_rng(0)
    img = np.full((96, 80, 3), 0.5, np.float32)
    img[:, 40:] = 0.2                                   # an edge
    img[60:, :] += rng.uniform(-0.01, 0.01, (36, 80, 3)).astype(np.float32)  # below threshold noise
    out = usm_sharp(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, _opencv_usm(img), atol=2e-5)
    # the edge is steeper, a constant image is unchanged
    assert out[10, 39, 0] > 0.5 + 0.02 and out[10, 40, 0] < 0.2 - 0.02
    flat = torch.full((1, 3, 64, 64), 0.3)
    assert torch.equal(usm_sharp(flat), flat)


class LossSpy(nn.Module):
    """L1 that records its target."""

    def __init__(self):
        super().__init__()
        self.targets = []

    def forward(self, x, y):
        self.targets.append(y.detach().clone())
        return (x - y).abs().mean()


@pytest.mark.parametrize("usm", [True, False])
def test_usm_target_only_for_pixel_and_perceptual(tmp_path, usm):
    n = nets("realesrgan", True)
    d, f = Recording(n["discriminator"]), Recording(n["features"])
    data = PairSet(n=2, size=64)
    tr = Trainer(cfg("realesrgan", iters=1, batch=2, conditional_d=True, ddr={"weight": 0.1}, usm_gt=usm),
                 data, tmp_path, generator=n["generator"], discriminator=d, features=f)
    spy = LossSpy()
    tr.pix = spy
    tr.run()
    # the discriminator's real input (D step: real, then fake) is the plain raw batch, channels 0-3
    raw = d.inputs[1][:, :3]
    assert len(spy.targets) == 1  # one step, one pixel-loss call
    target = spy.targets[0]
    torch.testing.assert_close(target, usm_sharp(raw) if usm else raw)
    if usm:
        assert (target - raw).abs().max() > 0.01
    # VGG's no-grad forward: [usm raw, raw, comp] with usm (perceptual vs L_R), else [raw, comp]
    feats_in = f.inputs[1]
    assert feats_in.shape[0] == (6 if usm else 4)
    torch.testing.assert_close(feats_in[-4:-2], raw)
    if usm:
        torch.testing.assert_close(feats_in[:2], target)
