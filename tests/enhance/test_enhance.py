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


def test_cli_enhances_every_level_of_a_job_in_one_call(tmp_path, model_pt, capsys):
    """One enhancement job per (method, dataset): folders pair by position, one model serves all,
    each folder gets its own record; counts that do not pair stop with one line."""
    import json
    from debiasqe.cli import main

    rng = np.random.default_rng(1)
    src = [tmp_path / "c10", tmp_path / "c20"]
    for i, d in enumerate(src):
        d.mkdir()
        _png(d / f"x{i}.png", rng.integers(0, 256, (24, 24, 3)))
    out = [tmp_path / "e10", tmp_path / "e20"]
    rec = [tmp_path / "r10.json", tmp_path / "r20.json"]
    assert main(["enhance", "--model", str(model_pt), "--input", *map(str, src), "--output", *map(str, out),
                 "--record", *map(str, rec), "--device", "cpu", "--quiet"]) in (0, None)
    assert [sorted(p.name for p in d.iterdir()) for d in out] == [["x0.png"], ["x1.png"]]
    assert [json.loads(r.read_text())["enhanced"] for r in rec] == [1, 1]
    ident = [tmp_path / "i10", tmp_path / "i20"]
    assert main(["enhance", "--input", *map(str, src), "--output", *map(str, ident)]) in (0, None)
    assert (ident[1] / "x1.png").read_bytes() == (src[1] / "x1.png").read_bytes()
    assert main(["enhance", "--input", *map(str, src), "--output", str(out[0])]) == 1
    assert "2 --input folder(s) but 1 --output folder(s)" in capsys.readouterr().err


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


# ------------------------------------------------- exact tiling per architecture
from debiasqe.archs import GENERATORS, build_generator, generator_tiling  # noqa: E402
from debiasqe.enhance.stage import enhance_exact, plan_enhancement, to_uint8  # noqa: E402

# (name, size, overrides, H, W) for the impulse test: wide enough for the radius
IMPULSE = [
    ("arcnn", "tiny", {}, 32, 40), ("arcnn", "paper", {}, 32, 40),
    ("dcad", "tiny", {}, 24, 24), ("dcad", "paper", {}, 32, 40),
    ("dncnn", "tiny", {}, 24, 24), ("dncnn", "paper", {}, 48, 48),
    ("rdn", "tiny", {}, 32, 32), ("rdn", "paper", {}, 48, 48),
    ("cbdnet", "tiny", {}, 112, 112), ("cbdnet", "paper", {}, 112, 112),
    ("rbqe", "tiny", {}, 64, 128), ("rbqe", "paper", {}, 32, 512),
    ("rrdbnet", "tiny", {}, 64, 176),
    # paper widths, 2 of the 23 blocks: the radius grows by 60 px per block (checked by hand)
    ("rrdbnet", "paper", {"num_block": 2}, 32, 320),
]


@pytest.mark.parametrize("name,size,over,h,w", IMPULSE, ids=[f"{n}-{s}" for n, s, *_ in IMPULSE])
def test_declared_radius_bounds_the_impulse_response(name, size, over, h, w):
    """float64 (no Winograd mixing): a change of one input pixel changes no output pixel
    farther than the declared radius; the response reaches at least half of it."""
    t = generator_tiling(name, size, **over)
    torch.manual_seed(0)
    net = build_generator(name, size, **over).double().eval()
    x = torch.rand(1, 3, h, w, dtype=torch.float64)
    cy, cx = (h // 2 // t.multiple) * t.multiple, (w // 2 // t.multiple) * t.multiple
    x2 = x.clone()
    x2[..., cy, cx] += 0.5
    with torch.no_grad():
        d = (net(x2) - net(x)).abs().amax(1)[0]
    ys, xs = torch.nonzero(d > 0, as_tuple=True)
    reach = int(max((ys - cy).abs().max(), (xs - cx).abs().max()))
    assert reach <= t.radius, (name, size, reach, t.radius)
    assert reach >= t.radius / 2, (name, size, reach, t.radius)
    assert min(cx, w - 1 - cx) >= t.radius  # the image is wide enough to see the whole radius


def test_rrdbnet_radius_by_hand():
    # scale 1: unshuffle 3 + conv_first 4 + 23 RRDB x 3 RDB x 5 convs x 4 px + conv_body 4
    # + nearest 4 + conv_up1 2 + nearest 2 + 3 convs x 1 px
    assert generator_tiling("rrdbnet", "paper").radius == 3 + 4 + 23 * 15 * 4 + 4 + 4 + 2 + 2 + 3
    assert generator_tiling("rrdbnet", "paper").multiple == 4
    assert generator_tiling("dncnn", "paper").radius == 17  # 17 convs of 3x3


@pytest.mark.parametrize("name", ["mprnet"])
def test_global_pooling_networks_are_whole_only(name):
    """A pixel in one corner moves the output in the opposite corner: no tile can be exact."""
    t = generator_tiling(name, "tiny")
    assert t.whole_only and t.radius == float("inf")
    torch.manual_seed(0)
    net = build_generator(name, "tiny").double().eval()
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    x2 = x.clone()
    x2[..., 0, 0] += 0.5
    with torch.no_grad():
        assert (net(x2) - net(x))[..., -1, -1].abs().max() > 0
    assert generator_tiling("rbqe", "tiny", eca=True).whole_only
    assert not generator_tiling("rbqe", "tiny").whole_only


# (name, size, H, W, tile, expected path) with memory "full" (budget 0): the
# default path must equal the whole image; tiles where the radius allows them
EXACT = [
    ("arcnn", "tiny", 50, 90, 24, "tiles"), ("arcnn", "paper", 50, 90, 24, "tiles"),
    ("dcad", "tiny", 40, 70, 16, "tiles"), ("dcad", "paper", 50, 90, 24, "tiles"),
    ("dncnn", "tiny", 40, 70, 16, "tiles"), ("dncnn", "paper", 48, 100, 32, "tiles"),
    ("rdn", "tiny", 40, 70, 16, "tiles"), ("rdn", "paper", 48, 100, 32, "tiles"),
    ("cbdnet", "tiny", 48, 170, 32, "tiles"), ("cbdnet", "paper", 72, 180, 64, "tiles"),
    ("rbqe", "tiny", 80, 203, 64, "tiles"), ("rbqe", "paper", 40, 72, 32, "whole"),
    ("mprnet", "tiny", 40, 48, 32, "whole"), ("mprnet", "paper", 40, 48, 32, "whole"),
    ("rrdbnet", "tiny", 64, 230, 48, "tiles"), ("rrdbnet", "paper", 40, 36, 32, "whole"),
]


@pytest.mark.parametrize("name,size,h,w,tile,path", EXACT, ids=[f"{n}-{s}" for n, s, *_ in EXACT])
def test_default_path_equals_whole_image(name, size, h, w, tile, path):
    t = generator_tiling(name, size)
    torch.manual_seed(0)
    net = build_generator(name, size).eval()
    x = torch.rand(1, 3, h, w)
    with torch.no_grad():
        whole = net(x)
    got, plan = enhance_exact(net, x, t, tile=tile, bpp=1.0, budget=0, name=name)  # "no memory"
    assert plan.mode == path, plan
    diff = np.abs(to_uint8(got).astype(int) - to_uint8(whole).astype(int)).max()
    assert diff <= 1, (name, size, plan, diff)
    assert (got - whole).abs().max().item() < 1e-4
    if path == "tiles":
        assert plan.overlap >= t.radius and plan.overlap % t.multiple == 0 and plan.tile % t.multiple == 0
        assert plan.tile + 2 * plan.overlap < max(h, w)  # several tiles really ran


def test_unaligned_tiles_break_pixel_unshuffle():
    """RRDBNet (scale 1) unshuffles by 4: tiles whose origins are not multiples of 4
    change the output even with ample overlap; the plan aligns them."""
    t = generator_tiling("rrdbnet", "tiny")
    torch.manual_seed(0)
    net = build_generator("rrdbnet", "tiny").eval()
    x = torch.rand(1, 3, 190, 40)
    with torch.no_grad():
        whole = net(x)
    # tile origins 0, 93, 186 with 85 px of context: inputs start at rows 0, 8, 101
    bad = enhance_tensor(net, x, tile=93, overlap=85, align=1)
    assert (bad - whole).abs().max().item() > 1e-3
    plan = plan_enhancement(t, 1000, 1000, tile=93, overlap=85, fits_whole=False)
    assert (plan.mode, plan.tile, plan.overlap, plan.align) == ("tiles", 92, 88, 4)


def test_plan_raises_overlap_notes_whole_only_and_approximate():
    t = generator_tiling("dncnn", "paper")  # radius 17
    p = plan_enhancement(t, 500, 500, tile=128, overlap=8, fits_whole=False, name="dncnn")
    assert p.mode == "tiles" and p.overlap == 17
    assert p.notes == ["dncnn: overlap 8 raised to 17, its receptive-field radius 17 px on a 1-px grid"]
    assert plan_enhancement(t, 500, 500, tile=128, overlap="auto", fits_whole=False).overlap == 17
    assert plan_enhancement(t, 500, 500, tile=128, overlap=40, fits_whole=False).overlap == 40
    assert plan_enhancement(t, 500, 500, tile=128, fits_whole=True).mode == "whole"  # memory allows
    a = plan_enhancement(t, 500, 500, tile=128, overlap=8, approximate=True, fits_whole=True)
    assert (a.mode, a.tile, a.overlap) == ("tiles", 128, 8) and "approximate" in a.notes[0]
    m = plan_enhancement(generator_tiling("mprnet", "paper"), 500, 500, tile=128, overlap=32,
                         fits_whole=False, name="mprnet")
    assert m.mode == "whole" and len(m.notes) == 1 and "whole image although tile 128" in m.notes[0]
    assert "--approximate-tiles" in m.notes[0]


def test_memory_decision_uses_a_measured_forward():
    from debiasqe.enhance.stage import bytes_per_pixel, whole_fits
    torch.manual_seed(0)
    net = build_generator("dncnn", "tiny").eval()
    bpp = bytes_per_pixel(net, torch.device("cpu"))
    # 5 convs of 16 channels + 5 ReLUs (in place, same tensors) in float32: >= 16*4*5 bytes/px
    assert 16 * 4 * 5 <= bpp <= 16 * 4 * 12
    assert whole_fits(bpp, 100, 100, torch.device("cpu"), budget=int(bpp * 100 * 100 * 2))
    assert not whole_fits(bpp, 1000, 1000, torch.device("cpu"), budget=int(bpp * 100 * 100 * 2))


def test_every_registry_generator_is_covered():
    assert {n for n, *_ in EXACT} == set(GENERATORS) == {n for n, *_ in IMPULSE} | {"mprnet"}
