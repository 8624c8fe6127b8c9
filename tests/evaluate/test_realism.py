import math

import numpy as np
import pytest
import torch
from PIL import Image

from debiasqe.train import checkpoint as ckpt
from debiasqe.core.errors import BadImageError, ConfigError
from debiasqe.evaluate.realism import grid_patches, realism_scores, score_logits
from debiasqe.train.trainer import discriminator_for, resolve_config


def _train_dir(tmp_path, kind, conditional, bias):
    """A training folder whose discriminator outputs the logit ``bias`` everywhere."""
    recipe = "esrgan" if kind == "vgg" else "realesrgan"
    cfg = resolve_config({"generator": "rrdbnet", "recipe": recipe, "size": "tiny", "patch": 128,
                          "conditional_d": conditional, "pretrained": "random"})
    net = discriminator_for(cfg)
    with torch.no_grad():  # the output layer ignores its input: logit = bias
        last = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
        assert not torch.nn.utils.parametrize.is_parametrized(last), "output layer is spectrally normalised"
        last.weight.zero_()
        last.bias.fill_(bias)
    d = tmp_path / f"train-{kind}-{conditional}"
    d.mkdir()
    ckpt.save(d / ckpt.DISCRIMINATOR_NAME, {"state_dict": net.state_dict(), "meta": {"config": cfg}})
    ckpt.save(d / ckpt.MODEL_NAME, {"state_dict": {}, "meta": {"config": cfg}})
    return d


def _folders(tmp_path, size=(256, 300)):
    rng = np.random.default_rng(0)
    out = {}
    for name in ("raw", "comp", "enh"):
        f = tmp_path / name
        f.mkdir()
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(f / "a.png")
        out[name] = f
    return out


def test_grid_patches_are_non_overlapping_crops():
    img = np.arange(5 * 9 * 3).reshape(5, 9, 3)
    tiles = grid_patches(img, 4)
    assert tiles.shape == (2, 4, 4, 3)  # one row, two columns; the remainder is dropped
    np.testing.assert_array_equal(tiles[1], img[0:4, 4:8])


def _sig(x):
    return 1 / (1 + math.exp(-x))


def test_relativistic_scores_hand_worked():
    # VGG-style D: one logit per patch. raw C = (2, 0), enhanced (-1, -3), compressed (1, 1):
    # mean C(raw) = 1, mean C(enhanced) = -2.
    logits = {"raw": torch.tensor([[2.0], [0.0]]), "enhanced": torch.tensor([[-1.0], [-3.0]]),
              "compressed": torch.tensor([[1.0], [1.0]])}
    out = score_logits(logits, relativistic=True)
    assert out["raw"] == pytest.approx((_sig(4) + _sig(2)) / 2)          # C - (-2): (0.98201 + 0.88080) / 2
    assert out["enhanced"] == pytest.approx((_sig(-2) + _sig(-4)) / 2)   # C - 1:    (0.11920 + 0.01799) / 2
    assert out["compressed"] == pytest.approx(_sig(3))                   # C - (-2): 0.95257
    assert out["raw"] == pytest.approx(0.93141, abs=1e-5) and out["enhanced"] == pytest.approx(0.06859, abs=1e-5)
    assert out["raw"] + out["enhanced"] == pytest.approx(1.0)  # mirrored spreads: exactly one, as Table 1's [43] rows
    # a constant shift of C (to which RaGAN training is blind) changes nothing ...
    shifted = score_logits({k: v + 7.5 for k, v in logits.items()}, relativistic=True)
    for k in out:
        assert shifted[k] == pytest.approx(out[k], abs=1e-6)
    # ... while the plain sigmoid moves with it
    plain = score_logits(logits, relativistic=False)
    assert plain["raw"] == pytest.approx((_sig(2) + _sig(0)) / 2)
    assert score_logits({k: v + 7.5 for k, v in logits.items()}, relativistic=False)["raw"] > plain["raw"] + 0.1


def test_absolute_scores_average_pixels_then_patches():
    # per-pixel D (UNet): two patches of two pixels each
    raw = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), math.log(3.0)]])  # sigmoids .5 .75 / .75 .75
    out = score_logits({"raw": raw, "enhanced": -raw, "compressed": torch.zeros(2, 2)}, relativistic=False)
    assert out["raw"] == pytest.approx((0.625 + 0.75) / 2)
    assert out["enhanced"] == pytest.approx((0.375 + 0.25) / 2)
    assert out["compressed"] == pytest.approx(0.5)


@pytest.mark.parametrize("kind, score, expect", [("vgg", "relativistic", 0.5), ("unet", "sigmoid", 0.75)])
@pytest.mark.parametrize("conditional", [False, True])
def test_constant_discriminator(tmp_path, kind, score, expect, conditional):
    # logit log 3 everywhere: sigmoid 0.75 for the per-pixel BCE D; relative to
    # the other set's equal mean, sigmoid(0) = 0.5 for the RaGAN D.
    train_dir = _train_dir(tmp_path, kind, conditional, math.log(3.0))
    f = _folders(tmp_path)
    out = realism_scores(train_dir, f["raw"], f["comp"], f["enh"])
    # 256×300 → 2×2 patches of 128
    assert out["patches"] == 4 and out["conditional"] is conditional and out["discriminator"] == kind
    assert out["score"] == score and out["train_patch"] == 128
    for key in ("raw", "enhanced", "compressed"):
        assert out[key] == pytest.approx(expect, abs=1e-6)


def test_conditional_discriminator_sees_the_compressed_patch(tmp_path, monkeypatch):
    train_dir = _train_dir(tmp_path, "unet", True, 0.0)
    f = _folders(tmp_path, size=(128, 128))
    comp = torch.from_numpy(np.asarray(Image.open(f["comp"] / "a.png"))).permute(2, 0, 1).float() / 255
    seen = []
    from debiasqe.evaluate import realism

    real_load = realism.load_discriminator

    def spy(*a, **k):
        net, cfg = real_load(*a, **k)
        net.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
        return net, cfg

    monkeypatch.setattr(realism, "load_discriminator", spy)
    realism_scores(train_dir, f["raw"], f["comp"], f["enh"])
    assert len(seen) == 3 and all(x.shape == (1, 6, 128, 128) for x in seen)
    for x in seen:
        torch.testing.assert_close(x[0, 3:], comp)


def test_errors_name_the_problem(tmp_path):
    f = _folders(tmp_path, size=(64, 64))
    with pytest.raises(BadImageError, match="no image is at least 128×128"):
        realism_scores(_train_dir(tmp_path, "unet", False, 0.0), f["raw"], f["comp"], f["enh"])
    fid = tmp_path / "fid"
    fid.mkdir()
    cfg = resolve_config({"generator": "dncnn", "recipe": "fidelity", "size": "tiny"})
    ckpt.save(fid / ckpt.MODEL_NAME, {"state_dict": {}, "meta": {"config": cfg}})
    with pytest.raises(ConfigError, match="trained without a discriminator"):
        realism_scores(fid, f["raw"], f["comp"], f["enh"])
