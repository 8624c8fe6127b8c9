"""A user's own folder: Mac litter, phone orientation, colour profiles, huge
headers; and the real splits' pixels left exactly as decoded."""

from __future__ import annotations

import io
import json
import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from debiasqe.data.datasets import prepare_dataset
from debiasqe.core.imageio import list_images, read_rgb
from debiasqe.core.errors import BadImageError
from icc_profiles import rgb_profile


def _pattern(h=24, w=40) -> np.ndarray:
    a = np.random.RandomState(3).randint(0, 256, (h, w, 3), dtype=np.uint8)
    a[0, 0] = (255, 0, 0)  # a marked corner
    return a


def _exif(orientation: int):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex


def png_header_only(w: int, h: int) -> bytes:
    """A PNG whose IHDR claims w x h (and whose data is a stub): a decompression-bomb header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------ hidden files


def test_appledouble_and_ds_store_are_skipped_and_listed(tmp_path, caplog):
    d = tmp_path / "mine"
    d.mkdir()
    Image.fromarray(_pattern()).save(d / "photo.png")
    (d / "._photo.png").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 80)  # AppleDouble header
    (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 60)
    assert list_images(d) == [d / "photo.png"]
    with caplog.at_level(logging.INFO):
        prepare_dataset("mine", {"root": str(d)}, tmp_path / "out")
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [r["image"] for r in m["images"]] == ["photo"]
    assert m["skipped_hidden"] == [".DS_Store", "._photo.png"]
    assert f"{d}: skipped 2 hidden files (.DS_Store, ._photo.png)" in caplog.messages


# ------------------------------------------------------------------ EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillows_exif_transpose(tmp_path, orientation):
    p = tmp_path / "o.png"
    Image.fromarray(_pattern()).save(p, exif=_exif(orientation))
    got, note = read_rgb(p, own=True)
    with Image.open(p) as im:
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.array_equal(got, want)
    assert (note is None) == (orientation == 1)


def test_phone_photo_orientation_6_is_stored_upright(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    a = _pattern(300, 451)  # stored landscape 451 x 300, shot portrait
    Image.fromarray(a).save(d / "phone.png", exif=_exif(6))
    prepare_dataset("mine", {"root": str(d)}, tmp_path / "out")
    with Image.open(tmp_path / "out" / "phone.png") as im:
        out = np.asarray(im)
    assert out.shape == (451, 300, 3)  # 300 wide, 451 high
    # 90° clockwise: the stored top-left corner is now the top-right one
    assert tuple(out[0, -1]) == (255, 0, 0) and np.array_equal(out, np.rot90(a, k=-1))
    rec = json.loads((tmp_path / "out" / "manifest.json").read_text())["images"][0]
    assert rec["conversion"] == "EXIF orientation 6 -> upright (rotated 90° clockwise)"
    assert (rec["width"], rec["height"]) == (300, 451)


# ------------------------------------------------------------------ ICC profiles


def test_icc_profile_converted_to_srgb_by_hand_values(tmp_path):
    p = tmp_path / "wide.png"
    Image.new("RGB", (8, 8), (128, 64, 255)).save(p, icc_profile=rgb_profile())
    got, note = read_rgb(p, own=True)
    # linear-light input -> sRGB encoding: 1.055 * v**(1/2.4) - 0.055
    # 128/255 -> 0.7367 -> 187.8; 64/255 -> 0.5381 -> 137.2; 255 -> 255
    assert tuple(got[0, 0]) == (188, 137, 255)
    assert note == "ICC profile 'linear RGB (test)' -> sRGB"


def test_srgb_profile_is_left_alone(tmp_path):
    from PIL import ImageCms

    p = tmp_path / "s.png"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    a = _pattern()
    Image.fromarray(a).save(p, icc_profile=srgb)
    got, note = read_rgb(p, own=True)
    assert np.array_equal(got, a) and note is None


def test_registry_split_pixels_untouched(tmp_path):
    """DIV2K / Flickr2K: samples exactly as stored, whatever tags the file carries."""
    root = tmp_path / "DIV2K_valid_HR"
    root.mkdir()
    a = _pattern(30, 40)
    Image.fromarray(a).save(root / "0801.png", exif=_exif(6), icc_profile=rgb_profile())
    prepare_dataset("div2k_valid", {"root": str(tmp_path), "files": ["0801"]}, tmp_path / "out")
    with Image.open(tmp_path / "out" / "0801.png") as im:
        assert np.array_equal(np.asarray(im), a)
    rec = json.loads((tmp_path / "out" / "manifest.json").read_text())["images"][0]
    assert rec["conversion"] is None
    # the same file in a user's folder is turned and converted
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "0801.png").write_bytes((root / "0801.png").read_bytes())
    got, note = read_rgb(mine / "0801.png", own=True)
    assert got.shape == (40, 30, 3) and "ICC profile" in note and "EXIF orientation 6" in note


# ------------------------------------------------------------------ pixel limit


def test_bomb_header_is_refused_before_decoding(tmp_path):
    p = tmp_path / "huge.png"
    p.write_bytes(png_header_only(20000, 20000))
    with pytest.raises(BadImageError) as exc:
        read_rgb(p)
    assert str(exc.value) == (f"{p}: 20000x20000 is 400.0 megapixels, over the limit of 179 "
                              "(raise max_megapixels in the dataset's entry if the image is genuine)")


def test_max_megapixels_key_moves_the_limit_both_ways(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(_pattern(100, 100)).save(p)  # 0.01 MP
    with pytest.raises(BadImageError, match="over the limit of 0.005"):
        read_rgb(p, max_megapixels=0.005)
    assert read_rgb(p, max_megapixels=0.01)[0].shape == (100, 100, 3)
    # Pillow's own guard (89.5 MP warning) no longer applies: the key decides alone
    import PIL.Image

    saved = PIL.Image.MAX_IMAGE_PIXELS
    PIL.Image.MAX_IMAGE_PIXELS = 5000  # as if 0.005 MP were Pillow's limit
    try:
        assert read_rgb(p)[0].shape == (100, 100, 3)
    finally:
        PIL.Image.MAX_IMAGE_PIXELS = saved
    assert PIL.Image.MAX_IMAGE_PIXELS == saved


def test_max_megapixels_reaches_prepare_through_the_config(tmp_path, capsys):
    from debiasqe import cli
    from debiasqe.config import validate_config

    d = tmp_path / "mine"
    d.mkdir()
    Image.fromarray(_pattern(100, 100)).save(d / "a.png")
    cfg = validate_config({"datasets": {"mine": {"root": str(d), "max_megapixels": 0.001}, "demo_train": {}},
                           "test_datasets": ["mine"]})
    spec = json.dumps(cfg["datasets"]["mine"])
    assert cli.main(["prepare", "--dataset", "mine", "--spec", spec, "--output", str(tmp_path / "o")]) == 1
    assert "over the limit of 0.001" in capsys.readouterr().err
