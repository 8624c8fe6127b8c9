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
        assert texts["label_CR"] == F._dist_label(r.S_CR)
        assert texts["label_CE"] == F._dist_label(r.S_CE) and texts["label_RE"] == F._dist_label(r.S_RE)
        word = "Debiased" if m.endswith("_debias") else "Biased"
        assert texts["verdict"].startswith(f"{word} ({r.deviation_pct:+.2f}%)")
        assert "paper:" in texts["verdict"]  # div2k + bpg 37 has the paper's triangles
    check_png(stem, fig)


@pytest.mark.parametrize("v, text", [(0.001234, "0.00123"), (0.04567, "0.0457"), (0.2, "0.200"),
                                     (9.734, "9.73"), (123.4, "123"), (1234.6, "1235"), (0.0, "0")])
def test_side_labels_in_three_significant_figures(v, text):
    assert F._dist_label(v) == text


def _extents(fig, ax):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return {t.get_gid(): t.get_window_extent(r) for t in ax.texts if t.get_gid()}


@pytest.mark.parametrize("d", [(0.0021, 0.0004, 0.0019),   # E next to C, tiny distances
                               (1.0, 0.02, 0.99),           # E almost on C
                               (1.0, 0.99, 0.02),           # E almost on R
                               (1.0, 3.0, 2.5),             # E far beyond R: a short base on the page
                               (1.0, 0.5, 0.5),             # flat: E on the base
                               (9.73, 6.13, 10.58),         # the paper's Fig. 1 baseline
                               (0.00468, 3.16e-6, 0.00468)])  # the demo's LPIPS: E on C, a flat strip
def test_triangle_labels_never_overlap_and_stay_off_the_drawing(d, tmp_path):
    from debiasqe.report.style import new_figure
    fig = new_figure(1.3, 1.5)
    ax = fig.subplots()
    t = F.draw_triangle(ax, *d, title="X", paper_deviation=-20.0)
    F._unclutter(fig, [ax])
    boxes = _extents(fig, ax)
    names = ["vertex_C", "vertex_R", "vertex_E", "label_CR", "label_CE", "label_RE", "verdict"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not F._boxes_overlap(boxes[a], boxes[b], pad=0), (a, b)
    # vertex names outside the triangle: C and R below the base, E above the apex
    to_px = ax.transData.transform
    (_, base_y), (_, apex_y) = to_px((0, 0)), to_px((t.x, t.y))
    assert boxes["vertex_C"].y1 < base_y and boxes["vertex_R"].y1 < base_y
    assert boxes["vertex_E"].y0 > apex_y
    # the verdict lies below everything drawn
    assert boxes["verdict"].y1 < min(boxes[g].y0 for g in ("vertex_C", "vertex_R", "label_CR"))
    assert "0.00" != F._dist_label(d[1])
    # the title clears every label (a flat triangle's labels once reached into it)
    title = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert all(not F._boxes_overlap(title, boxes[g], pad=0) for g in names), d


def test_a_side_set_that_is_no_triangle_says_so_within_its_panel():
    """Random-init LPIPS can give a negative S_CE: the panel lists the sides, one a line, inside
    its own axes (a single line ran into the neighbouring panels)."""
    from debiasqe.report.style import new_figure
    fig = new_figure(1.3, 1.5)
    ax = fig.subplots()
    assert F.draw_triangle(ax, 1.24e-4, -1.72e-7, 1.27e-4, title="ESRGAN") is None
    text = [t for t in ax.texts if t.get_gid() == "invalid"][0]
    assert text.get_text().splitlines() == ["ESRGAN", "no triangle:", "S_CR = 0.000124", "S_CE = -1.72e-07",
                                            "S_RE = 0.000127"]
    fig.canvas.draw()
    box, panel = text.get_window_extent(), ax.get_window_extent()
    assert panel.x0 <= box.x0 and box.x1 <= panel.x1


def test_rd_panel_without_values_says_so(results, tmp_path):
    import pandas as pd
    from debiasqe.report.results import read_metrics
    q = read_metrics(results["metrics"])
    q.loc[q.metric == "lpips", "value"] = float("nan")
    fig = F.fig_rd_curves(q, results["rates"], tmp_path / "rd", metric_names=("psnr", "lpips"))
    empty = [ax for ax in fig.axes if not ax.get_lines() and ax.get_title()]
    assert len(empty) == 1 and "LPIPS" in empty[0].get_title()
    assert [t.get_text() for t in empty[0].texts if t.get_gid() == "no_values"][0].startswith("no LPIPS values")


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
