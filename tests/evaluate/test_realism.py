import math

import numpy as np
import pytest
import torch
from PIL import Image

from debiasqe.train import checkpoint as ckpt
from debiasqe.core.errors import BadImageError, ConfigError
from debiasqe.evaluate.realism import grid_patches, realism_scores
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


@pytest.mark.parametrize("kind", ["vgg", "unet"])
@pytest.mark.parametrize("conditional", [False, True])
def test_constant_discriminator_gives_its_sigmoid(tmp_path, kind, conditional):
    train_dir = _train_dir(tmp_path, kind, conditional, math.log(3.0))  # sigmoid = 0.75
    f = _folders(tmp_path)
    out = realism_scores(train_dir, f["raw"], f["comp"], f["enh"])
    # 256×300 → 2×2 patches of 128
    assert out["patches"] == 4 and out["conditional"] is conditional and out["discriminator"] == kind
    for key in ("raw", "enhanced", "compressed"):
        assert out[key] == pytest.approx(0.75, abs=1e-6)


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
