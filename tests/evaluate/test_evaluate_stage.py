"""The evaluation job scores every codec and level in one pass: its numbers
are pyiqa's own, and a raw image's LPIPS features are computed once for all
levels (random-init networks, seeded; offline)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from debiasqe.evaluate import metrics as M
from debiasqe.evaluate.stage import LevelPaths, evaluate_levels


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _set(folder: Path, base: np.ndarray, noise: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i, a in enumerate(base):
        b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
        Image.fromarray(b).save(folder / f"{i}.png")
    return folder


def test_job_scores_all_levels_together_with_pyiqa_numbers(tmp_path):
    rng = np.random.default_rng(0)
    base = (rng.random((2, 64, 64, 3)) * 255).astype(np.uint8)
    raw = _set(tmp_path / "raw", base, 0, 0)
    levels = {"jpeg": [], "bpg": []}
    for k, (codec, lv) in enumerate([("jpeg", 10), ("jpeg", 20), ("bpg", 37)]):
        comp = _set(tmp_path / f"comp{k}", base, 20, 10 + k)
        enh = _set(tmp_path / f"enh{k}", base, 8, 20 + k)
        levels[codec].append(LevelPaths(lv, comp, enh, tmp_path / "m" / f"{codec}{lv}.csv",
                                        tmp_path / "d" / f"{codec}{lv}.json", None))
    evaluate_levels("m", "ds", levels, raw, metrics=["psnr", "lpips"], features_dir=tmp_path / "f",
                    weights_dir=tmp_path / "w", policy="random", batch=4, progress=False)

    lp_net = M.build_metric("lpips", "random", tmp_path / "w")  # the job's network (seed 0)
    read = lambda p: M.to_tensor(M.read_image(p))[None]  # noqa: E731
    for lp in (lp for lps in levels.values() for lp in lps):
        df = pd.read_csv(lp.metrics_csv)
        assert list(df["image"]) == ["0", "1", "mean"]
        with torch.no_grad():
            for i in range(2):
                e, r, c = read(lp.enh_dir / f"{i}.png"), read(raw / f"{i}.png"), read(lp.comp_dir / f"{i}.png")
                assert df.loc[i, "lpips"] == pytest.approx(float(lp_net.model(e, r)), rel=1e-4, abs=1e-6)
                assert df.loc[i, "psnr"] == pytest.approx(float(M.build_metric("psnr").model(e, r)), rel=1e-6)
            s_ce = np.mean([float(lp_net.model(read(lp.enh_dir / f"{i}.png"), read(lp.comp_dir / f"{i}.png")))
                            for i in range(2)])
            s_cr = np.mean([float(lp_net.model(read(lp.comp_dir / f"{i}.png"), read(raw / f"{i}.png")))
                            for i in range(2)])
        tri = [d for d in json.loads(lp.domains_json.read_text()) if d["metric"] == "lpips"][0]
        assert tri["S_CE"] == pytest.approx(s_ce, rel=1e-4, abs=1e-6)
        assert tri["S_CR"] == pytest.approx(s_cr, rel=1e-4, abs=1e-6)
        assert tri["S_RE"] == pytest.approx(df.loc[2, "lpips"], rel=1e-6)
        ev = json.loads(Path(str(lp.metrics_csv) + ".provenance.json").read_text())["evaluation"]
        assert ev["n_images"] == 2 and ev["evaluated_together"] == 3
        # 3 levels x 2 enhanced targets + the 2 raw references once, not once per level
        assert ev["shared_features"]["lpips"] == {"rows": 12, "computed": 8}
