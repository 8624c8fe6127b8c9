"""Bad and odd input images: one clear error naming the file, or an explicit conversion."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from debiasqe.cli import main
from debiasqe.data.datasets import prepare_dataset
from debiasqe.core.imageio import read_rgb
from debiasqe.core.errors import BadImageError, ConfigError


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def good_png(photos, tmp_path):
    path = tmp_path / "good.png"
    Image.fromarray(photos["coffee"]).save(path)
    return path


def test_truncated_png(good_png, tmp_path):
    bad = tmp_path / "truncated.png"
    bad.write_bytes(good_png.read_bytes()[:2000])
    with pytest.raises(BadImageError, match="truncated.png: cannot decode"):
        read_rgb(bad)


def test_zero_byte_file(tmp_path):
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    with pytest.raises(BadImageError, match=r"empty.png: empty file \(0 bytes\)"):
        read_rgb(bad)


def test_non_image_named_png(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture\n")
    with pytest.raises(BadImageError, match="notes.png: not an image file"):
        read_rgb(bad)


@pytest.mark.parametrize("mode,note", [("L", "grayscale"), ("P", "palette"), ("RGBA", "alpha channel dropped"),
                                       ("LA", "alpha channel dropped")])
def test_odd_modes_are_converted_with_a_note(tmp_path, photos, mode, note):
    src = Image.fromarray(photos["coffee"])
    img = src.convert(mode) if mode != "P" else src.quantize(64)
    path = tmp_path / f"{mode}.png"
    img.save(path)
    rgb, got = read_rgb(path)
    assert rgb.shape == photos["coffee"].shape and rgb.dtype == np.uint8
    assert note in got


def test_16bit_png_is_rounded_to_8bit(tmp_path):
    import imagecodecs

    a16 = (np.arange(4 * 6 * 3, dtype=np.uint16).reshape(4, 6, 3) * 900)
    path = tmp_path / "deep.png"
    path.write_bytes(imagecodecs.png_encode(a16))
    rgb, note = read_rgb(path)
    np.testing.assert_array_equal(rgb, np.round(a16 / 257.0).astype(np.uint8))
    assert "16-bit" in note
    gray = tmp_path / "deep_gray.png"
    Image.fromarray(np.full((3, 5), 65535, np.uint16)).save(gray)
    rgb, note = read_rgb(gray)
    assert rgb.shape == (3, 5, 3) and (rgb == 255).all() and "16-bit" in note


def test_tiny_and_odd_sized_images_compress(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (1, 1, 3), dtype=np.uint8)).save(folder / "one.png")
    Image.fromarray(rng.integers(0, 255, (20, 33, 3), dtype=np.uint8)).save(folder / "odd.png")
    for codec, level in [("jpeg", 10), ("bpg", 37)]:
        out = tmp_path / codec
        assert main(["compress", "--codec", codec, "--level", str(level), "--input", str(folder),
                     "--output", str(out), "--quiet", "--codec-options",
                     json.dumps({"backend": "libheif"} if codec == "bpg" else {})]) == 0
        rows = (out / "rate.csv").read_text().splitlines()
        assert rows[1].startswith("odd,33,20,") and rows[2].startswith("one,1,1,")


def test_bad_file_in_folder_fails_whole_job_with_its_name(tmp_path, photos, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(photos["coffee"]).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["compress", "--codec", "jpeg", "--level", "10", "--input", str(folder),
                 "--output", str(out), "--quiet", "--threads", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "b.png: empty file" in err and "\n" not in err
    assert not (out / "rate.csv").exists()  # nothing that looks complete


def test_custom_folder_dataset_converts_and_records(tmp_path, photos):
    root = tmp_path / "mine"
    root.mkdir()
    Image.fromarray(photos["coffee"]).convert("L").save(root / "gray.png")
    Image.fromarray(photos["astronaut"]).save(root / "colour.jpg")
    (root / "README.txt").write_text("ignored")
    out = prepare_dataset("mine", {"root": str(root)}, tmp_path / "prepared")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["image"] for r in manifest["images"]] == ["colour", "gray"]
    assert manifest["images"][1]["conversion"].startswith("L (grayscale)")
    assert Image.open(out / "gray.png").mode == "RGB"


def test_failed_preparation_leaves_nothing(tmp_path, photos):
    root = tmp_path / "mine"
    root.mkdir()
    Image.fromarray(photos["coffee"]).save(root / "a.png")
    (root / "b.png").write_text("junk")
    with pytest.raises(BadImageError, match="b.png"):
        prepare_dataset("mine", {"root": str(root)}, tmp_path / "prepared")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_unknown_demo_image(tmp_path):
    with pytest.raises(ConfigError, match="'lena' is not an embedded image; allowed: astronaut"):
        prepare_dataset("demo_train", {"images": ["lena"]}, tmp_path / "x")


def test_greyscale_demo_images_are_prepared_as_rgb(tmp_path):
    """The demo's greyscale photographs (more training content) come out as RGB with three equal
    channels, centre-cropped like the colour ones."""
    out = prepare_dataset("demo_train", {"images": ["camera", "coins"], "max_size": 96}, tmp_path / "grey")
    for name in ("camera", "coins"):
        rgb = np.asarray(Image.open(out / f"{name}.png"))
        assert rgb.shape == (96, 96, 3) and (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert [r["source"] for r in json.loads((out / "manifest.json").read_text())["images"]] == \
        ["scikit-image:camera", "scikit-image:coins"]
