import json
import math

import numpy as np
import pandas as pd
import pytest

from debiasqe.core.errors import ConfigError, DebiasqeError
from debiasqe.report import tables as T
from debiasqe.report.results import ResultFileError, read_metrics, read_rates

METHODS = ["comp", "arcnn", "dcad", "dncnn", "cbdnet", "rdn", "rbqe", "mprnet",
           "esrgan", "esrgan_cd", "esrgan_ddr", "esrgan_debias",
           "realesrgan", "realesrgan_cd", "realesrgan_ddr", "realesrgan_debias"]
METRICS = ["ahiq", "clipiqa", "dists", "hyperiqa", "lpips", "musiq", "niqe", "pi", "psnr", "topiq_fr"]
LOWER = {"fid", "lpips", "dists", "niqe", "pi"}
DIRECTIONS = {m: m in LOWER for m in METRICS + ["fid"]}
LEVELS = {"bpg": [27, 32, 37, 42, 47], "jpeg": [10, 20, 30, 40, 50]}
DATASET = "div2k_valid"


def make_results(root, datasets=(DATASET,), codecs=("bpg", "jpeg"), methods=METHODS,
                 unavailable=("ahiq",), n_img=3, seed=0):
    """Synthetic upstream files in the pipeline's layout; returns dict of path lists."""
    rng = np.random.default_rng(seed)
    out = {"metrics": [], "rates": [], "domains": [], "realism": [], "disparity": []}
    for ds in datasets:
        for codec in codecs:
            levels = LEVELS[codec]
            for li, level in enumerate(levels):
                # quality index: 0 (worst, low rate) .. 1 (best)
                qi = li / (len(levels) - 1)
                if codec == "bpg":
                    qi = 1 - qi  # higher QP = lower rate
                bpp = 0.1 * 2 ** (3 * qi) * (1 + 0.02 * np.arange(n_img))
                p = root / "compressed" / ds / codec / str(level) / "rate.csv"
                p.parent.mkdir(parents=True, exist_ok=True)
                pd.DataFrame({"image": [f"im{i}" for i in range(n_img)], "width": 64, "height": 48,
                              "bytes": (bpp * 64 * 48 / 8).round(), "bpp": bpp, "backend": "test"}).to_csv(p, index=False)
                out["rates"].append(p)
                for mi, m in enumerate(methods):
                    gain = 0 if m == "comp" else 0.05 + 0.01 * mi
                    rows = {}
                    for metric in METRICS:
                        base = 0.2 + 0.6 * qi + gain
                        v = (1 - base) if metric in LOWER else base
                        v = v * (30 if metric == "psnr" else 1) + 0.001 * rng.standard_normal(n_img)
                        rows[metric] = np.full(n_img, np.nan) if metric in unavailable else v
                    df = pd.DataFrame({"image": [f"im{i}" for i in range(n_img)], **rows})
                    df["fid"] = np.nan
                    mean = {"image": "mean", **{k: np.nanmean(v) if not np.all(np.isnan(v)) else np.nan
                                                for k, v in rows.items()},
                            "fid": 20 * (1 - qi) + 5 - 3 * gain * 10}
                    df = pd.concat([df, pd.DataFrame([mean])], ignore_index=True)
                    p = root / "metrics" / m / ds / codec / f"{level}.csv"
                    p.parent.mkdir(parents=True, exist_ok=True)
                    df.to_csv(p, index=False)
                    out["metrics"].append(p)
                    if m == "comp":
                        continue
                    dev = 0.3 if m.endswith("_debias") else -0.6
                    for kind in ("domains", "realism"):
                        p = root / kind / m / ds / codec / f"{level}.json"
                        p.parent.mkdir(parents=True, exist_ok=True)
                        if kind == "domains":
                            obj = []
                            for met, scr in (("fid", 9.73), ("lpips", 0.22)):
                                sce = scr * (0.6 + 0.2 * (dev > 0))
                                sre = math.sqrt(max(sce**2 - dev * scr**2, 1e-6))
                                obj.append({"metric": met, "S_CR": scr, "S_CE": sce, "S_RE": sre,
                                            "deviation_pct": (sce**2 - sre**2) / scr**2 * 100})
                        else:
                            obj = {"raw": 0.75, "enhanced": 0.3, "compressed": 0.8,
                                   "conditional": m.endswith(("_cd", "_debias")),
                                   "discriminator": "unet" if m.startswith("real") else "vgg"}
                            if not m.startswith("real"):  # real*: an older file without "score" or "patches"
                                obj.update(score="relativistic", patches=8)
                        p.write_text(json.dumps(obj))
                        out[kind].append(p)
                    p = root / "disparity" / m / ds / codec / f"{level}.csv"
                    x = rng.uniform(0, 0.06, 20)
                    pd.DataFrame({"patch": range(20), "image": "im0", "pix_rc": x,
                                  "pix_ec": x * (0.9 if dev > 0 else 0.5), "feat_rc": x * 200,
                                  "feat_ec": x * (180 if dev > 0 else 90)}).to_csv(
                        p.parent.mkdir(parents=True, exist_ok=True) or p, index=False)
                    out["disparity"].append(p)
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    return make_results(root)


def _sel(paths, codec=None, level=None):
    return [p for p in paths if (codec is None or f"/{codec}/" in str(p))
            and (level is None or p.stem == str(level) or p.parent.name == str(level))]


def read3(stem):
    return [open(f"{stem}{e}", encoding="utf-8").read() for e in (".csv", ".md", ".tex")]


@pytest.mark.parametrize("x, kw, s", [
    (9.7301, {}, "9.73"), (10.34, {}, "10.3"), (0.4331, {}, "0.433"), (9.996, {}, "10.0"),
    (1234.5, {}, "1230"), (-5.634, {}, "-5.63"), (5.7, {"signed": True}, "+5.70"),
    (-0.0623, {"signed": True}, "-0.0623"), (0.0, {}, "0.00"), (float("nan"), {}, "–"),
    (None, {}, "–"), (60.66, {}, "60.7"), (0.00001234, {}, "1.23e-05"), (100, {}, "100"),
])
def test_fmt_sig(x, kw, s):
    assert T.fmt_sig(x, **kw) == s


def test_table3_has_every_method_and_metric_and_paper_rows(results, tmp_path):
    stem = tmp_path / "table3_quality"
    df = T.table3_quality(_sel(results["metrics"], "bpg", 37), stem, DIRECTIONS)
    csv, md, tex = read3(stem)
    for m in METHODS:
        assert m in df.columns
    assert set(df["metric"].str.split(" ", n=1).str[1]) >= {"FID", "LPIPS", "PSNR (dB)", "AHIQ"}
    assert len(set(df["metric"])) == 11
    # DIV2K + BPG 37 -> paper and ours-paper rows for every metric of the paper
    assert (df["source"] == "paper").sum() == 11 and (df["source"] == "ours-paper").sum() == 11
    fid_paper = df[(df.source == "paper") & df.metric.str.contains("FID")]
    assert fid_paper["comp"].iloc[0] == 9.73 and math.isnan(fid_paper["esrgan_cd"].iloc[0])
    fid_ours = df[(df.source == "ours") & df.metric.str.contains("FID")].iloc[0]
    fid_diff = df[(df.source == "ours-paper") & df.metric.str.contains("FID")].iloc[0]
    assert fid_diff["comp"] == pytest.approx(fid_ours["comp"] - 9.73)
    assert "↓ FID" in md and "↑ PSNR (dB)" in md and "$\\downarrow$ FID" in tex
    assert "AHIQ unavailable" in md.replace("ahiq", "AHIQ") and "notes" in csv.splitlines()[0]
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert rule in tex
    assert "esrgan\\_cd" not in tex and "Real-ESRGAN" in tex


def test_table3_configured_method_without_results_is_marked(results, tmp_path):
    df = T.table3_quality(_sel(results["metrics"], "bpg", 37), tmp_path / "t3", DIRECTIONS,
                          methods=["comp", "rdn", "newnet"])
    ours = df[df.source == "ours"]
    assert ours["newnet"].isna().all()
    avail = ours[~ours.metric.str.contains("AHIQ")]  # AHIQ: unavailable for all
    assert avail["notes"].str.contains("no newnet result").all()
    assert list(df.columns[:5]) == ["metric", "source", "comp", "rdn", "newnet"]


def test_latex_escapes(tmp_path):
    t = T.Table("a_b 50% × 2", [T.Col("k", "x_y", kind="text"), T.Col("v", "Δ v")],
                rows=[{"k": "r&d", "v": T.Cell(float("nan"), "why_not #1")}])
    tex = T.to_latex(t)
    for frag in (r"a\_b 50\% $\times$ 2", r"x\_y", r"$\Delta$ v", r"r\&d", r"why\_not \#1"):
        assert frag in tex, frag


def test_table3_needs_one_setting_and_directions(results, tmp_path):
    with pytest.raises(ConfigError, match="several"):
        T.table3_quality(results["metrics"], tmp_path / "t", DIRECTIONS)
    with pytest.raises(ConfigError, match="direction"):
        T.table3_quality(_sel(results["metrics"], "bpg", 37), tmp_path / "t", {"psnr": False})
    assert not list(tmp_path.iterdir())  # nothing half-written
    # other settings have no paper rows
    df = T.table3_quality(results["metrics"], tmp_path / "t", DIRECTIONS, codec="jpeg", level=10)
    assert set(df["source"]) == {"ours"}


def test_table4_bdbr(results, tmp_path):
    stem = tmp_path / "table4_bdbr_bpg"
    df = T.table4_bdbr(results["metrics"], results["rates"], stem, DIRECTIONS, codec="bpg")
    csv, md, tex = read3(stem)
    assert set(METHODS[1:]) <= set(df.columns) and "comp" not in df.columns
    ours = df[df.source == "ours"].set_index("metric")
    assert len(ours) == 11
    # synthetic methods are better than comp on every available metric -> negative BD-BR
    for metric in ("LPIPS", "PSNR (dB)", "DISTS", "NIQE"):
        assert (ours.loc[metric, METHODS[1:]].astype(float) < 0).all(), metric
    # unavailable metric -> NaN with the reason in notes / footnote
    assert ours.loc["AHIQ", METHODS[1:]].isna().all()
    assert "unavailable" in ours.loc["AHIQ", "notes"]
    assert "n/a [1]" in md and "\\textsuperscript{1}" in tex
    # paper rows for 9 metrics, none for NIQE/PI
    paper = df[df.source == "paper"].set_index("metric")
    assert len(paper) == 9 and "NIQE" not in paper.index
    assert paper.loc["PSNR (dB)", "esrgan"] == 58.7
    assert "+" in md  # signed formatting
    # jpeg: no paper rows
    df2 = T.table4_bdbr(results["metrics"], results["rates"], tmp_path / "t4j", DIRECTIONS, codec="jpeg")
    assert set(df2.source) == {"ours"}


def test_bdrate_frame_matches_direct_call(results):
    from debiasqe.report.bdrate import bd_rate
    bd = T.bdrate_frame(results["metrics"], results["rates"], DIRECTIONS, codec="bpg",
                        methods=["rdn"], metric_names=["lpips"])
    q = read_metrics(_sel(results["metrics"], "bpg"))
    r = read_rates(_sel(results["rates"], "bpg")).set_index("level")["bpp"]
    def curve(m):
        s = q[(q.method == m) & (q.metric == "lpips")]
        return [r[str(lv)] for lv in s.level], list(s.value)
    exp = bd_rate(*curve("comp"), *curve("rdn"), lower_better=True)
    assert bd["value"].iloc[0] == pytest.approx(exp.value)


def test_realism_tables(results, tmp_path):
    r = _sel(results["realism"], "bpg", 37)
    df1 = T.table1_realism(r, tmp_path / "table1_realism")
    df2 = T.table2_realism_conditional(r, tmp_path / "table2_realism_conditional")
    assert set(df1.method) == {"ESRGAN", "Real-ESRGAN", "AR-CNN", "DCAD", "DnCNN", "CBDNet", "RDN",
                               "RBQE", "MPRNet", "ESRGAN (2)", "Real-ESRGAN (2)"}
    assert "Ours w/ Real-ESRGAN" in set(df2.method)
    o = df1[(df1.source == "ours") & (df1.method == "ESRGAN")].iloc[0]
    assert o.enh_minus_raw == pytest.approx(0.3 - 0.75) and o.comp_minus_raw == pytest.approx(0.05)
    # each row says which form scored it: RaGAN relative to the other set, or plain sigmoid
    assert o.score == "RaGAN"
    assert df1[(df1.source == "ours") & (df1.method == "Real-ESRGAN")].iloc[0].score == "σ"
    assert "σ(C(x) − mean C(enhanced))" in read3(tmp_path / "table1_realism")[1]
    assert "higher = judged more real. n = 8 patches per image set." in read3(tmp_path / "table1_realism")[1]
    p = df1[(df1.source == "paper") & (df1.method == "ESRGAN")].iloc[0]
    assert p.raw == 0.73 and p.enh_minus_raw == -0.46
    p2 = df2[(df2.source == "paper")]
    assert list(p2.raw) == [0.87] and (df2.source == "ours-paper").sum() == 1
    tex = read3(tmp_path / "table1_realism")[2]
    assert "\\toprule" in tex and "\\bottomrule" in tex


def test_table5_ablation(results, tmp_path):
    df = T.table5_ablation(results["metrics"], tmp_path / "table5_ablation", codec="bpg", level=37)
    ours = df[df.source == "ours"]
    assert len(ours) == 8 and set(ours.baseline) == {"ESRGAN", "Real-ESRGAN"}
    van = ours[(ours.baseline == "ESRGAN") & (ours.variant == "Vanilla")].iloc[0]
    full = ours[(ours.baseline == "ESRGAN") & (ours.variant == "Ours (full)")].iloc[0]
    assert full.d_fid == pytest.approx(full.fid - van.fid) and math.isnan(van.d_fid)
    paper = df[df.source == "paper"]
    assert len(paper) == 8 and paper.iloc[1].fid == 8.05


def test_table5_marks_missing_variants(results, tmp_path):
    q = read_metrics(_sel(results["metrics"], "bpg", 37))
    q = q[~q.method.isin(["esrgan_cd", "realesrgan"])]
    df = T.table5_ablation(q, tmp_path / "t5")
    row = df[(df.source == "ours") & (df.variant == "With (1) cond. D") & (df.baseline == "ESRGAN")].iloc[0]
    assert math.isnan(row.fid) and "not run" in row.notes
    assert "n/a [" in read3(tmp_path / "t5")[1]


def test_domains_table(results, tmp_path):
    df = T.table_domains(_sel(results["domains"], "bpg", 37), tmp_path / "domains")
    ours = df[df.source == "ours"]
    assert len(ours) == 2 * 15
    p = df[(df.source == "paper") & (df.method == "Real-ESRGAN") & (df.metric == "FID")].iloc[0]
    assert p.deviation_pct == -78.36


def test_bad_input_is_one_clear_error(tmp_path):
    p = tmp_path / "metrics" / "comp" / "d" / "bpg" / "37.csv"
    p.parent.mkdir(parents=True)
    p.write_text("name,psnr\nx,1\n")
    with pytest.raises(ResultFileError, match="37.csv: missing column"):
        T.table3_quality([p], tmp_path / "t", DIRECTIONS)
    assert issubclass(ResultFileError, DebiasqeError)
    with pytest.raises(ResultFileError, match="not found"):
        T.table3_quality([tmp_path / "metrics" / "comp" / "d" / "bpg" / "42.csv"], tmp_path / "r", DIRECTIONS)
