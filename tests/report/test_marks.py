"""Marked values: from the evaluation's provenance to the metrics CSV, every table format,
the console count and the report banner."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from debiasqe.evaluate.metrics import write_metrics_csv
from debiasqe.report import marks as mk
from debiasqe.report import tables as T
from debiasqe.report.results import read_metrics

DIRECTIONS = {"psnr": False, "lpips": True, "fid": True, "niqe": True}
#: the provenance an evaluation job records when LPIPS and FID ran random-init and NIQE had no file
EVALUATION = {"metrics": {"psnr": {"status": "no-weights"}, "lpips": {"status": "random-init"},
                          "niqe": {"status": "unavailable"}},
              "fid": {"weights": "random-init", "protocol": "patches"}}


def test_encode_decode_and_provenance():
    per = mk.metric_marks(EVALUATION)
    assert per == {"lpips": ("random-init",), "niqe": ("unavailable",), "fid": ("random-init",)}
    text = mk.encode(per)
    assert text == "fid:random-init;lpips:random-init;niqe:unavailable"
    assert mk.decode(text) == per and mk.decode("") == {} and mk.decode(math.nan) == {}
    assert mk.metric_marks({"metrics": {"lpips": {"status": "pretrained"}}, "fid": {"weights": "ab12"}}) == {}
    with pytest.raises(ValueError, match="unknown mark 'nope'"):
        mk.Marked(1.0, ("nope",))
    with pytest.raises(ValueError, match="is not metric:key"):
        mk.decode("lpips")
    # symbols keep registration order whatever order they were given in
    assert mk.Marked(1.0, ("unavailable", "random-init")).marks == ("random-init", "unavailable")
    assert mk.cell_text("0.123", ("random-init",)) == "0.123\u2020"
    assert mk.cell_text("0.123", ("random-init",), latex=True) == r"0.123$^\dagger$"


def _write(root, method, level, lpips, fid, evaluation):
    df = pd.DataFrame({"image": ["a", "b"], "psnr": [30.0, 32.0], "lpips": [lpips, lpips], "niqe": [math.nan] * 2})
    path = root / "metrics" / method / "demo_test" / "bpg" / f"{level}.csv"
    write_metrics_csv(df, path, {"method": method, "evaluation": evaluation}, set_level={"fid": fid})
    return path


@pytest.fixture
def marked_results(tmp_path):
    paths = []
    for level in (27, 32, 37, 42):
        paths.append(_write(tmp_path, "comp", level, 0.3 + 0.01 * level, 50.0 + level, EVALUATION))
        paths.append(_write(tmp_path, "dncnn", level, 0.2 + 0.01 * level, 40.0 + level, EVALUATION))
    return tmp_path, paths


def test_metrics_csv_carries_the_marks_column(marked_results):
    root, paths = marked_results
    csv = pd.read_csv(paths[0])
    assert list(csv.columns) == ["image", "psnr", "lpips", "niqe", "fid", "marks"]
    assert set(csv["marks"]) == {"fid:random-init;lpips:random-init;niqe:unavailable"}
    df = read_metrics(paths)
    assert set(df["metric"]) == {"psnr", "lpips", "niqe", "fid"}  # marks is no metric
    row = df[(df.method == "dncnn") & (df.metric == "lpips") & (df.level == "37")].iloc[0]
    assert row["value"] == pytest.approx(0.57) and row["marks"] == ("random-init",)
    assert df[df.metric == "psnr"]["marks"].map(len).sum() == 0
    assert mk.count_marked_outputs(root) == 8
    assert mk.count_marked_outputs(root, "unavailable") == 8


def test_table3_marks_cells_in_csv_markdown_and_latex(marked_results, tmp_path):
    _, paths = marked_results
    sel = [p for p in paths if p.stem == "37"]
    stem = tmp_path / "table3"
    df = T.table3_quality(sel, stem, DIRECTIONS, metric_names=["psnr", "lpips", "fid"])
    by_metric = {r["metric"].split(" ", 1)[1]: r for _, r in df.iterrows()}
    assert by_metric["LPIPS"]["dncnn"] == pytest.approx(0.57)  # the CSV keeps the number
    assert by_metric["LPIPS"]["marks"] == "comp:random-init;dncnn:random-init"
    assert by_metric["FID"]["marks"] == "comp:random-init;dncnn:random-init"
    assert pd.isna(by_metric["PSNR (dB)"]["marks"]) or by_metric["PSNR (dB)"]["marks"] == ""
    md = (tmp_path / "table3.md").read_text()
    assert "| 0.570\u2020 |" in md and "| 31.0 |" in md  # PSNR unmarked
    assert "\u2020 random-init network: not a measurement" in md
    tex = (tmp_path / "table3.tex").read_text()
    assert r"0.570$^\dagger$" in tex and r"$^\dagger$ random-init network: not a measurement" in tex


def _rate_files(root, images: list[str]) -> list:
    """rate.csv of BPG QP 27-42 on demo_test: one bpp per level, the same for every image."""
    rates = []
    for level, bpp in zip((27, 32, 37, 42), (1.0, 0.6, 0.35, 0.2)):
        p = root / "compressed" / "demo_test" / "bpg" / str(level) / "rate.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"image": images, "width": 8, "height": 8, "bytes": 8, "bpp": bpp,
                      "backend": "t"}).to_csv(p, index=False)
        rates.append(p)
    return rates


def test_table4_bdbr_of_a_marked_metric_is_marked(marked_results, tmp_path):
    root, paths = marked_results
    rates = _rate_files(root, images=["a", "b"])
    df = T.table4_bdbr(paths, rates, tmp_path / "t4", DIRECTIONS, "bpg", metric_names=["psnr", "lpips"])
    marks = dict(zip(df["metric"], df["marks"].fillna("")))
    assert marks["LPIPS"] == "dncnn:random-init" and marks["PSNR (dB)"] == ""
    assert "\u2020 random-init network: not a measurement" in (tmp_path / "t4.md").read_text()


def test_rd_curve_panels_and_figure_carry_the_marks(marked_results, tmp_path):
    from debiasqe.report.figures import fig_rd_curves

    root, paths = marked_results
    rates = _rate_files(root, images=["a"])
    fig = fig_rd_curves(paths, rates, tmp_path / "rd", metric_names=("lpips", "psnr"))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["LPIPS vs. bpp (BPG)\u2020", "PSNR (dB) vs. bpp (BPG)"]
    assert fig._suptitle.get_text() == "\u2020 random-init network: not a measurement"
    assert (tmp_path / "rd.png").is_file()


def test_report_banner(tmp_path):
    template = tmp_path / "workflow.rst"
    template.write_text("Title\n=====\n\nBody.\n")
    assert mk.banner_lines("auto", []) == []
    lines = mk.banner_lines("auto", [("lpips", "torch/hub/pyiqa/LPIPS_v0.1_alex-df73285e.pth"),
                                     ("vgg19", "torch/hub/checkpoints/vgg19-dcbb9e9d.pth")])
    assert lines[0].startswith("Not measurements: the numbers of lpips, vgg19 come from random-init networks")
    assert "torch/hub/checkpoints/vgg19-dcbb9e9d.pth" in lines[1] and "snakemake -f fetch_weights" in lines[1]
    out = mk.landing_page(template, tmp_path / "report" / "landing.rst", lines)
    text = open(out).read()
    assert text.startswith(".. raw:: html") and text.endswith("Title\n=====\n\nBody.\n")
    assert "Not measurements: the numbers of lpips, vgg19" in text
    from docutils.core import publish_parts
    html = publish_parts(text, writer="html")["html_body"]
    # docutils lifts the first title to the page title: the banner comes right under it, before anything else
    assert html.index("<h1 class=\"title\">Title</h1>") < html.index("Not measurements") < html.index("Body.")
    assert open(mk.landing_page(template, tmp_path / "plain.rst", [])).read() == template.read_text()
    assert "random-init" in mk.banner_lines("random")[0]


def _disparity_csv(root, vgg, method="esrgan"):
    """One evaluation job's disparity CSV, written by the stage's own writer from real images."""
    import numpy as np
    from PIL import Image

    from debiasqe.evaluate.stage import LevelPaths, _write_disparity

    rng = np.random.default_rng(0)
    raw = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    dirs = {}
    for name, img in {"raw": raw, "comp": raw // 2, "enh": raw // 3 * 2}.items():
        dirs[name] = root / name
        dirs[name].mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(dirs[name] / "a.png")
    csv = root / "disparity" / method / "demo_test" / "bpg" / "37.csv"
    lp = LevelPaths(37, dirs["comp"], dirs["enh"], root / "m.csv", root / "d.json", csv)
    _write_disparity(lp, ["a.png"], dirs["raw"], vgg, patch=16, patches=4, seed=0, device="cpu", batch=4)
    return csv


def test_disparity_figure_marks_features_of_a_random_init_vgg(tmp_path):
    """Fig. 6's feature-wise panel is a VGG-19 number: † when VGG-19 ran random-init, else no mark."""
    import torch

    from debiasqe.evaluate.stage import _vgg_features
    from debiasqe.report.figures import fig_disparity
    from debiasqe.report.results import read_disparity

    torch.manual_seed(0)
    random_vgg = _vgg_features("random", "cpu")
    assert random_vgg.provenance["sha256"] == "random-init"
    marked = _disparity_csv(tmp_path / "random", random_vgg)
    assert set(pd.read_csv(marked)["marks"]) == {"feat_ec:random-init;feat_rc:random-init"}
    df = read_disparity([marked])
    assert len(df) == 4 and df["marks"].iloc[0] == {"feat_ec": ("random-init",), "feat_rc": ("random-init",)}
    fig = fig_disparity([marked], tmp_path / "fig6")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["Pixel-wise MAE", "Feature-wise MAE\u2020"]
    assert fig._suptitle.get_text() == "\u2020 random-init network: not a measurement"

    def pretrained(x):  # stands in for a VGG-19 loaded from its verified file
        return random_vgg(x)

    pretrained.provenance = {"name": "vgg19", "file": "vgg19-dcbb9e9d.pth", "sha256": "ab" * 32}
    clean = _disparity_csv(tmp_path / "pretrained", pretrained)
    assert pd.read_csv(clean, keep_default_na=False)["marks"].eq("").all()
    fig = fig_disparity([clean], tmp_path / "fig6b")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["Pixel-wise MAE", "Feature-wise MAE"]
    assert fig._suptitle is None
    # a CSV written before the marks column existed reads as unmarked
    old = pd.read_csv(clean).drop(columns="marks")
    old.to_csv(clean, index=False)
    assert read_disparity([clean])["marks"].tolist() == [{}] * 4
