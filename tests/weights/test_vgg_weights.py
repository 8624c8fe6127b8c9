"""VGG-19 feature extractor and the pretrained-weights registry, offline.

A random-init VGG-19 saved with torchvision's key layout stands in for the
real file and goes through the real lookup / hash / load path."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
import torch
import torchvision

from debiasqe.archs import VGG19_LAYERS, VGGFeatures, count_parameters
from debiasqe.core.errors import ConfigError, IntegrityError, WeightsUnavailableError
from debiasqe.weights import store as W
from debiasqe.weights.record import WeightFile, file_sha256

torch.set_num_threads(1)


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point both caches at empty temporary folders."""
    monkeypatch.setenv("DEBIASQE_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


@pytest.fixture(scope="module")
def fake_vgg(tmp_path_factory):
    """torchvision vgg19(weights=None) state dict saved as vgg19-dcbb9e9d.pth."""
    torch.manual_seed(0)
    model = torchvision.models.vgg19(weights=None)
    store = tmp_path_factory.mktemp("weights")
    path = store / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return model.features.eval(), path, digest


@pytest.fixture
def vgg_cache(fake_vgg, monkeypatch, tmp_path):
    features, path, digest = fake_vgg
    monkeypatch.setenv("DEBIASQE_WEIGHTS", str(path.parents[3]))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # the stand-in file has its own hash: register it in place of the real one
    monkeypatch.setitem(W.WEIGHTS, "vgg19", W.with_sha256("vgg19", digest))
    return features, path, digest


# ---------------------------------------------------------------- registry facts

def test_vgg19_record_follows_torchvision_hash_prefix_convention():
    spec = W.get_spec("vgg19")
    assert spec.url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert spec.name == Path(spec.url).name
    prefix = spec.name.rsplit("-", 1)[1].split(".")[0]
    assert prefix == spec.sha256_prefix == "dcbb9e9d"
    assert spec.sha256 is not None and len(spec.sha256) == 64 and spec.sha256.startswith(prefix)
    assert spec.relpath == "torch/hub/checkpoints/vgg19-dcbb9e9d.pth"  # where torch hub's loader looks
    with pytest.raises(ValueError, match="does not start with dcbb9e9d"):
        WeightFile("vgg19", "torchvision", spec.name, spec.url, spec.relpath, sha256="0" * 64,
                   sha256_prefix="dcbb9e9d")


def test_layer_table_matches_torchvision_indices():
    feats = torchvision.models.vgg19(weights=None).features
    assert len(VGG19_LAYERS) == len(feats) == 37
    for name, idx in VGG19_LAYERS.items():
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}[name[:4]]
        assert isinstance(feats[idx], kind), name
    assert VGG19_LAYERS["conv1_2"] == 2 and VGG19_LAYERS["conv2_2"] == 7 and VGG19_LAYERS["conv3_4"] == 16
    assert VGG19_LAYERS["conv4_4"] == 25 and VGG19_LAYERS["conv5_4"] == 34 and VGG19_LAYERS["relu5_4"] == 35


# ---------------------------------------------------------------- policies

def test_required_missing_raises_one_line(empty_caches):
    with pytest.raises(WeightsUnavailableError) as err:
        W.resolve("vgg19", "required")
    msg = str(err.value)
    assert "\n" not in msg
    assert "vgg19-dcbb9e9d.pth" in msg
    # the store's path, where fetch_weights writes it (the bug: fetch wrote there, jobs looked elsewhere)
    assert str(empty_caches / "weights" / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in msg
    assert "snakemake -f fetch_weights" in msg and "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    with pytest.raises(WeightsUnavailableError):
        VGGFeatures(["conv1_2"], policy="required")


def test_auto_missing_warns_and_random_inits(empty_caches):
    with pytest.warns(RuntimeWarning, match="RANDOM initialisation"):
        vgg = VGGFeatures(["conv1_2"], policy="auto")
    assert vgg.provenance == {"name": "vgg19", "file": None, "sha256": "random-init"}


def test_random_policy_does_not_look(vgg_cache):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vgg = VGGFeatures(["conv1_2"], policy="random")
    assert vgg.provenance["sha256"] == "random-init"
    features, _, _ = vgg_cache
    assert not torch.equal(vgg.features[0].weight, features[0].weight)


def test_bad_policy_and_layer_are_config_errors():
    with pytest.raises(ConfigError, match="required, auto, random"):
        W.resolve("vgg19", "sometimes")
    with pytest.raises(ConfigError, match="conv6_1"):
        VGGFeatures(["conv6_1"], policy="random")
    with pytest.raises(ConfigError, match="unknown weight file 'nope'"):
        W.get_spec("nope")


# ---------------------------------------------------------------- real load path

def test_vgg_features_equal_torchvision_slices(vgg_cache):
    features, path, digest = vgg_cache
    layers = ["conv1_2", "relu2_2", "conv3_4", "conv4_4", "conv5_4"]
    vgg = VGGFeatures(layers, policy="required")
    assert vgg.provenance == {"name": "vgg19", "file": str(path), "sha256": digest}
    assert len(vgg.features) == VGG19_LAYERS["conv5_4"] + 1  # truncated after the deepest layer
    assert count_parameters(vgg) == 20_024_384  # all 16 convs of VGG-19
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training

    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = vgg(x)
    assert list(out) == layers
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    xn = (x.detach() - mean) / std
    with torch.no_grad():
        for name in layers:
            ref = features[: VGG19_LAYERS[name] + 1](xn.clone())
            torch.testing.assert_close(out[name], ref, rtol=1e-4, atol=1e-5)
    # conv features are pre-ReLU (negative values survive), gradients reach the input
    assert (out["conv5_4"] < 0).any()
    assert (out["relu2_2"] >= 0).all()
    out["conv5_4"].abs().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_short_names_follow_before_relu(vgg_cache):
    a = VGGFeatures(["2_2"], before_relu=True, policy="required")
    b = VGGFeatures(["2_2"], before_relu=False, policy="required")
    assert a.names == {"2_2": "conv2_2"} and b.names == {"2_2": "relu2_2"}
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(b(x)["2_2"], torch.relu(a(x)["2_2"]))


def test_input_norm_off(vgg_cache):
    features, _, _ = vgg_cache
    vgg = VGGFeatures(["conv1_1"], input_norm=False, policy="required")
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(vgg(x)["conv1_1"], features[0](x))


def test_jobs_read_the_store_only(fake_vgg, monkeypatch, tmp_path):
    """A file in the user's torch hub is not read by jobs; fetch_weights links it into the store."""
    from debiasqe.weights import fetch as WF

    _, path, digest = fake_vgg
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / path.name).symlink_to(path)
    store = tmp_path / "store"
    monkeypatch.setenv("DEBIASQE_WEIGHTS", str(store))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setitem(W.WEIGHTS, "vgg19", W.with_sha256("vgg19", digest))
    with pytest.raises(WeightsUnavailableError):
        W.resolve("vgg19", "required")
    rows = WF.fetch([], store, "required", vgg=True, prober=WF.Prober(0.1))
    assert [(r["state"], r["source"]) for r in rows] == [("linked", str(hub / path.name))]
    found, prov = W.resolve("vgg19", "required")
    assert found == store / "torch/hub/checkpoints" / path.name and prov["sha256"] == digest


def test_wrong_hash_fails_with_clear_message(vgg_cache):
    _, path, digest = vgg_cache
    W.WEIGHTS["vgg19"] = W.with_sha256("vgg19", "0" * 64)  # restored by monkeypatch
    with pytest.raises(IntegrityError) as err:
        VGGFeatures(["conv1_2"], policy="required")
    msg = str(err.value)
    assert str(path) in msg and "0" * 64 in msg and digest in msg and "\n" not in msg


def test_tampered_file_fails_hash_check(empty_caches, monkeypatch):
    folder = empty_caches / "weights"
    folder.mkdir()
    path = folder / "toy.pth"
    torch.save({"w": torch.arange(1000.0)}, path)
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(W.WEIGHTS, "toy", WeightFile("toy", "torchvision", "toy.pth", "https://example.invalid/toy.pth",
                                                     "toy.pth", sha256=good))
    state, prov = W.load_state_dict("toy", "required")
    assert torch.equal(state["w"], torch.arange(1000.0)) and prov["sha256"] == good
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    bad = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(IntegrityError) as err:
        W.load_state_dict("toy", "auto")
    assert str(err.value) == (f"{path}: sha256 {bad} but toy.pth must be {good}; "
                              f"delete it and run `snakemake -f fetch_weights`")


def test_hash_cache_keys_on_mtime_and_size(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    assert file_sha256(p) == hashlib.sha256(b"abc").hexdigest()
    p.write_bytes(b"abcd")
    assert file_sha256(p) == hashlib.sha256(b"abcd").hexdigest()


def test_random_init_keeps_deep_features_alive():
    # torchvision's VGG init (Kaiming, fan-out): a 5% change of the input moves conv5_4
    # by a few percent of its magnitude. PyTorch's default conv init shrinks each layer
    # ~6x, which left conv5_4 differences at ~5e-8 and ESRGAN's L_R at ~5e-9.
    torch.manual_seed(0)
    vgg = VGGFeatures(["conv1_2", "conv5_4"], policy="random")
    x = torch.rand(2, 3, 64, 64)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    fx, fy = vgg(x), vgg(y)
    for layer in ("conv1_2", "conv5_4"):
        scale = fx[layer].abs().mean()
        change = (fx[layer] - fy[layer]).abs().mean()
        assert 0.05 < scale < 10, (layer, scale)
        assert change > 0.01 * scale, (layer, change, scale)
    conv = vgg.features[0]
    assert torch.all(conv.bias == 0)
    # fan-out Kaiming: std = sqrt(2 / (64 * 3 * 3)) = 0.1768
    assert conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.1)
