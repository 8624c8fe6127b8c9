"""Evaluator: every image-level pyiqa metric end to end, offline.

Weights: random-init files placed by tests/offline_weights.py in the exact
layout pyiqa/timm/torchvision/CLIP read (kept in pytest's cache folder so
they are written once, ~1.1 GB in float16), then loaded with
``pretrained='required'`` through pyiqa's real loading path. fid is
exercised in test_fid.py (set-level, pyiqa's FID Inception).
"""

import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # offline_weights
from offline_weights import patch_clip_url, place_random_weights  # noqa: E402

from debiasqe.weights import metric_weights as mw  # noqa: E402
from debiasqe.evaluate import metrics as M  # noqa: E402
from debiasqe.core.errors import BadImageError, WeightsUnavailableError  # noqa: E402
from debiasqe.core.provenance import sha256_file  # noqa: E402

IMAGE_METRICS = [m for m in mw.METRICS if m != "fid"]
# Test-time crops kept small so CPU tests stay short (pyiqa options, not retyped defaults)
FAST = {"ahiq": {"num_crop": 1}, "hyperiqa": {"num_crop": 1}}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def weights_dir(request, tmp_path_factory):
    # pytest's cache keeps the placed files between sessions (they take a while to write);
    # with the cache plugin off (-p no:cacheprovider) a session folder does
    cache = getattr(request.config, "cache", None)
    d = Path(cache.mkdir("debiasqe-offline-weights-v1")) if cache else tmp_path_factory.mktemp("weights")
    place_random_weights(d, mw.METRICS)
    return d


def _png(path, arr):
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two pairs of 224x224 (AHIQ's ViT needs 224 with one crop)."""
    d = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(2):
        r = (rng.random((224, 224, 3)) * 255).astype(np.uint8)
        e = np.clip(r.astype(int) + rng.integers(-12, 13, r.shape), 0, 255).astype(np.uint8)
        pairs.append((f"img{i}", _png(d / f"e{i}.png", e), _png(d / f"r{i}.png", r)))
    return pairs


@pytest.fixture(scope="module")
def built(weights_dir):
    mp = pytest.MonkeyPatch()
    patch_clip_url(mp, weights_dir)
    try:
        yield {m: M.build_metric(m, "required", weights_dir, options=FAST.get(m))
               for m in IMAGE_METRICS}
    finally:
        mp.undo()


# ------------------------------------------------------------ end to end
def test_all_metrics_end_to_end_with_placed_weights(built, images, weights_dir, tmp_path):
    decodes = []
    real = M.read_image
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "read_image", lambda p: decodes.append(p) or real(p))
        df, prov = M.evaluate_images(IMAGE_METRICS, images[:1], built=built,
                                     nr_cache=tmp_path / "nr.json", progress=False)
    print("seconds per metric:", prov["seconds"])
    assert list(df.columns) == ["image"] + IMAGE_METRICS
    assert len(df) == 1 and np.isfinite(df[IMAGE_METRICS].to_numpy()).all()
    assert sorted(decodes) == sorted([images[0][1], images[0][2]])  # each image decoded once
    for m in IMAGE_METRICS:
        rec = prov["metrics"][m]
        if m == "psnr":
            assert rec["status"] == "no-weights" and rec["weights"] == {}
            continue
        assert rec["status"] == "pretrained"
        for f in mw.files_for(m):
            assert rec["weights"][f.key] == sha256_file(mw.find_present(f, weights_dir))


def test_placed_files_are_what_got_loaded(built, weights_dir):
    """The real loaders took our files as they are (DESIGN §5 claim)."""
    def file_sd(metric, kind, repo=""):
        f = next(f for f in mw.files_for(metric) if f.kind == kind and repo in (f.hf_repo or ""))
        p = mw.find_present(f, weights_dir)
        if kind == "timm":
            from safetensors.torch import load_file
            return load_file(str(p))
        if kind == "clip":
            return torch.jit.load(str(p)).state_dict()
        return torch.load(p, weights_only=True)

    lp = built["lpips"].model.net
    torch.testing.assert_close(lp.lin0.model[1].weight,
                               file_sd("lpips", "pyiqa")["lin0.model.1.weight"].float())
    torch.testing.assert_close(lp.net.slice1[0].weight,  # torchvision alexnet checkpoint
                               file_sd("lpips", "torchvision")["features.0.weight"].float())
    dn = built["dists"].model.net
    torch.testing.assert_close(dn.stage1[0].weight,
                               file_sd("dists", "torchvision")["features.0.weight"].float())
    hy = built["hyperiqa"].model.net
    torch.testing.assert_close(hy.base_model.conv1.weight,  # HyperIQA 'params' overrides timm
                               file_sd("hyperiqa", "pyiqa")["params"]["base_model.conv1.weight"].float())
    ah = built["ahiq"].model.net
    torch.testing.assert_close(ah.vit.patch_embed.proj.weight,  # timm HF cache layout
                               file_sd("ahiq", "timm", "vit_")["patch_embed.proj.weight"].float())
    cl = built["clipiqa"].model.net.clip_model[0]
    torch.testing.assert_close(cl.visual.conv1.weight,
                               file_sd("clipiqa", "clip")["visual.conv1.weight"].float())


def test_direction_and_mode_from_pyiqa(built):
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    for m in IMAGE_METRICS:
        info = M.metric_info(m)
        assert info.lower_better == built[m].model.lower_better
        assert info.mode == built[m].model.metric_mode
        assert info.lower_better == DEFAULT_CONFIGS[m].get("lower_better", False)
    assert M.metric_info("fid").mode == "set" and M.metric_info("fid").lower_better
    expected_lower = {"dists", "fid", "lpips", "niqe", "pi"}  # paper Table 3 arrows
    assert {m for m in mw.METRICS if M.metric_info(m).lower_better} == expected_lower
    assert {m for m in IMAGE_METRICS if M.metric_info(m).mode == "FR"} == {
        "ahiq", "dists", "lpips", "psnr", "topiq_fr"}


# ------------------------------------------------------------ psnr by hand
def test_psnr_hand_computed(tmp_path):
    r = np.full((32, 48, 3), 100, np.uint8)
    e = r.copy()
    e[:16] += 10  # half the pixels off by 10/255
    pairs = [("a", _png(tmp_path / "e.png", e), _png(tmp_path / "r.png", r)),
             ("b", _png(tmp_path / "e2.png", r + 10), _png(tmp_path / "r2.png", r))]
    df, prov = M.evaluate_images(["psnr"], pairs, pretrained_policy="required",
                                 weights_dir=tmp_path / "none", progress=False)
    mse_a = 0.5 * (10 / 255) ** 2
    assert df.loc[0, "psnr"] == pytest.approx(10 * math.log10(1 / mse_a), abs=1e-3)  # 31.1411
    assert df.loc[1, "psnr"] == pytest.approx(20 * math.log10(25.5), abs=1e-3)       # 28.1308


# ------------------------------------------------------------ NR cache
def test_nr_cache_reused(built, images, tmp_path):
    calls = {"n": 0}
    b = built["niqe"]
    model = b.model

    class Counting(torch.nn.Module):
        lower_better = model.lower_better

        def forward(self, x, *a):
            calls["n"] += x.shape[0]
            return model(x, *a)

    counted = {"niqe": M.BuiltMetric("niqe", b.info, Counting(), b.status, b.weights)}
    cache = tmp_path / "nr.json"
    df1, p1 = M.evaluate_images(["niqe"], images, built=counted, nr_cache=cache,
                                reference_nr=True, progress=False)
    assert calls["n"] == 4  # 2 enhanced + 2 raw references
    assert p1["nr_cache"]["misses"] == 4 and cache.is_file()
    # Same raw references, another "method": the raw NR scores come from the cache.
    same_raw = [(n, r, r) for n, _, r in images]
    df2, p2 = M.evaluate_images(["niqe"], same_raw, built=counted, nr_cache=cache,
                                reference_nr=True, progress=False)
    assert calls["n"] == 4 and p2["nr_cache"]["hits"] == 4
    np.testing.assert_allclose(df2["niqe"], df1["niqe_ref"])
    # A rewritten image is scored again.
    e0 = images[0][1]
    os.utime(e0, ns=(10**9, 10**9))
    M.evaluate_images(["niqe"], images, built=counted, nr_cache=cache, progress=False)
    assert calls["n"] == 5


# ------------------------------------------------------------ bad input
def test_size_mismatch_names_file(tmp_path):
    e = _png(tmp_path / "big.png", np.zeros((40, 40, 3), np.uint8))
    r = _png(tmp_path / "ref.png", np.zeros((32, 40, 3), np.uint8))
    with pytest.raises(BadImageError, match=r"big\.png.*differs.*ref\.png"):
        M.evaluate_images(["psnr"], [("x", e, r)], weights_dir=tmp_path, progress=False)


def test_missing_image_names_file(tmp_path):
    r = _png(tmp_path / "ref.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(BadImageError, match="nothere.png"):
        M.evaluate_images(["psnr"], [("x", str(tmp_path / "nothere.png"), r)],
                          weights_dir=tmp_path, progress=False)


@pytest.mark.parametrize("fmt", ["npy", "tiff", "tensor"])
def test_nan_pixels_name_file(tmp_path, fmt):
    a = np.full((16, 16, 3), 0.5, np.float32)
    a[3, 4, 1] = np.nan
    if fmt == "tensor":
        with pytest.raises(BadImageError, match="frame7.*NaN"):
            M.to_float_rgb(torch.from_numpy(a).numpy(), "frame7")
        return
    p = tmp_path / f"nan.{fmt}"
    if fmt == "npy":
        np.save(p, a)
    else:
        import tifffile
        tifffile.imwrite(p, a)
    with pytest.raises(BadImageError, match=rf"nan\.{fmt}.*NaN"):
        M.read_image(p)
    r = tmp_path / "r.npy"
    np.save(r, np.full((16, 16, 3), 0.5, np.float32))
    with pytest.raises(BadImageError, match=rf"nan\.{fmt}"):
        M.evaluate_images(["psnr"], [("x", str(p), str(r))], weights_dir=tmp_path, progress=False)


def test_float_and_16bit_inputs_decode(tmp_path):
    a = np.linspace(0, 1, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
    np.save(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(M.read_image(tmp_path / "a.npy"), a)
    np.save(tmp_path / "b.npy", a * 2)
    with pytest.raises(BadImageError, match=r"b\.npy.*outside"):
        M.read_image(tmp_path / "b.npy")
    (tmp_path / "c.png").write_bytes(b"not a png")
    with pytest.raises(BadImageError, match=r"c\.png.*cannot decode"):
        M.read_image(tmp_path / "c.png")


# ------------------------------------------------------------ weights policy
@pytest.mark.parametrize("metric", [m for m in IMAGE_METRICS if m != "psnr"])
def test_required_without_weights_is_one_clear_error(metric, tmp_path):
    with pytest.raises(WeightsUnavailableError) as ei:
        M.build_metric(metric, "required", tmp_path / "empty")
    msg = str(ei.value)
    assert "\n" not in msg and metric in msg
    assert any(f.name in msg for f in mw.files_for(metric))


def test_auto_without_weights_random_init_or_unavailable(tmp_path, images):
    empty = tmp_path / "empty"
    status = {m: M.build_metric(m, "auto", empty).status
              for m in ["psnr", "niqe", "pi", "lpips", "musiq", "dists", "topiq_fr", "clipiqa"]}
    assert status == {"psnr": "no-weights", "niqe": "unavailable", "pi": "unavailable",
                      "lpips": "random-init", "musiq": "random-init", "dists": "random-init",
                      "topiq_fr": "random-init", "clipiqa": "random-init"}
    names = ["psnr", "niqe", "pi", "lpips", "musiq"]
    df, prov = M.evaluate_images(names, images[:1], pretrained_policy="auto",
                                 weights_dir=empty, progress=False)
    assert np.isfinite(df[["psnr", "lpips", "musiq"]].to_numpy()).all()
    assert df[["niqe", "pi"]].isna().all().all()
    assert prov["metrics"]["niqe"]["weights"] == {"niqe_modelparameters.mat": "unavailable"}
    assert "missing" in prov["metrics"]["pi"]["note"]
    assert set(prov["metrics"]["lpips"]["weights"].values()) == {"random-init"}


def test_random_policy_ignores_present_files(weights_dir):
    b = M.build_metric("lpips", "random", weights_dir)
    assert b.status == "random-init"
    assert M.build_metric("niqe", "random", weights_dir).status == "pretrained"


def test_random_init_lpips_keeps_the_trained_sign_constraint(tmp_path):
    """Trained LPIPS heads are non-negative, so are its distances; random ones had either sign (the
    demo's S_CE came out negative and no LPIPS triangle could be drawn)."""
    b = M.build_metric("lpips", "random", tmp_path / "none")
    heads = torch.cat([p.flatten() for p in b.model.net.lins.parameters()])
    assert (heads >= 0).all() and (heads > 0).any()
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((4, 3, 64, 64), dtype=np.float32))
    y = (x + torch.from_numpy(rng.normal(0, 0.05, x.shape).astype(np.float32))).clamp(0, 1)
    with torch.no_grad():
        d = b.model(y, x).flatten()
    assert (d > 0).all()


def test_pickled_weights_refused(tmp_path):
    f = mw.files_for("musiq")[0]
    p = f.path(tmp_path)
    p.parent.mkdir(parents=True)
    torch.save({"x": object()}, p)  # needs unpickling of arbitrary objects
    with pytest.raises(WeightsUnavailableError, match="weights_only"):
        M.build_metric("musiq", "required", tmp_path)


# ------------------------------------------------------------ CSV writer
def test_write_metrics_csv(tmp_path):
    df = pd.DataFrame({"image": ["a", "b"], "psnr": [30.0, 32.0], "niqe": [np.nan, np.nan]})
    out = tmp_path / "m" / "metrics.csv"
    M.write_metrics_csv(df, out, {"metrics": {"psnr": {"weights": {}}}})
    back = pd.read_csv(out)
    assert back["image"].tolist() == ["a", "b", "mean"]
    assert back.loc[2, "psnr"] == 31.0 and math.isnan(back.loc[2, "niqe"])
    assert (tmp_path / "m" / "metrics.csv.provenance.json").is_file()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------ the weights' environment


def test_weights_env_points_caches_and_restores(tmp_path):
    import huggingface_hub.constants as hc
    import pyiqa.utils.download_util as du
    before = (os.environ.get("TORCH_HOME"), hc.HF_HUB_CACHE, du.DEFAULT_CACHE_DIR)
    with mw.weights_env(tmp_path) as wd:
        assert torch.hub.get_dir() == str(wd / "torch" / "hub")
        assert hc.HF_HUB_CACHE == str(wd / "hf" / "hub") and hc.HF_HUB_OFFLINE
        assert du.DEFAULT_CACHE_DIR == str(wd / "torch" / "hub" / "pyiqa")
    assert (os.environ.get("TORCH_HOME"), hc.HF_HUB_CACHE, du.DEFAULT_CACHE_DIR) == before


# ------------------------------------------------------------ several sets at once
@pytest.fixture(scope="module")
def three_methods(tmp_path_factory, images):
    """Three 'methods' on the same two references (224 px, as above)."""
    d = tmp_path_factory.mktemp("methods")
    rng = np.random.default_rng(1)
    sets = {}
    for k in range(3):
        pairs = []
        for n, _, r in images:
            ra = np.asarray(Image.open(r)).astype(int)
            e = np.clip(ra + rng.integers(-20 - 10 * k, 21 + 10 * k, ra.shape), 0, 255).astype(np.uint8)
            pairs.append((n, _png(d / f"m{k}_{n}.png", e), r))
        sets[f"m{k}"] = pairs
    return sets


#: feature networks each full-reference metric shares between its targets' references
SHARED_NETS = {"lpips": 1, "dists": 1, "topiq_fr": 1, "ahiq": 2}


@pytest.mark.parametrize("metric", IMAGE_METRICS)
def test_evaluate_sets_equals_direct_pyiqa_per_metric(built, three_methods, metric, tmp_path):
    """All methods batched, references shared, channels-last batches where the registry
    says so: each number equals pyiqa's own call on that one image pair (the same metric
    object given the file paths: pyiqa decodes them itself, into contiguous NCHW). The
    tolerance covers float32 rounding, which depends on batch size and memory layout
    (measured up to ~1e-5 relative, TOPIQ-FR)."""
    b = built[metric]
    decodes = []
    real = M.read_image
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "read_image", lambda p: decodes.append(p) or real(p))
        dfs, prov = M.evaluate_sets([metric], three_methods, built={metric: b}, batch_size=2,
                                    nr_cache=tmp_path / "nr.json", reference_nr=True, progress=False)
    assert sorted(dfs) == ["m0", "m1", "m2"]
    for key, pairs in three_methods.items():
        df = dfs[key]
        assert list(df["image"]) == [n for n, _, _ in pairs]
        for (n, e, r), got in zip(pairs, df[metric]):
            with torch.no_grad():
                want = float(b.model(e, r) if b.info.mode == "FR" else b.model(e))
            assert got == pytest.approx(want, rel=1e-4, abs=1e-5), (metric, key, n)
        if b.info.mode == "NR":  # the raw row: scored once, the same for every method
            np.testing.assert_array_equal(df[metric + "_ref"], dfs["m0"][metric + "_ref"])
    assert len(decodes) == len(set(decodes)) == 8  # 6 targets and 2 shared references, once each
    if b.info.mode == "NR":
        assert prov["images_scored"][metric] == 8  # each raw image scored once for all methods
    if metric in SHARED_NETS:
        # the feature network was asked for 6 target rows + 6 reference rows and computed 6 + 2
        k = SHARED_NETS[metric]
        assert prov["shared_features"][metric] == {"rows": 12 * k, "computed": 8 * k}
    if metric == "clipiqa":  # the ten prompts encoded once, not once per batch
        assert prov["shared_features"]["clipiqa"]["computed"] == 1


@pytest.mark.parametrize("metric", ["lpips", "dists", "clipiqa", "musiq", "psnr"])
def test_batches_reach_the_network_in_the_registry_layout(built, three_methods, metric, monkeypatch):
    """Channels-last memory where the registry asks for it (faster CPU convolutions),
    pyiqa's contiguous NCHW elsewhere."""
    net = built[metric].model.net
    seen = []
    real = net.forward
    monkeypatch.setattr(net, "forward", lambda x, *a, **k: seen.append(
        x.is_contiguous(memory_format=torch.channels_last)) or real(x, *a, **k))
    M.evaluate_sets([metric], three_methods, built={metric: built[metric]}, batch_size=3, progress=False)
    assert seen and set(seen) == {metric in M.CHANNELS_LAST}
    assert M.CHANNELS_LAST == {"lpips", "dists", "clipiqa", "hyperiqa", "topiq_fr"}


def test_shared_reference_branch_runs_once_per_reference(built, three_methods, monkeypatch):
    """Count the rows the real LPIPS AlexNet sees: 6 targets + 2 references, not 12."""
    from pyiqa.archs import lpips_arch

    seen = []
    real = lpips_arch.alexnet.forward
    monkeypatch.setattr(lpips_arch.alexnet, "forward", lambda self, x: seen.append(x.shape[0]) or real(self, x))
    M.evaluate_sets(["lpips"], three_methods, built={"lpips": built["lpips"]}, batch_size=3, progress=False)
    assert sum(seen) == 8
    seen.clear()
    M.evaluate_sets(["lpips"], three_methods, built={"lpips": built["lpips"]}, batch_size=3,
                    share_features=False, progress=False)
    assert sum(seen) == 12  # the plain pyiqa call: one reference branch per pair
    assert "forward" not in vars(built["lpips"].model.net.net)  # the wrapper is gone afterwards


def test_row_memo_dedupes_and_keeps_references():
    calls = []

    def feats(x):
        calls.append(x.shape[0])
        return [x * 2, x.sum((1, 2, 3))]

    memo = M.RowMemo(feats)
    r0, r1 = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    t = torch.rand(3, 3, 4, 4)
    out = memo(torch.cat([r0, r0, r0]))
    assert calls == [1] and torch.equal(out[0], torch.cat([r0, r0, r0]) * 2)
    assert memo(t)[0].shape == (3, 3, 4, 4)  # distinct targets: computed, not remembered
    assert calls == [1, 3]
    out = memo(torch.cat([r0, r1, r1]))  # r0 remembered, r1 computed once
    assert calls == [1, 3, 1]
    torch.testing.assert_close(out[1], torch.cat([r0, r1, r1]).sum((1, 2, 3)))
    memo(torch.cat([r1, r1]))
    assert calls == [1, 3, 1] and (memo.rows, memo.computed) == (3 + 3 + 3 + 2, 1 + 3 + 1)


def test_evaluate_sets_rejects_repeated_names(images):
    with pytest.raises(M.ConfigError, match="repeat within set 'a'"):
        M.evaluate_sets(["psnr"], {"a": [images[0], images[0]]}, progress=False)
