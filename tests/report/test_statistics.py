"""n, intervals and paired comparisons in the report: the metrics CSVs' statistics reach every table
and figure, and a debiased method that differs from its vanilla method beyond the images' noise is
marked ‖."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from debiasqe.config import load_config
from debiasqe.evaluate.intervals import image_interval_columns
from debiasqe.evaluate.metrics import write_metrics_csv
from debiasqe.methods import vanilla_methods
from debiasqe.report import marks as mk
from debiasqe.report import tables as T
from debiasqe.report.paired import paired_differences
from debiasqe.report.results import read_domains, read_metrics, read_per_image

DIRECTIONS = {"psnr": False, "lpips": True}
N = 12
BASE = np.random.default_rng(0).normal(28.0, 2.0, N)  # the images' own spread, shared by every method
VANILLA = {"esrgan_debias": "esrgan", "realesrgan_debias": "realesrgan"}
DIFFERS = "\u2016"


def _write(root, method, psnr, lpips, level=37, run=None):
    df = pd.DataFrame({"image": [f"{k:02d}" for k in range(N)], "psnr": psnr, "lpips": lpips})
    path = root / "metrics" / (run or method) / "demo_test" / "bpg" / f"{level}.csv"
    write_metrics_csv(df, path, {"evaluation": {}}, set_level=image_interval_columns(df))
    return path


@pytest.fixture
def results(tmp_path):
    """esrgan_debias: PSNR exactly 0.3 dB above esrgan on every image (differs); realesrgan_debias:
    ±0.3 dB alternating around realesrgan (mean difference 0: no mark)."""
    noise = np.random.default_rng(1).normal(0, 0.01, N)
    alt = np.where(np.arange(N) % 2 == 0, 0.3, -0.3)
    lp = 0.3 + noise
    paths = [_write(tmp_path, "comp", BASE - 1, lp + 0.1), _write(tmp_path, "esrgan", BASE, lp),
             _write(tmp_path, "esrgan_debias", BASE + 0.3, lp),
             _write(tmp_path, "realesrgan", BASE + 0.1, lp), _write(tmp_path, "realesrgan_debias", BASE + 0.1 + alt, lp)]
    return tmp_path, paths


def test_read_metrics_gives_n_and_bounds_and_per_image_rows(results):
    _, paths = results
    df = read_metrics(paths)
    assert set(df["metric"]) == {"psnr", "lpips"}  # .n/.lo/.hi/.interval are no metrics
    row = df[(df.method == "esrgan") & (df.metric == "psnr")].iloc[0]
    assert row["n"] == N and row["lo"] < row["value"] < row["hi"]
    per = read_per_image(paths)
    assert len(per) == 5 * 2 * N and set(per["image"]) == {f"{k:02d}" for k in range(N)}


def test_paired_differences_find_the_constant_shift_and_not_the_alternating_one(results):
    _, paths = results
    pdf = paired_differences(paths, VANILLA, {"bootstrap_replicates": 1000})
    e = pdf[(pdf.method == "esrgan_debias") & (pdf.metric == "psnr")].iloc[0]
    assert (e["n"], e["diff"], e["lo"], e["hi"], e["excludes_zero"]) == (N, pytest.approx(0.3), pytest.approx(0.3),
                                                                       pytest.approx(0.3), True)
    r = pdf[(pdf.method == "realesrgan_debias") & (pdf.metric == "psnr")].iloc[0]
    assert r["diff"] == pytest.approx(0.0, abs=1e-12) and r["lo"] < 0 < r["hi"] and not r["excludes_zero"]
    lp = pdf[(pdf.method == "esrgan_debias") & (pdf.metric == "lpips")].iloc[0]
    assert (lp["lo"], lp["hi"]) == (0.0, 0.0) and not lp["excludes_zero"]  # identical values: no difference


def test_table3_shows_n_the_delta_row_and_the_differs_mark(results, tmp_path):
    _, paths = results
    df = T.table3_quality(paths, tmp_path / "t3", DIRECTIONS, vanilla=VANILLA,
                          statistics={"show_intervals": False})
    md = (tmp_path / "t3.md").read_text()
    assert f"(n = {N} images)" in md.splitlines()[0]
    psnr = df[(df.metric == "↑ PSNR (dB)") & (df.source == "ours")].iloc[0]
    assert "esrgan_debias:differs" in psnr["marks"] and "realesrgan_debias" not in psnr["marks"]
    delta = df[(df.metric == "↑ PSNR (dB)") & (df.source == "vs-vanilla")].iloc[0]
    assert delta["esrgan_debias"] == pytest.approx(0.3) and delta["esrgan_debias.lo"] == pytest.approx(0.3)
    assert math.isnan(delta["comp"]) and math.isnan(delta["esrgan"])
    assert psnr["esrgan.n"] == N and psnr["esrgan.lo"] < psnr["esrgan"] < psnr["esrgan.hi"]  # CSV: always
    line = next(ln for ln in md.splitlines() if ln.startswith("| ↑ PSNR"))
    assert f"{psnr['esrgan_debias']:.3g}{DIFFERS}" in line and " ± " not in line
    assert f"{DIFFERS} differs from the vanilla method (95%, n = {N} images)" in md
    ours_paper = T.table3_quality(paths, tmp_path / "t3b", DIRECTIONS, vanilla=VANILLA)
    assert ours_paper is not None


def test_no_differs_mark_from_fewer_images_than_paired_min_images(results, tmp_path):
    _, paths = results
    pdf = paired_differences(paths, VANILLA, {"paired_min_images": N + 1})
    e = pdf[(pdf.method == "esrgan_debias") & (pdf.metric == "psnr")].iloc[0]
    assert e["excludes_zero"] and not e["marked"]  # the interval is reported, the mark withheld
    df = T.table3_quality(paths, tmp_path / "t3", DIRECTIONS, vanilla=VANILLA,
                          statistics={"paired_min_images": N + 1})
    assert "differs" not in " ".join(df.get("marks", pd.Series(dtype=str)).fillna(""))
    md = (tmp_path / "t3.md").read_text()
    assert f"{DIFFERS} not given from n = {N} images (< statistics.paired_min_images = {N + 1})" in md
    assert DIFFERS + " differs" not in md


def test_show_intervals_puts_half_widths_in_markdown_and_latex(results, tmp_path):
    _, paths = results
    df = T.table3_quality(paths, tmp_path / "t3", DIRECTIONS, vanilla=VANILLA, statistics={"show_intervals": True})
    r = df[(df.metric == "↑ PSNR (dB)") & (df.source == "ours")].iloc[0]
    half = T.fmt_sig((r["esrgan.hi"] - r["esrgan.lo"]) / 2, sig=2)
    assert f"{T.fmt_sig(r['esrgan'])} ± {half} |" in (tmp_path / "t3.md").read_text()
    assert f"{T.fmt_sig(r['esrgan'])} $\\pm$ {half} &" in (tmp_path / "t3.tex").read_text()
    assert r"$^{\|}$" in (tmp_path / "t3.tex").read_text()


def test_table5_delta_psnr_is_the_paired_difference_with_its_mark(results, tmp_path):
    _, paths = results
    df = T.table5_ablation(paths, tmp_path / "t5", baselines={"esrgan": {"full": "esrgan_debias"},
                                                             "realesrgan": {"full": "realesrgan_debias"}})
    full = df[(df.baseline == "ESRGAN") & (df.variant == "Ours (full)")].iloc[0]
    assert full["d_psnr"] == pytest.approx(0.3) and (full["d_psnr.lo"], full["d_psnr.hi"]) == pytest.approx((0.3, 0.3))
    assert "d_psnr:differs" in full["marks"] and "psnr:differs" in full["marks"] and full["psnr.n"] == N
    other = df[(df.baseline == "Real-ESRGAN") & (df.variant == "Ours (full)")].iloc[0]
    assert "differs" not in str(other.get("marks", "")) and other["d_psnr.lo"] < 0 < other["d_psnr.hi"]
    assert f"(n = {N} images)" in (tmp_path / "t5.md").read_text().splitlines()[0]


def test_the_differs_mark_is_not_carried_into_ours_minus_paper():
    v = mk.with_marks(1.0, ["differs", "random-init"])
    assert mk.marks_of(mk.carry(0.5, v)) == ("random-init",)
    assert mk.DIFFERS.symbol not in "†‡§"


def test_seeds_average_bounds_and_keep_the_smallest_n(tmp_path):
    rng = np.random.default_rng(2)
    paths = [_write(tmp_path, "esrgan", BASE + rng.normal(0, 0.1, N), np.full(N, 0.3), run=f"esrgan@seed{s}")
             for s in (0, 1)]
    one = [read_metrics([p]).set_index("metric").loc["psnr"] for p in paths]
    both = read_metrics(paths).set_index("metric").loc["psnr"]
    assert both["n"] == N and both["seeds"] == 2
    assert both["lo"] == pytest.approx((one[0]["lo"] + one[1]["lo"]) / 2)
    assert both["hi"] == pytest.approx((one[0]["hi"] + one[1]["hi"]) / 2)


def test_vanilla_pairs_come_from_the_method_definitions():
    ci = vanilla_methods(load_config("config.yaml", "presets/ci.yaml"))
    assert ci == {"esrgan_debias": "esrgan", "realesrgan_cd": "realesrgan", "realesrgan_ddr": "realesrgan",
                  "realesrgan_debias": "realesrgan"}


def _domains(root, method, interval):
    p = root / "domains" / method / "demo_test" / "bpg" / "37.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps([{"metric": "lpips", "S_CR": 0.4, "S_CE": 0.2, "S_RE": 0.3, "deviation_pct": -31.25,
                              "n": N, "interval": interval}]))
    return p


def test_domains_table_and_triangles_show_n_and_the_spread(tmp_path):
    from debiasqe.report.figures import fig_triangles

    within = {"method": "m", "S_CR": [0.35, 0.45], "S_CE": [0.15, 0.25], "S_RE": [0.25, 0.35],
              "deviation_pct": [-60.0, 5.0]}
    paths = [_domains(tmp_path, "esrgan", within), _domains(tmp_path, "esrgan_debias", {"none": "no interval"})]
    dom = read_domains(paths)
    assert dom.iloc[0]["deviation_pct.lo"] == -60.0 and math.isnan(dom.iloc[1]["deviation_pct.lo"])
    df = T.table_domains(paths, tmp_path / "dom")
    assert df.iloc[0]["deviation_pct.hi"] == 5.0 and df.iloc[0]["S_CR.n"] == N
    assert f"LPIPS: n = {N} images" in (tmp_path / "dom.md").read_text()
    fig = fig_triangles(paths, tmp_path / "tri", metric="lpips")
    a, b = fig.axes[:2]
    assert a.get_title().endswith(f"n = {N} images")
    gids = lambda ax: {ln.get_gid() for ln in ax.get_lines()}  # noqa: E731
    assert {"spread_R", "spread_E"} <= gids(a) and not {"spread_R", "spread_E"} & gids(b)
    spread_e = next(ln for ln in a.get_lines() if ln.get_gid() == "spread_E")
    assert spread_e.get_xdata()[0] < 0.2 < spread_e.get_xdata()[1]  # crosses the midline: within noise
    verdict = next(t for t in a.texts if t.get_gid() == "verdict").get_text()
    assert "95%: [-60.0, +5.0]%, within noise" in verdict


def test_rd_curves_draw_each_points_interval(results, tmp_path):
    from debiasqe.report.figures import fig_rd_curves

    root, _ = results
    paths = [_write(root, m, BASE - k + g, np.full(N, 0.3), level=lv)
             for k, lv in enumerate((27, 32, 42)) for m, g in (("comp", 0), ("esrgan", 1))]
    paths += sorted(root.glob("metrics/*/demo_test/bpg/37.csv"))
    rates = []
    for lv, bpp in ((27, 1.0), (32, 0.6), (37, 0.4), (42, 0.2)):
        p = root / "compressed" / "demo_test" / "bpg" / str(lv) / "rate.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"image": ["a"], "bpp": [bpp]}).to_csv(p, index=False)
        rates.append(p)
    fig = fig_rd_curves(paths, rates, tmp_path / "rd", metric_names=["psnr"], methods=["comp", "esrgan"])
    ax = fig.axes[0]
    assert ax.get_title().endswith(f"n = {N} images")
    bars = {c.get_gid(): c for c in ax.collections}
    assert {"interval_comp", "interval_esrgan"} <= set(bars)
    segs = bars["interval_esrgan"].get_segments()
    assert len(segs) == 4 and all(s[0][1] < s[1][1] for s in segs)


def test_paired_comparisons_average_each_methods_runs_per_image_first(tmp_path):
    """Two seeds per method: the debiased runs are +0.2 and +0.4 dB above the vanilla runs' mean on
    every image, so the seed-averaged difference is exactly 0.3 dB with a degenerate interval."""
    for s, shift in ((0, 0.2), (1, 0.4)):
        _write(tmp_path, "esrgan", BASE + (0.1 if s else -0.1), np.full(N, 0.3), run=f"esrgan@seed{s}")
        _write(tmp_path, "esrgan_debias", BASE + shift, np.full(N, 0.3), run=f"esrgan_debias@seed{s}")
    pdf = paired_differences(sorted(tmp_path.glob("metrics/*/demo_test/bpg/37.csv")), {"esrgan_debias": "esrgan"})
    row = pdf[pdf.metric == "psnr"].iloc[0]
    assert (row["n"], row["diff"], row["lo"], row["hi"]) == (N, pytest.approx(0.3), pytest.approx(0.3),
                                                             pytest.approx(0.3))
    assert row["marked"]
