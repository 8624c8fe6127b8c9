"""Tables over several training seeds: the mean of a method's runs (method@seedS) and the
sample standard deviation across them, worked out by hand from a synthetic two-seed folder."""

import math

import pandas as pd
import pytest

from debiasqe import paths
from debiasqe.report import tables as T
from debiasqe.report.results import read_domains, read_metrics

DATASET, CODEC, LEVEL = "div2k_valid", "bpg", 37
DIRECTIONS = {"psnr": False, "lpips": True, "fid": True}
#: mean-row values per run: (psnr, lpips, fid)
RUNS = {
    "comp": (30.0, 0.30, 20.0),
    "esrgan@seed0": (31.0, 0.20, 10.0),
    "esrgan@seed1": (32.0, 0.24, 12.0),
    "esrgan_debias@seed0": (31.5, 0.18, 9.0),
    "esrgan_debias@seed1": (31.9, float("nan"), 8.0),  # LPIPS lost for one seed
}


def _metrics_file(root, run, psnr, lpips, fid, marks=""):
    p = paths.result_path("metrics", root, method=run, dataset=DATASET, codec=CODEC, level=LEVEL)
    p.parent.mkdir(parents=True, exist_ok=True)
    # two images whose means are the mean row's values
    rows = [{"image": "a", "psnr": psnr - 0.5, "lpips": lpips - 0.01, "fid": None, "marks": ""},
            {"image": "b", "psnr": psnr + 0.5, "lpips": lpips + 0.01, "fid": None, "marks": ""},
            {"image": "mean", "psnr": psnr, "lpips": lpips, "fid": fid, "marks": marks}]
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


@pytest.fixture
def two_seeds(tmp_path):
    return [_metrics_file(tmp_path, run, *v, marks="lpips:random-init" if run == "esrgan@seed1" else "")
            for run, v in RUNS.items()]


def test_read_metrics_averages_a_methods_seeds_with_their_sample_sd(two_seeds):
    df = read_metrics(two_seeds).set_index(["method", "metric"])
    assert set(df.index.get_level_values("method")) == {"comp", "esrgan", "esrgan_debias"}
    e = df.loc[("esrgan", "psnr")]
    # (31 + 32) / 2; sd with n - 1: sqrt(((31 - 31.5)^2 + (32 - 31.5)^2) / 1) = sqrt(0.5)
    assert e.value == pytest.approx(31.5) and e.seeds == 2 and e.seed_spread == pytest.approx(math.sqrt(0.5))
    f = df.loc[("esrgan", "fid")]
    assert f.value == pytest.approx(11.0) and f.seed_spread == pytest.approx(math.sqrt(2.0))
    # one seed lost LPIPS: the mean is the other seed's, counted as one seed, no spread
    d = df.loc[("esrgan_debias", "lpips")]
    assert d.value == pytest.approx(0.18) and d.seeds == 1 and math.isnan(d.seed_spread)
    # a mark on one seed marks the mean
    assert df.loc[("esrgan", "lpips")].marks == ("random-init",)
    c = df.loc[("comp", "psnr")]  # comp is no training: one value, no spread
    assert c.value == 30.0 and c.seeds == 1 and math.isnan(c.seed_spread)


def test_table3_gives_the_mean_and_an_sd_over_seeds_row(two_seeds, tmp_path):
    out = T.table3_quality(two_seeds, tmp_path / "t3", DIRECTIONS, methods=["comp", "esrgan", "esrgan_debias"],
                           metric_names=["psnr", "lpips", "fid"])
    csv = pd.read_csv(tmp_path / "t3.csv")
    ours = csv[(csv.metric == "↑ PSNR (dB)") & (csv.source == "ours")].iloc[0]
    sd = csv[(csv.metric == "↑ PSNR (dB)") & (csv.source == "seed-sd")].iloc[0]
    assert (ours.comp, ours.esrgan, ours.esrgan_debias) == pytest.approx((30.0, 31.5, 31.7))
    assert math.isnan(sd.comp)
    # esrgan_debias: 31.5 and 31.9 -> sd sqrt(2 * 0.2^2) = 0.2 sqrt(2)
    assert (sd.esrgan, sd.esrgan_debias) == pytest.approx((math.sqrt(0.5), 0.2 * math.sqrt(2)))
    # the seed-sd row sits right under ours; the paper's rows (DIV2K, BPG 37) follow
    assert list(csv[csv.metric == "↑ PSNR (dB)"].source) == ["ours", "seed-sd", "paper", "ours-paper"]
    lp = csv[(csv.metric == "↓ LPIPS") & (csv.source == "seed-sd")].iloc[0]
    assert lp.esrgan == pytest.approx(math.sqrt(2) * 0.02) and math.isnan(lp.esrgan_debias)
    assert "esrgan_debias: 1 of 2 seeds gave a value" in lp.notes  # its mean is one seed's
    md = (tmp_path / "t3.md").read_text()
    assert "mean over 2 training seeds" in md
    assert "| ↑ PSNR (dB) | ours | 30.0 | 31.5 | 31.7 |" in md
    assert "|  | sd over seeds | – | 0.707 | 0.283 |" in md
    assert "sample standard deviation (n − 1)" in md
    assert "sd over seeds" in (tmp_path / "t3.tex").read_text()
    assert len(out) == 3 * 4


def test_table5_gives_sd_columns_that_the_paper_rows_leave_empty(two_seeds, tmp_path):
    T.table5_ablation(two_seeds, tmp_path / "t5", baselines={"esrgan": {"full": "esrgan_debias"}})
    csv = pd.read_csv(tmp_path / "t5.csv")
    full = csv[(csv.variant == "Ours (full)") & (csv.source == "ours")].iloc[0]
    assert (full.fid, full.psnr, full.d_fid, full.d_psnr) == pytest.approx((8.5, 31.7, -2.5, 0.2))
    assert (full.fid_seed_spread, full.psnr_seed_spread) == pytest.approx((math.sqrt(0.5), 0.2 * math.sqrt(2)))
    paper = csv[csv.source == "paper"]
    assert len(paper) and paper.fid_seed_spread.isna().all() and paper.psnr_seed_spread.isna().all()
    assert "FID sd (seeds)" in (tmp_path / "t5.md").read_text()


def test_a_missing_seed_is_footnoted(tmp_path):
    """Three seeds, one of which lacks PSNR: the sd cell says it comes from two of three."""
    files = [_metrics_file(tmp_path, f"dncnn@seed{s}", psnr, 0.2, 10.0)
             for s, psnr in enumerate((31.0, 33.0, float("nan")))]
    files.append(_metrics_file(tmp_path, "comp", 30.0, 0.3, 20.0))
    T.table3_quality(files, tmp_path / "t3", DIRECTIONS, metric_names=["psnr"])
    md = (tmp_path / "t3.md").read_text()
    assert "mean over 3 training seeds" in md
    assert "| 1.41 [1] |" in md and "[1] 2 of 3 seeds gave a value" in md  # sd of 31, 33 = sqrt(2)


def test_one_seed_tables_have_no_seed_rows_or_columns(tmp_path):
    files = [_metrics_file(tmp_path, m, *RUNS[f"{m}@seed0" if m != "comp" else m])
             for m in ("comp", "esrgan", "esrgan_debias")]
    df = read_metrics(files)
    assert (df.seeds == 1).all() and df.seed_spread.isna().all()
    T.table3_quality(files, tmp_path / "t3", DIRECTIONS, metric_names=["psnr", "lpips", "fid"])
    T.table5_ablation(files, tmp_path / "t5", baselines={"esrgan": {"full": "esrgan_debias"}})
    for stem in ("t3", "t5"):
        for ext in (".csv", ".md", ".tex"):
            assert "seed" not in (tmp_path / f"{stem}{ext}").read_text(), (stem, ext)


def test_domains_average_over_seeds(tmp_path):
    import json

    files = []
    for s, (sce, sre) in enumerate(((6.0, 8.0), (8.0, 6.0))):
        p = paths.result_path("domains", tmp_path, method=f"esrgan@seed{s}", dataset=DATASET, codec=CODEC,
                              level=LEVEL)
        p.parent.mkdir(parents=True, exist_ok=True)
        dev = (sce**2 - sre**2) / 10.0**2 * 100  # -28 % and +28 %
        p.write_text(json.dumps([{"metric": "fid", "S_CR": 10.0, "S_CE": sce, "S_RE": sre, "deviation_pct": dev}]))
        files.append(p)
    r = read_domains(files).iloc[0]
    assert (r.method, r.S_CE, r.S_RE, r.deviation_pct, r.seeds) == ("esrgan", 7.0, 7.0, 0.0, 2)
    assert r.seed_spread == pytest.approx(math.sqrt(2) * 28)
    table = T.table_domains(files, tmp_path / "dom")
    ours = table[table.source == "ours"]
    assert len(ours) == 1 and (ours.iloc[0].S_CE, ours.iloc[0].deviation_pct) == (7.0, 0.0)
    assert "mean over 2 training seeds" in (tmp_path / "dom.md").read_text()
