import json

import numpy as np
import pandas as pd
from PIL import Image

from debiasqe.compress.codecs import get_codec
from debiasqe.compress.codecs.heif_payload import hevc_annexb
from debiasqe.compress.stage import compress_folder, rgb_psnr


def _folder(tmp_path, photos):
    folder = tmp_path / "raw"
    folder.mkdir()
    for name, img in photos.items():
        Image.fromarray(img).save(folder / f"{name}.png")
    return sorted(folder.iterdir())


def test_rate_csv_matches_the_files_written(tmp_path, photos):
    images = _folder(tmp_path, photos)
    for codec, level in [("jpeg", 30), ("bpg", 37)]:
        out = tmp_path / codec
        compress_folder(images, codec, level, out, threads=2, options={"backend": "libheif"} if codec == "bpg" else {},
                        progress=False)
        df = pd.read_csv(out / "rate.csv")
        assert list(df.columns) == ["image", "width", "height", "bytes", "bpp", "backend", "file_bytes", "psnr"]
        assert list(df.image) == ["astronaut", "coffee"]
        ext = get_codec(codec, backend="libheif").extension if codec == "bpg" else "jpg"
        for row in df.itertuples():
            bitstream = (out / "bitstream" / f"{row.image}.{ext}").read_bytes()
            raw = np.asarray(Image.open(tmp_path / "raw" / f"{row.image}.png"))
            decoded = np.asarray(Image.open(out / "png" / f"{row.image}.png"))
            assert (row.width, row.height) == (raw.shape[1], raw.shape[0])
            assert row.file_bytes == len(bitstream)
            expected = len(bitstream) if codec == "jpeg" else len(hevc_annexb(bitstream))
            assert row.bytes == expected
            assert abs(row.bpp - row.bytes * 8 / (row.width * row.height)) < 1e-6
            assert abs(row.psnr - rgb_psnr(raw, decoded)) < 1e-3
            # the PNG is the decoded bitstream
            np.testing.assert_array_equal(decoded, get_codec(codec, backend="libheif").decode(bitstream)
                                          if codec == "bpg" else get_codec("jpeg").decode(bitstream))
        prov = json.loads((out / "provenance.json").read_text())
        assert prov["level"] == level and prov["codec"] == codec and "git_commit" in prov


def test_rgb_psnr_by_hand():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 12  # mse = 144 / 12 = 12
    assert abs(rgb_psnr(a, b) - 10 * np.log10(255**2 / 12)) < 1e-9
    assert rgb_psnr(a, a) == float("inf")


def test_parallel_and_serial_give_identical_outputs(tmp_path, photos):
    images = _folder(tmp_path, photos)
    compress_folder(images, "bpg", 42, tmp_path / "s", threads=1, options={"backend": "libheif"}, progress=False)
    compress_folder(images, "bpg", 42, tmp_path / "p", threads=2, options={"backend": "libheif"}, progress=False)
    assert (tmp_path / "s/rate.csv").read_text() == (tmp_path / "p/rate.csv").read_text()
    for f in (tmp_path / "s/bitstream").iterdir():
        assert f.read_bytes() == (tmp_path / "p/bitstream" / f.name).read_bytes()


def test_rerun_removes_the_temp_file_a_killed_attempt_left(tmp_path, photos):
    """kill -9 during the atomic write of provenance.json leaves its temp file beside
    the outputs, where Snakemake's clean-up does not reach; the rerun removes it."""
    images = _folder(tmp_path, photos)
    out = tmp_path / "jpeg30"
    out.mkdir()
    stale = out / ".provenance.json.0r4lhyw7.tmp.json"
    stale.write_text('{"half": ')
    compress_folder(images, "jpeg", 30, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["bitstream", "png", "provenance.json", "rate.csv"]
