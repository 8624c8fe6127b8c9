import numpy as np
import pytest
import torch
from PIL import Image

from debiasqe.evaluate.disparity import disparity, regression_line
from debiasqe.core.errors import BadImageError


def _npy(path, a):
    np.save(path, a.astype(np.float32))
    return str(path)


@pytest.fixture
def triples(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for i, (dc, de) in enumerate([(0.10, 0.03), (0.05, 0.04)]):
        raw = rng.uniform(0.2, 0.6, (40, 56, 3))
        comp = raw + dc            # |R - C| = dc everywhere
        enh = raw + (dc - de)      # |E - C| = de everywhere
        out.append((f"im{i}", _npy(tmp_path / f"r{i}.npy", raw), _npy(tmp_path / f"c{i}.npy", comp),
                    _npy(tmp_path / f"e{i}.npy", enh)))
    return out


def test_known_pixel_and_feature_mae(triples):
    df = disparity(triples, patch=16, patches_per_image=5, seed=3, feature_fn=lambda x: 2 * x)
    assert list(df.columns) == ["patch", "image", "y", "x", "pix_rc", "pix_ec", "feat_rc", "feat_ec"]
    assert len(df) == 10 and df["patch"].tolist() == list(range(10))
    a, b = df[df.image == "im0"], df[df.image == "im1"]
    np.testing.assert_allclose(a.pix_rc, 0.10, atol=1e-6)
    np.testing.assert_allclose(a.pix_ec, 0.03, atol=1e-6)
    np.testing.assert_allclose(b.pix_rc, 0.05, atol=1e-6)
    np.testing.assert_allclose(b.pix_ec, 0.04, atol=1e-6)
    np.testing.assert_allclose(df.feat_rc, 2 * df.pix_rc, atol=1e-5)
    np.testing.assert_allclose(df.feat_ec, 2 * df.pix_ec, atol=1e-5)
    slope, icpt = regression_line(df)
    # two points (0.10, 0.03) and (0.05, 0.04): slope -0.2, intercept 0.05
    assert slope == pytest.approx(-0.2, abs=1e-4) and icpt == pytest.approx(0.05, abs=1e-5)


def test_patches_are_seeded_and_located(triples):
    a = disparity(triples, patch=16, patches_per_image=4, seed=1)
    b = disparity(triples, patch=16, patches_per_image=4, seed=1)
    c = disparity(triples, patch=16, patches_per_image=4, seed=2)
    assert a[["y", "x"]].equals(b[["y", "x"]]) and not a[["y", "x"]].equals(c[["y", "x"]])
    assert a.feat_rc.isna().all()  # no feature_fn
    assert (a.y <= 40 - 16).all() and (a.x <= 56 - 16).all()


def test_feature_fn_sees_the_same_crop(tmp_path):
    grad = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (32, 1))[..., None].repeat(3, 2)
    r = _npy(tmp_path / "r.npy", grad)
    c = _npy(tmp_path / "c.npy", grad * 0)
    seen = []

    def feat(x):
        seen.append(x.clone())
        return x.mean(dim=(1, 2, 3), keepdim=True)

    df = disparity([("g", r, c, c)], patch=8, patches_per_image=3, seed=0, feature_fn=feat)
    for i, row in df.iterrows():
        expected = grad[row.y:row.y + 8, row.x:row.x + 8].mean()
        assert row.pix_rc == pytest.approx(expected, abs=1e-6)
        assert float(seen[0][i].mean()) == pytest.approx(expected, abs=1e-6)  # raw batch first
    assert row.pix_ec == 0


def test_bad_inputs_name_file(tmp_path):
    r = _npy(tmp_path / "r.npy", np.zeros((20, 20, 3)))
    c = _npy(tmp_path / "c.npy", np.zeros((20, 24, 3)))
    with pytest.raises(BadImageError, match=r"c\.npy.*differs"):
        disparity([("x", r, c, r)], patch=8)
    with pytest.raises(BadImageError, match=r"r\.npy.*smaller"):
        disparity([("x", r, r, r)], patch=32)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "ok.png")
    with pytest.raises(BadImageError, match="gone.png"):
        disparity([("x", str(tmp_path / "ok.png"), str(tmp_path / "gone.png"), r)], patch=8)
