"""FID from few patches: the few-samples mark (§) with its n, from the metrics CSV and the domains
files to every table and figure that shows FID."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from debiasqe.evaluate.metrics import write_metrics_csv
from debiasqe.report import marks as mk
from debiasqe.report import tables as T
from debiasqe.report.results import read_domains, read_metrics

DIRECTIONS = {"psnr": False, "fid": True}
NOTE = "few samples (n = 4): FID from fewer patches than evaluation.fid_min_samples"


def _evaluation(n: int) -> dict:
    return {"metrics": {"psnr": {"status": "no-weights"}},
            "fid": {"weights": "ab12", "protocol": "patches", "n": n, "images": 2, "min_samples": 2048}}


def _write(root, method, level, fid, n=4):
    df = pd.DataFrame({"image": ["a", "b"], "psnr": [30.0, 32.0], "fid": [float("nan")] * 2})
    path = root / "metrics" / method / "demo_test" / "bpg" / f"{level}.csv"
    write_metrics_csv(df, path, {"method": method, "evaluation": _evaluation(n)},
                      set_level={"fid": fid, "fid.n": n, "fid.images": 2, "fid.lo": fid - 5, "fid.hi": fid + 5,
                                 "fid.interval": "cluster percentile bootstrap over images"})
    return path


@pytest.fixture
def few(tmp_path):
    return tmp_path, [_write(tmp_path, m, lv, f + lv) for lv in (27, 32, 37, 42)
                      for m, f in (("comp", 50.0), ("realesrgan", 40.0), ("realesrgan_debias", 35.0))]


def test_the_mark_follows_the_rule_and_the_csv_carries_it_with_n(few):
    assert mk.metric_marks(_evaluation(4)) == {"fid": ("few-samples",)}
    assert mk.metric_marks(_evaluation(2048)) == {}  # as many patches as the rule asks
    root, paths = few
    csv = pd.read_csv(paths[0])
    mean = csv.iloc[-1]
    assert mean["marks"] == "fid:few-samples" and mean["fid.n"] == 4 and mean["fid.images"] == 2
    df = read_metrics(paths)
    assert set(df["metric"]) == {"psnr", "fid"}  # fid.n, fid.lo, ... are statistics, no metrics
    row = df[(df.metric == "fid") & (df.method == "comp") & (df.level == "37")].iloc[0]
    assert row["marks"] == ("few-samples",) and row["n"] == 4 and (row["lo"], row["hi"]) == (82.0, 92.0)
    assert mk.count_marked_outputs(root, "few-samples") == 12


def test_table3_shows_the_mark_and_its_footnote_with_n(few, tmp_path):
    _, paths = few
    df = T.table3_quality([p for p in paths if p.stem == "37"], tmp_path / "t3", DIRECTIONS)
    fid_row = df[df["metric"] == "↓ FID"].iloc[0]
    assert fid_row["comp"] == 87.0 and "comp:few-samples" in fid_row["marks"]
    md = (tmp_path / "t3.md").read_text()
    assert "| 87.0\u00a7 |" in md and "| 31.0 |" in md  # PSNR unmarked
    assert f"\u00a7 {NOTE}" in md
    tex = (tmp_path / "t3.tex").read_text()
    assert r"87.0\textsuperscript{\S}" in tex and r"\textsuperscript{\S} few samples (n = 4)" in tex


def test_table5_table4_and_rd_curves_carry_n_into_their_footnotes(few, tmp_path):
    from debiasqe.report.figures import fig_rd_curves

    _, paths = few
    T.table5_ablation([p for p in paths if p.stem == "37"], tmp_path / "t5",
                      baselines={"realesrgan": {"full": "realesrgan_debias"}})
    md = (tmp_path / "t5.md").read_text()
    assert "| 72.0\u00a7 | 31.0 | -5.00\u00a7 | 0.00 |" in md  # Δ FID of two few-sample FIDs: marked
    assert f"\u00a7 {NOTE}" in md
    rates = []
    for level, bpp in zip((27, 32, 37, 42), (1.0, 0.6, 0.35, 0.2)):
        p = tmp_path / "compressed" / "demo_test" / "bpg" / str(level) / "rate.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"image": ["a", "b"], "bpp": bpp}).to_csv(p, index=False)
        rates.append(p)
    T.table4_bdbr(paths, rates, tmp_path / "t4", DIRECTIONS, "bpg", metric_names=["fid"])
    t4 = (tmp_path / "t4.md").read_text()
    assert f"\u00a7 {NOTE}" in t4 and t4.splitlines()[0].endswith("(pchip) (FID: n = 4 patches per level)**")
    fig = fig_rd_curves(paths, rates, tmp_path / "rd", metric_names=("fid", "psnr"))
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["FID vs. bpp (BPG)\u00a7\nn = 4 patches",
                                                                   "PSNR (dB) vs. bpp (BPG)"]  # no psnr.n here
    assert fig._suptitle.get_text().startswith(f"\u00a7 {NOTE}")


def test_footnote_lists_every_n_of_the_table():
    notes = mk.footnotes(["few-samples", "random-init"],
                         details=[("few-samples", "n = 16"), ("few-samples", "n = 4"), ("few-samples", "n = 4")])
    assert notes[0].startswith("\u2020 random-init")
    assert notes[1].startswith("\u00a7 few samples (n = 4, n = 16): FID from fewer patches")
    assert mk.footnotes(["few-samples"])[0].startswith("\u00a7 few samples: FID")  # no n known


def _domains(root, method, n, marks, weights="ab12"):
    p = root / "domains" / method / "demo_test" / "bpg" / "37.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps([{"metric": "fid", "S_CR": 10.0, "S_CE": 6.0, "S_RE": 7.0, "deviation_pct": -13.0,
                              "n": n, "marks": marks, "weights": weights},
                             {"metric": "lpips", "S_CR": 0.3, "S_CE": 0.2, "S_RE": 0.2, "deviation_pct": 0.0,
                              "weights": {"x": "ab12"}}]))
    return p


def test_triangles_mark_few_sample_fids_in_the_table_and_the_figure(tmp_path):
    from debiasqe.report.figures import fig_triangles

    paths = [_domains(tmp_path, "realesrgan", 4, ["few-samples"]),
             _domains(tmp_path, "dncnn", 4, ["few-samples"], weights="random-init")]
    dom = read_domains(paths)
    assert dom.set_index("metric").loc["fid", "marks"].tolist() == [("few-samples",), ("random-init", "few-samples")]
    assert dom.set_index("metric").loc["lpips", "marks"].tolist() == [(), ()]  # LPIPS: per-image, no FID rule
    T.table_domains(paths, tmp_path / "dom")
    md = (tmp_path / "dom.md").read_text()
    assert "| 10.0\u00a7 |" in md and "| 0.300 |" in md and f"\u00a7 {NOTE}" in md
    fig = fig_triangles(paths, tmp_path / "tri", metric="fid")
    assert all(ax.get_title().endswith("\u00a7\nn = 4 patches") for ax in fig.axes if ax.get_title())
    # one footnote per line, so that long notes fit the figure's width
    assert fig._suptitle.get_text().split("\n") == ["\u2020 random-init network: not a measurement",
                                                    f"\u00a7 {NOTE}, biased upwards and noisy"]
