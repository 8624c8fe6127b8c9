import math

import numpy as np
import pytest
from PIL import Image

from debiasqe.core.errors import BadImageError, ConfigError
from debiasqe.report import figures as F
from debiasqe.report.style import DPI, method_style
from test_tables import make_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("res")
    return make_results(root, codecs=("bpg",), methods=["comp", "dcad", "esrgan", "esrgan_debias",
                                                         "realesrgan", "realesrgan_debias"])


def sel(paths, level=37):
    return [p for p in paths if f"/bpg/{level}" in str(p)]


def check_png(stem, fig):
    png = f"{stem}.png"
    with Image.open(png) as im:
        w, h = im.size
        a = np.asarray(im.convert("L"), dtype=float)
    ew, eh = fig.get_size_inches() * DPI
    assert abs(w - ew) <= 1 and abs(h - eh) <= 1
    assert a.std() > 5 and (a < 128).mean() > 0.002  # non-blank: some dark ink
    with open(f"{stem}.pdf", "rb") as fh:
        assert fh.read(5) == b"%PDF-"


def sides(ax):
    out = {}
    for line in ax.get_lines():
        if (line.get_gid() or "").startswith("side_"):
            x, y = line.get_data()
            out[line.get_gid()] = math.hypot(x[1] - x[0], y[1] - y[0])
    return out


@pytest.mark.parametrize("d", [(9.73, 6.13, 10.58), (9.73, 9.36, 8.77), (0.22, 0.03, 0.21), (1.0, 1.0, 1.0)])
def test_triangle_geometry_reproduces_distances_and_eq1(d):
    t = F.triangle_geometry(*d)
    (cx, cy), (rx, ry), (ex, ey) = (0.0, 0.0), (t.s_cr, 0.0), (t.x, t.y)
    assert not t.violates_triangle_inequality and ey >= 0
    assert math.hypot(rx - cx, ry - cy) == pytest.approx(d[0])
    assert math.hypot(ex - cx, ey - cy) == pytest.approx(d[1])
    assert math.hypot(ex - rx, ey - ry) == pytest.approx(d[2])
    assert t.deviation_pct == pytest.approx((d[1] ** 2 - d[2] ** 2) / d[0] ** 2 * 100)
    # eq. 1 is the apex's horizontal offset from the base midpoint over half the base
    assert (ex - d[0] / 2) / (d[0] / 2) * 100 == pytest.approx(t.deviation_pct)


def test_triangle_paper_check_value_and_degenerate():
    assert F.triangle_geometry(9.73, 6.13, 10.58).biased
    assert not F.triangle_geometry(9.73, 8.60, 7.50).biased
    bad = F.triangle_geometry(1.0, 0.1, 5.0)  # breaks the triangle inequality
    assert bad.violates_triangle_inequality and bad.y == 0
    with pytest.raises(ConfigError):
        F.triangle_geometry(0, 1, 1)


def test_fig_triangles_drawn_sides_equal_distances(results, tmp_path):
    from debiasqe.report.results import read_domains
    stem = tmp_path / "fig8_fid_triangles"
    fig = F.fig_triangles(sel(results["domains"]), stem, metric="fid")
    dom = read_domains(sel(results["domains"])).query("metric == 'fid'")
    axes = [ax for ax in fig.axes if sides(ax)]
    assert len(axes) == len(dom) == 5
    order = ["dcad", "esrgan", "esrgan_debias", "realesrgan", "realesrgan_debias"]
    for ax, m in zip(axes, order):
        r = dom[dom.method == m].iloc[0]
        s = sides(ax)
        assert s["side_CR"] == pytest.approx(r.S_CR)
        assert s["side_CE"] == pytest.approx(r.S_CE)
        assert s["side_RE"] == pytest.approx(r.S_RE)
        texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
        assert texts["label_CR"] == f"{r.S_CR:.2f}"
        assert f"{r.S_CE:.2f}" in texts["label_CE"] and f"{r.S_RE:.2f}" in texts["label_RE"]
        word = "Debiased" if m.endswith("_debias") else "Biased"
        assert texts["verdict"].startswith(f"{word} ({r.deviation_pct:+.2f}%)")
        assert "paper:" in texts["verdict"]  # div2k + bpg 37 has the paper's triangles
    check_png(stem, fig)


def test_fig3_style_grid_over_metrics(results, tmp_path):
    fig = F.fig_triangles(sel(results["domains"]), tmp_path / "fig3", methods=["esrgan", "realesrgan"])
    assert sum(1 for ax in fig.axes if sides(ax)) == 4
    assert any("LPIPS" in ax.get_title() for ax in fig.axes)
    check_png(tmp_path / "fig3", fig)


def test_fig_rd_curves(results, tmp_path):
    stem = tmp_path / "fig7_rd"
    fig = F.fig_rd_curves(results["metrics"], results["rates"], stem, metric_names=("fid", "lpips", "psnr"))
    axes = [ax for ax in fig.axes if ax.get_lines()]
    assert len(axes) == 3
    for ax in axes:
        assert len(ax.get_lines()) == 6  # comp + 5 methods
        for line in ax.get_lines():
            assert len(line.get_xdata()) == 5 and np.all(np.diff(line.get_xdata()) > 0)
    assert method_style("comp")["color"] == "#000000"
    check_png(stem, fig)


def test_fig_disparity(results, tmp_path):
    stem = tmp_path / "fig6_disparity"
    fig = F.fig_disparity(sel(results["disparity"]), stem, methods=["realesrgan", "realesrgan_debias"])
    for ax in fig.axes[:2]:
        gids = {l.get_gid() for l in ax.get_lines()}
        assert {"fit_realesrgan", "fit_realesrgan_debias", "diagonal"} <= gids
    # the synthetic data have slope 0.5 (baseline) and 0.9 (ours)
    fit = {l.get_gid(): l for l in fig.axes[0].get_lines()}
    x, y = fit["fit_realesrgan"].get_data()
    assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(0.5, abs=1e-6)
    check_png(stem, fig)


def test_fig_residuals(tmp_path):
    rng = np.random.default_rng(1)
    raw = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
    comp = (raw * 0.7).astype(np.uint8)
    paths = {}
    for name, a in {"raw": raw, "comp": comp, "e1": (raw * 0.8).astype(np.uint8)}.items():
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(a).save(paths[name])
    stem = tmp_path / "fig10_residuals"
    fig = F.fig_residuals(paths["raw"], paths["comp"], {"esrgan": paths["e1"], "esrgan_debias": paths["raw"]},
                          stem, box=(5, 4, 30, 20))
    imgs = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert imgs[0].get_array().shape[:2] == (20, 30)
    # |E - R| of an "enhanced" image equal to raw is zero
    assert np.allclose(imgs[-1].get_array(), 0)
    check_png(stem, fig)
    with pytest.raises(ConfigError, match="outside"):
        F.fig_residuals(paths["raw"], paths["comp"], {}, tmp_path / "x", box=(50, 0, 30, 20))
    Image.fromarray(raw[:10]).save(tmp_path / "small.png")
    with pytest.raises(BadImageError, match="small.png"):
        F.fig_residuals(paths["raw"], tmp_path / "small.png", {}, tmp_path / "x")
    assert not (tmp_path / "x.png").exists()
