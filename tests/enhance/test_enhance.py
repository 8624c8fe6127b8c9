"""Tiled inference, folder enhancement, identity method, domain gaps."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from debiasqe.enhance.stage import domain_gaps, enhance_folder, enhance_identity, enhance_tensor, load_generator
from debiasqe.core.errors import ConfigError


def fcn(seed=0):
    """Three 3x3 convs: receptive-field radius 3."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 3, 3, padding=1)).eval()


class DownUp(nn.Module):
    """Stride-2 conv then pixel shuffle: equivariant to even shifts only."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.down = nn.Conv2d(3, 12, 3, stride=2, padding=1)
        self.up = nn.PixelShuffle(2)

    def forward(self, x):
        return self.up(torch.relu(self.down(x)))


def test_tiled_equals_whole_image():
    x = torch.rand(1, 3, 50, 70)
    net = fcn()
    whole = net(x)
    tiled = enhance_tensor(net, x, tile=16, overlap=8, align=8)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < 1e-5


def test_tiled_equals_whole_with_downsampling_when_aligned():
    x = torch.rand(1, 3, 40, 36)
    net = DownUp().eval()
    whole = net(x)
    assert (enhance_tensor(net, x, tile=12, overlap=4, align=4) - whole).abs().max().item() < 1e-5


def test_tiles_without_enough_overlap_leave_seams():
    x = torch.rand(1, 3, 48, 48)
    net = fcn()
    diff = (enhance_tensor(net, x, tile=16, overlap=0, align=8) - net(x)).abs().max().item()
    assert diff > 1e-3


def _png(path, arr):
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    from debiasqe.train.trainer import Trainer

    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            r = torch.rand(3, 32, 32, generator=g)
            return r, (r * 0.8).clamp(0, 1)

    out = tmp_path_factory.mktemp("model")
    cfg = dict(recipe="fidelity", generator="dncnn", size="tiny", iters=2, batch=2, patch=32,
               device="cpu", progress=False)
    return Trainer(cfg, Pairs(), out).run()


def test_enhance_folder_names_sizes_resume(tmp_path, model_pt):
    src = tmp_path / "comp"
    src.mkdir()
    rng = np.random.default_rng(0)
    _png(src / "a.png", rng.integers(0, 256, (40, 72, 3)))
    _png(src / "b.png", rng.integers(0, 256, (33, 17, 3)))
    (src / "notes.txt").write_text("ignored")
    out = tmp_path / "enh"
    rec = enhance_folder(model_pt, src, out, tile=32, overlap=16, device="cpu", progress=False,
                         record_path=tmp_path / "enhance.json")
    assert rec["enhanced"] == 2 and rec["skipped"] == 0 and (tmp_path / "enhance.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert Image.open(out / "a.png").size == (72, 40) and Image.open(out / "b.png").size == (17, 33)
    # the tiled result matches a whole-image run of the same generator up to rounding
    net, meta = load_generator(model_pt)
    assert meta["config"]["generator"] == "dncnn"
    x = torch.from_numpy(np.array(Image.open(src / "a.png"))).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        whole = (net(x)[0].clamp(0, 1) * 255).round().permute(1, 2, 0).numpy()
    got = np.asarray(Image.open(out / "a.png")).astype(np.float32)
    assert np.abs(got - whole).max() <= 1
    again = enhance_folder(model_pt, src, out, tile=32, overlap=16, device="cpu", progress=False)
    assert again["enhanced"] == 0 and again["skipped"] == 2


def test_enhance_folder_errors(tmp_path, model_pt):
    with pytest.raises(ConfigError, match="does not exist"):
        enhance_folder(model_pt, tmp_path / "nope", tmp_path / "out", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no PNG"):
        enhance_folder(model_pt, tmp_path / "empty", tmp_path / "out", progress=False)


@pytest.mark.parametrize("link", [False, True])
def test_identity_method(tmp_path, link):
    src = tmp_path / "comp"
    src.mkdir()
    _png(src / "x.png", np.full((8, 8, 3), 7))
    rec = enhance_identity(src, tmp_path / "out", link=link)
    assert rec["copied"] == 1
    assert (tmp_path / "out" / "x.png").read_bytes() == (src / "x.png").read_bytes()
    assert enhance_identity(src, tmp_path / "out", link=link)["skipped"] == 1
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_domain_gaps_by_hand(tmp_path):
    for name, v in (("raw", 100), ("comp", 90), ("enh", 95)):
        (tmp_path / name).mkdir()
        _png(tmp_path / name / "i.png", np.full((4, 4, 3), v))
    g = domain_gaps(tmp_path / "raw", tmp_path / "comp", tmp_path / "enh")
    assert g["images"] == 1
    assert g["enh_vs_comp"] == pytest.approx(5 / 255)
    assert g["raw_vs_comp"] == pytest.approx(10 / 255)
    assert g["enh_vs_raw"] == pytest.approx(5 / 255)
    assert g["ratio"] == pytest.approx(0.5)
