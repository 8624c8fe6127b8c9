"""Real splits in the dataset registry and config: precedence, shared archive settings, CLI stages."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from PIL import Image

from debiasqe.cli import main
from debiasqe.config import validate_config
from debiasqe.data import workflow_paths as wp
from debiasqe.data.datasets import archive_job, archive_jobs, dataset_source, prepare_dataset, remote_source
from debiasqe.core.errors import ConfigError

try:
    from httpserver import FileServer
except ImportError:  # tests/ is a package
    from tests.httpserver import FileServer


def _png(seed: int, size=(8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (seed * 40 % 256, 7, 9)).save(buf, "PNG")
    return buf.getvalue()


def test_precedence_root_archive_download(tmp_path):
    assert remote_source("div2k_valid", {"root": "r", "archive": "a.zip"}).mode == "root"
    src = remote_source("div2k_valid", {"archive": "~/a.zip"})
    assert src.mode == "archive" and src.local_archive.name == "a.zip" and "~" not in str(src.local_archive)
    src = remote_source("flickr2k_test", {"files": ["001989", "001990.png"]})
    assert src.mode == "download" and src.archive == "Flickr2K" and src.split.files == ("001989.png", "001990.png")
    assert dataset_source("div2k_train", {}) == "remote" and dataset_source("mine", {"root": "x"}) == "folder"


@pytest.mark.parametrize("name, spec, message", [
    ("div2k_val", {}, r"^datasets\.div2k_val: unknown dataset; known: demo_test, demo_train, div2k_train, "
                      r"div2k_valid, flickr2k_test, flickr2k_train, or give 'root: path/to/images'"),
    ("mine", {"root": "x", "mirrors": ["http://x"]}, r"^datasets\.mine\.mirrors: only the real splits"),
    ("div2k_valid", {"images": ["astronaut"]}, r"^datasets\.div2k_valid\.images: only for the embedded"),
    ("div2k_valid", {"files": ["0001"]}, r"^datasets\.div2k_valid\.files: '0001' is not a file of div2k_valid "
                                         r"\(0801\.png\.\.0900\.png\)$"),
    ("div2k_valid", {"mirrors": [{"url": "u", "md5": "12"}]}, r"^datasets\.div2k_valid\.mirrors\[0\]\.md5"),
])
def test_bad_entries_give_one_line(name, spec, message):
    with pytest.raises(ConfigError, match=message) as ei:
        dataset_source(name, spec)
    assert "\n" not in str(ei.value)


def test_schema_accepts_the_keys_and_fills_patches():
    cfg = validate_config({"datasets": {"div2k_valid": {"archive": "a.zip", "max_unpacked_gb": 1.5,
                                                        "mirrors": ["http://x/a.zip", {"url": "http://y", "size": 3}],
                                                        "files": ["0801"]}},
                           "train_dataset": "div2k_valid", "test_datasets": ["div2k_valid"]})
    assert cfg["patches"] == {"size": 128, "step": 64}
    with pytest.raises(ConfigError, match=r"config key datasets\.div2k_valid\.mirrors\[0\] is not a known key|"
                                          r"config key datasets\.div2k_valid\.mirrors\[0\]\.crc"):
        validate_config({"datasets": {"div2k_valid": {"mirrors": [{"url": "u", "crc": 1}]}}})


def test_splits_of_one_archive_share_its_settings(tmp_path):
    jobs = archive_jobs({"flickr2k_train": {"max_unpacked_gb": 20}, "flickr2k_test": {},
                         "div2k_train": {"root": "/data/div2k"}, "demo_test": {}})
    assert list(jobs) == ["Flickr2K"]  # root: needs no archive
    job = jobs["Flickr2K"]
    assert job.max_unpacked_gb == 20 and job.datasets == ("flickr2k_train", "flickr2k_test")
    assert job.local_archive is None and [m.format for m in job.mirrors] == ["tar", "zip"]  # the registry's
    assert json.loads(job.mirrors_json())[0]["md5"] == "5d3f39443d5e9489bff8963f8f26cb03"
    # the jobs' options carry only what the config sets (registry edits change no params)
    assert job.cli_options("download") == "" and job.cli_options("extract") == "--max-unpacked-gb 20"
    custom = archive_jobs({"div2k_valid": {"mirrors": ["http://m/v.zip"]}})["DIV2K_valid_HR"]
    assert custom.cli_options("download") == """--mirrors '[{"url": "http://m/v.zip"}]'"""
    with pytest.raises(ConfigError, match=r"^datasets\.flickr2k_train\.archive and datasets\.flickr2k_test\.archive "
                                          r"differ, but both splits come from the archive Flickr2K"):
        archive_jobs({"flickr2k_train": {"archive": "a.tar"}, "flickr2k_test": {"archive": "b.tar"}})
    # an archive no split asks for: the registry's defaults
    assert archive_job("DIV2K_train_HR", {}).mirrors[0].size == 3530603713


def test_workflow_paths():
    ds = {"div2k_valid": {}, "div2k_train": {"archive": "/d/DIV2K_train_HR.zip"},
          "flickr2k_test": {"root": "/d/flickr"}, "demo_test": {}}
    assert wp.extract_input("DIV2K_valid_HR", ds) == "resources/downloads/DIV2K_valid_HR.zip"
    assert wp.extract_input("DIV2K_train_HR", ds) == "/d/DIV2K_train_HR.zip"
    assert wp.prepare_inputs("div2k_valid", ds) == ["resources/extracted/DIV2K_valid_HR"]
    assert wp.prepare_inputs("flickr2k_test", ds) == [] and wp.prepare_inputs("demo_test", ds) == []
    spec = json.loads(wp.prepare_spec_json("div2k_train", ds))
    assert spec == {"root": "resources/extracted/DIV2K_train_HR"}
    assert json.loads(wp.prepare_spec_json("flickr2k_test", ds)) == {"root": "/d/flickr"}
    assert wp.patch_stores("d", [("jpeg", 10)]) == ["results/patches/d/raw.npy", "results/patches/d/jpeg/10.npy"]
    assert wp.patch_store_inputs("d", "jpeg/10")["images"] == "results/compressed/d/jpeg/10/png"


def test_prepare_without_root_says_how(tmp_path):
    with pytest.raises(ConfigError, match="datasets.div2k_valid: give 'root:'"):
        prepare_dataset("div2k_valid", {}, tmp_path / "out")


def test_cli_download_extract_patches(tmp_path, capsys):
    srv = tmp_path / "srv"
    srv.mkdir()
    with zipfile.ZipFile(srv / "v.zip", "w") as zf:
        for i in (801, 802):
            zf.writestr(f"DIV2K_valid_HR/{i:04d}.png", _png(i, (20, 18)))
    data = (srv / "v.zip").read_bytes()
    with FileServer(srv) as server:
        mirrors = json.dumps([{"url": server.url("v.zip"), "sha256": hashlib.sha256(data).hexdigest(),
                               "size": len(data)}])
        dl = tmp_path / "dl" / "DIV2K_valid_HR.zip"
        assert main(["download", "--archive", "DIV2K_valid_HR", "--output", str(dl), "--mirrors", mirrors,
                     "--quiet"]) == 0
    assert dl.read_bytes() == data
    ex = tmp_path / "ex" / "DIV2K_valid_HR"
    assert main(["extract", "--archive", "DIV2K_valid_HR", "--input", str(dl), "--output", str(ex),
                 "--mirrors", mirrors, "--quiet"]) == 0
    assert sorted(p.name for p in (ex / "DIV2K_valid_HR").iterdir()) == ["0801.png", "0802.png"]
    prepared = tmp_path / "datasets" / "div2k_valid"
    assert main(["prepare", "--dataset", "div2k_valid", "--spec", json.dumps({"root": str(ex), "files": ["0801", "0802"]}),
                 "--output", str(prepared)]) == 0
    assert main(["patches", "--input", str(prepared), "--output", str(tmp_path / "raw.npy"), "--quiet"]) == 0
    index = json.loads((tmp_path / "raw.index.json").read_text())
    assert [(e["name"], e["width"], e["height"]) for e in index["images"]] == [("0801", 20, 18), ("0802", 20, 18)]
    # a user archive that matches no given checksum: one line, nothing extracted
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("DIV2K_valid_HR/0801.png", _png(1))
    capsys.readouterr()
    assert main(["extract", "--archive", "DIV2K_valid_HR", "--input", str(bad), "--output", str(tmp_path / "x"),
                 "--mirrors", mirrors, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.zip: matches no known zip release" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
