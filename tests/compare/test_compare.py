"""The compare page (debiasqe compare): its data against the result files, and a headless browser.

The results tree is small but real: crops of scikit-image photographs,
JPEG-compressed with Pillow at QF 10 and 30, two image filters standing in
for methods (median, unsharp mask), and metrics CSVs written by the
evaluation's own code (pyiqa PSNR; LPIPS from a random-init network, as
offline runs have it, so its values carry the dagger).
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image, ImageFilter

from chromium_cdp import Browser, find_chromium
from debiasqe.compare.page import RANDOM_INIT_NOTE, build_page, fmt_value, parse_crop
from debiasqe.core.errors import BadImageError, ConfigError

DATASET = "demo_test"
CODECS = {"jpeg": [10, 30]}
METHODS = ["comp", "median3", "unsharp"]
FILTERS = {"median3": ImageFilter.MedianFilter(3), "unsharp": ImageFilter.UnsharpMask(2, 150, 2)}
CROPS = {"chelsea": (slice(40, 168), slice(80, 240)), "rocket": (slice(120, 248), slice(160, 320))}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / mse)


def make_results(root: Path) -> dict:
    """resources/datasets/demo_test + results/{compressed,enhanced,metrics} as the pipeline lays them out."""
    from skimage import data

    from debiasqe.evaluate import metrics as mt
    from debiasqe.core.imageio import write_png
    from debiasqe.core.provenance import base_record

    raw_dir = root / "resources/datasets" / DATASET
    results = root / "results"
    pixels: dict = {}
    for name, (ys, xs) in CROPS.items():
        rgb = np.ascontiguousarray(getattr(data, name)()[ys, xs, :3])
        write_png(raw_dir / f"{name}.png", rgb)
        pixels[("raw", name)] = rgb
    lpips = mt.build_metric("lpips", "random", root / "weights", "cpu", None, 0)
    for lv in CODECS["jpeg"]:
        level_dir = results / "compressed" / DATASET / "jpeg" / str(lv)
        rows = []
        for name in CROPS:
            buf = io.BytesIO()
            Image.fromarray(pixels[("raw", name)]).save(buf, format="JPEG", quality=lv)
            dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            write_png(level_dir / "png" / f"{name}.png", dec)
            h, w = dec.shape[:2]
            n = len(buf.getvalue())
            rows.append(f"{name},{w},{h},{n},{n * 8 / (w * h):.6g},pillow,{n},{_psnr(dec, pixels[('raw', name)]):.6g}")
            for m in METHODS:
                out = dec if m == "comp" else np.asarray(Image.fromarray(dec).filter(FILTERS[m]))
                write_png(results / "enhanced" / m / DATASET / "jpeg" / str(lv) / f"{name}.png", out)
                pixels[(m, lv, name)] = out
        (level_dir / "rate.csv").write_text("image,width,height,bytes,bpp,backend,file_bytes,psnr\n" +
                                            "\n".join(rows) + "\n")
        for m in METHODS:
            enh = results / "enhanced" / m / DATASET / "jpeg" / str(lv)
            pairs = [(name, str(enh / f"{name}.png"), str(raw_dir / f"{name}.png")) for name in CROPS]
            df, prov = mt.evaluate_images(["psnr", "lpips"], pairs, pretrained_policy="random",
                                          weights_dir=root / "weights", progress=False,
                                          built={"psnr": mt.build_metric("psnr", "random", root / "weights"),
                                                 "lpips": lpips})
            mt.write_metrics_csv(df, results / "metrics" / m / DATASET / "jpeg" / f"{lv}.csv",
                                 base_record(method=m, dataset=DATASET, codec="jpeg", level=lv, seed=0,
                                             evaluation=prov))
    return {"root": root, "results": results, "raw": raw_dir, "pixels": pixels}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("compare"))


def _data(page: Path) -> dict:
    m = re.search(r"const DATA = (\{.*?\});\n</script>", page.read_text("utf-8"), re.S)
    assert m, "no inlined DATA object"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def page(tree):
    build_page(DATASET, CODECS, METHODS, tree["results"], tree["raw"], headline=("jpeg", 30))
    return tree["results"] / "compare" / DATASET / "index.html"


def _csv(tree, method, lv):
    import pandas as pd

    return pd.read_csv(tree["results"] / "metrics" / method / DATASET / "jpeg" / f"{lv}.csv").set_index("image")


# ------------------------------------------------------------------ the page's data


def test_page_shows_the_evaluations_values_with_its_marks(tree, page):
    d = _data(page)
    assert [s["id"] for s in d["sources"]] == ["raw", "comp", "median3", "unsharp"]
    assert [s["id"] for s in d["settings"]] == ["jpeg-10", "jpeg-30"]
    assert [m["id"] for m in d["metrics"]] == ["psnr", "lpips"]
    assert [im["name"] for im in d["images"]] == ["chelsea", "rocket"]
    assert d["initial"] == {"image": 0, "setting": 1, "left": 1, "right": 2}  # headline JPEG QF 30
    dagger = {n["mark"]: n["text"] for n in d["notes"]}
    assert dagger == {"\u2020": RANDOM_INIT_NOTE}  # LPIPS ran random-init; PSNR needs no weights
    for i, name in enumerate(["chelsea", "rocket"]):
        for s, lv in enumerate(CODECS["jpeg"]):
            assert d["values"][i][s][0]["psnr"]["text"] == "reference"
            for k, m in enumerate(METHODS, start=1):
                csv = _csv(tree, m, lv)
                psnr, lp = d["values"][i][s][k]["psnr"], d["values"][i][s][k]["lpips"]
                # the CSV's PSNR is the one worked out here from the pixels, and the page shows it
                hand = _psnr(tree["pixels"][(m, lv, name)], tree["pixels"][("raw", name)])
                assert csv.loc[name, "psnr"] == pytest.approx(hand, abs=1e-4)
                assert psnr == {"text": fmt_value(csv.loc[name, "psnr"]), "value": csv.loc[name, "psnr"],
                                "marks": []}
                assert lp["text"] == fmt_value(csv.loc[name, "lpips"]) and lp["marks"] == ["\u2020"]
    assert fmt_value(27.31449) == "27.31" and fmt_value(0.0123456) == "0.01235" and fmt_value(float("inf")) == "inf"
    # bpp of the image at the level, from rate.csv
    rate = (tree["results"] / "compressed" / DATASET / "jpeg" / "10" / "rate.csv").read_text().splitlines()
    assert d["bpp"][0][0] == fmt_value(float(rate[1].split(",")[4]))


def test_images_are_referenced_relative_to_the_page(tree, page):
    d = _data(page)
    page_dir = page.parent
    expect = {
        ("rocket", 0, 0): tree["raw"] / "rocket.png",
        ("rocket", 0, 1): tree["results"] / "compressed" / DATASET / "jpeg" / "10" / "png" / "rocket.png",
        ("rocket", 1, 3): tree["results"] / "enhanced" / "unsharp" / DATASET / "jpeg" / "30" / "rocket.png",
    }
    for (name, s, k), path in expect.items():
        url = d["files"][d["grid"][1][s][k]]
        assert not url.startswith(("/", "data:", "file:")), url
        assert (page_dir / unquote(url)).resolve() == path.resolve()
    assert d["files"][d["grid"][0][1][3]] == "../../enhanced/unsharp/demo_test/jpeg/30/chelsea.png"
    assert len(d["files"]) == 2 + 2 * 2 * 3  # raw once per image, shared by every level
    assert page.stat().st_size < 50_000  # no image bytes in the page


def test_self_contained_page_embeds_the_chosen_crops(tree, tmp_path):
    out = tmp_path / "share.html"
    summary = build_page(DATASET, CODECS, METHODS, tree["results"], tree["raw"], out, self_contained=True,
                         images=["rocket"], settings=["jpeg:10"], crop=parse_crop("10,20,64,48"))
    d = _data(out)
    assert summary["images"] == 1 and summary["settings"] == 1 and summary["sources"] == 4
    assert [im["name"] for im in d["images"]] == ["rocket"] and d["images"][0]["crop"] == [10, 20, 64, 48]
    assert (d["images"][0]["width"], d["images"][0]["height"]) == (64, 48)
    assert "../" not in out.read_text("utf-8")
    for k, key in enumerate([("raw", "rocket"), ("comp", 10, "rocket"), ("median3", 10, "rocket"),
                             ("unsharp", 10, "rocket")]):
        url = d["files"][d["grid"][0][0][k]]
        assert url.startswith("data:image/png;base64,")
        crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
        np.testing.assert_array_equal(crop, tree["pixels"][key][20:68, 10:74])
    # values stay those of the whole image
    assert d["values"][0][0][2]["psnr"]["value"] == _csv(tree, "median3", 10).loc["rocket", "psnr"]
    # centred square crop
    build_page(DATASET, CODECS, METHODS, tree["results"], tree["raw"], out, self_contained=True, crop=parse_crop("100"))
    assert [im["crop"] for im in _data(out)["images"]] == [[30, 14, 100, 100], [30, 14, 100, 100]]


def test_bad_requests_get_one_line_naming_the_culprit(tree, tmp_path):
    args = (DATASET, CODECS, METHODS, tree["results"], tree["raw"], tmp_path / "p.html")
    with pytest.raises(ConfigError, match=r"--images dog: not found; available: chelsea, rocket"):
        build_page(*args, self_contained=True, images=["dog"])
    with pytest.raises(ConfigError, match=r"--settings bpg:37: not found; available: jpeg:10, jpeg:30"):
        build_page(*args, settings=["bpg:37"])
    with pytest.raises(ConfigError, match=r"--crop 100,100,64,64: outside image chelsea \(160x128\)"):
        build_page(*args, self_contained=True, crop=parse_crop("100,100,64,64"))
    with pytest.raises(ConfigError, match="--crop needs --self-contained"):
        build_page(*args, self_contained=False, crop=64)
    with pytest.raises(ConfigError, match=r"--crop '0,0,-1,4': expected"):
        parse_crop("0,0,-1,4")
    with pytest.raises(BadImageError, match=r"enhanced/nosuch/demo_test/jpeg/10/chelsea.png: missing"):
        build_page(DATASET, CODECS, ["nosuch"], tree["results"], tree["raw"], tmp_path / "p.html")
    # an enhanced image of another size than raw
    bad = tmp_path / "bad"
    shutil.copytree(tree["results"], bad / "results")
    small = bad / "results/enhanced/median3" / DATASET / "jpeg/30/rocket.png"
    Image.open(small).resize((80, 64)).save(small)
    with pytest.raises(BadImageError, match=r"rocket.png: size 80x64 differs from raw .*rocket.png \(160x128\)"):
        build_page(DATASET, CODECS, METHODS, bad / "results", tree["raw"], bad / "p.html")
    assert not (tmp_path / "p.html").exists() and not (bad / "p.html").exists()


def test_missing_metrics_file_is_na_with_its_reason(tree, tmp_path):
    res = tmp_path / "results"
    shutil.copytree(tree["results"], res)
    (res / "metrics/unsharp" / DATASET / "jpeg/10.csv").unlink()
    out = tmp_path / "p.html"
    build_page(DATASET, CODECS, METHODS, res, tree["raw"], out)
    d = _data(out)
    cell = d["values"][0][0][3]["psnr"]
    notes = {n["mark"]: n["text"] for n in d["notes"]}
    assert cell["text"] == "n/a" and notes[cell["marks"][0]] == "not evaluated (no metrics file)"
    assert d["values"][0][1][3]["psnr"]["marks"] == []  # QF 30 still has its file


def test_numeric_image_names_keep_their_zeros(tmp_path):
    """DIV2K's test images are 0801.png ...: their rows must not be read as the number 801."""
    from debiasqe.evaluate import metrics as mt
    from debiasqe.compare.page import Notes, _rate_bpp, read_level_metrics, value_cell

    path = tmp_path / "37.csv"
    mt.write_metrics_csv(__import__("pandas").DataFrame({"image": ["0801", "0802"], "psnr": [30.5, 31.25]}), path)
    lm = read_level_metrics(path)
    assert value_cell(lm, "0802", "psnr", Notes()) == {"text": "31.25", "value": 31.25, "marks": []}
    (tmp_path / "rate.csv").write_text("image,width,height,bytes,bpp,backend,file_bytes,psnr\n"
                                       "0801,8,8,10,1.25,pillow,10,30\n")
    assert _rate_bpp(tmp_path / "rate.csv") == {"0801": 1.25}


def test_cli_writes_page_and_preview(tree, tmp_path, capsys):
    from debiasqe.cli import main

    out, preview = tmp_path / "c" / "index.html", tmp_path / "c" / "preview.png"
    from debiasqe.core.atomic import TEMP_MARK

    out.parent.mkdir()
    stale = out.parent / f".index.html.abc{TEMP_MARK}.html"  # a killed earlier attempt's temp
    stale.write_text("<html>half")
    theirs = out.parent / f".other.html.abc{TEMP_MARK}.html"
    theirs.write_text("not ours")
    rc = main(["compare", "--dataset", DATASET, "--codecs", json.dumps(CODECS), "--methods", *METHODS,
               "--results", str(tree["results"]), "--raw", str(tree["raw"]), "--output", str(out),
               "--preview", str(preview), "--headline", "jpeg:10"])
    assert not stale.exists() and theirs.exists()
    assert rc == 0
    assert f"{out}: " in capsys.readouterr().out
    assert _data(out)["initial"]["setting"] == 0
    sheet = Image.open(preview)
    assert sheet.size == (4 * 132 + 4, 20 + 148 + 4) and np.asarray(sheet.convert("L")).std() > 10
    rc = main(["compare", "--dataset", DATASET, "--codecs", json.dumps(CODECS), "--methods", *METHODS,
               "--results", str(tree["results"]), "--raw", str(tree["raw"]), "--output", str(out),
               "--self-contained", "--images", "tiger"])
    assert rc == 1
    assert "error: --images tiger: not found; available: chelsea, rocket" in capsys.readouterr().err


# ------------------------------------------------------------------ in a browser

CHROMIUM = find_chromium()
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                   "(scripts/ci_system_deps.sh installs Debian's chromium)")


@pytest.fixture
def browser():
    with Browser(CHROMIUM, width=1400, height=900) as b:
        yield b


def _rect(b, sel):
    return b.js(f"(() => {{ const r = document.querySelector('{sel}').getBoundingClientRect();"
                f" return [r.left, r.top, r.width, r.height]; }})()")


def _images_loaded(b):
    return b.js("Promise.all([...document.querySelectorAll('#view img')].map(i => i.decode()"
                ".then(() => i.naturalWidth, () => -1)))")


@needs_browser
def test_page_in_a_browser(tree, page, browser, tmp_path):
    b = browser
    b.open(page.as_uri())
    assert _images_loaded(b) == [160, 160]
    assert b.js("document.querySelector('#img-left').getAttribute('src')") == \
        "../../compressed/demo_test/jpeg/30/png/chelsea.png"
    assert b.js("document.querySelector('#img-right').getAttribute('src')") == \
        "../../enhanced/median3/demo_test/jpeg/30/chelsea.png"
    # each side's values beside the pair, with the dagger and its footnote
    csv = _csv(tree, "median3", 30)
    assert b.js("document.querySelector('#side-right tr[data-metric=psnr] td').textContent") == \
        fmt_value(csv.loc["chelsea", "psnr"])
    assert b.js("document.querySelector('#side-right tr[data-metric=lpips] td').textContent") == \
        fmt_value(csv.loc["chelsea", "lpips"]) + "\u2020"
    assert RANDOM_INIT_NOTE in b.js("document.querySelector('#notes').textContent")
    b.screenshot(tmp_path / "initial.png")

    # the wipe: keys move it, and the right layer is clipped where the divider stands
    view = _rect(b, "#view")
    b.js("document.querySelector('#view').focus()")
    b.key("ArrowLeft")
    b.key("ArrowLeft")
    assert b.js("compare.state.wipe") == pytest.approx(0.4)
    assert b.js("getComputedStyle(document.querySelector('#layer-right')).clipPath") == "inset(0px 0px 0px 40%)"
    divider = _rect(b, "#wipe")
    assert divider[0] + divider[2] / 2 == pytest.approx(view[0] + 0.4 * view[2], abs=1)
    # what is under the pointer left and right of the divider: the left image, then the right one
    y = view[1] + view[3] / 2
    x_div = view[0] + 0.4 * view[2]
    assert b.js(f"document.elementFromPoint({x_div - 30}, {y}).id") == "img-left"
    assert b.js(f"document.elementFromPoint({x_div + 30}, {y}).id") == "img-right"
    # drag the divider with the mouse
    b.drag(x_div, y, view[0] + 0.75 * view[2], y)
    assert b.js("compare.state.wipe") == pytest.approx(0.75, abs=0.002)
    assert _rect(b, "#wipe")[0] + 8 == pytest.approx(view[0] + 0.75 * view[2], abs=1)
    clip = b.js("getComputedStyle(document.querySelector('#layer-right')).clipPath")
    assert float(re.search(r"([\d.]+)%\)$", clip).group(1)) == pytest.approx(75, abs=0.2)

    # switching method: the right file is shown and the values follow
    b.key("ArrowDown")
    assert b.js("document.querySelector('#img-right').getAttribute('src')") == \
        "../../enhanced/unsharp/demo_test/jpeg/30/chelsea.png"
    assert b.js("document.querySelector('#label-right').textContent") == "unsharp"
    assert b.js("document.querySelector('#side-right tr[data-metric=psnr] td').textContent") == \
        fmt_value(_csv(tree, "unsharp", 30).loc["chelsea", "psnr"])
    b.key("ArrowDown")  # wraps to raw (skipping nothing: the left side shows comp)
    assert b.js("document.querySelector('#img-right').getAttribute('src')") == "../../../resources/datasets/demo_test/chelsea.png"
    assert b.js("document.querySelector('#side-right tr[data-metric=psnr] td').textContent") == "reference"
    b.key("ArrowDown", shift=True)  # left side: comp -> median3
    assert b.js("document.querySelector('#img-left').getAttribute('src')") == \
        "../../enhanced/median3/demo_test/jpeg/30/chelsea.png"
    b.key("[")  # codec level: QF 30 -> QF 10, both sides
    assert b.js("document.querySelector('#img-left').getAttribute('src')") == \
        "../../enhanced/median3/demo_test/jpeg/10/chelsea.png"
    assert b.js("document.querySelector('#status').textContent").startswith("chelsea \u00b7 JPEG QF 10")
    b.key("n")  # next image
    assert b.js("document.querySelector('#img-left').getAttribute('src')") == \
        "../../enhanced/median3/demo_test/jpeg/10/rocket.png"
    # a select works as well
    b.js("(() => { const s = document.querySelector('#sel-right'); s.value = '1';"
         " s.dispatchEvent(new Event('change')); })()")
    assert b.js("document.querySelector('#img-right').getAttribute('src')") == \
        "../../compressed/demo_test/jpeg/10/png/rocket.png"
    assert _images_loaded(b) == [160, 160]

    # zoom: a wheel step about a point keeps that image point under it, on both sides
    fit_scale = b.js("compare.state.scale")
    left, right = _rect(b, "#img-left"), _rect(b, "#img-right")
    assert left == pytest.approx(right)
    px, py = view[0] + view[2] * 0.3, view[1] + view[3] * 0.6
    image_point = ((px - left[0]) / left[2], (py - left[1]) / left[3])
    b.wheel(px, py, -400)
    scale = b.js("compare.state.scale")
    assert scale == pytest.approx(fit_scale * math.exp(0.8), rel=1e-6)
    left, right = _rect(b, "#img-left"), _rect(b, "#img-right")
    assert left == pytest.approx(right, abs=1e-3)
    assert left[2] == pytest.approx(160 * scale, rel=1e-4)
    assert ((px - left[0]) / left[2], (py - left[1]) / left[3]) == pytest.approx(image_point, abs=1e-3)
    assert b.js("getComputedStyle(document.querySelector('#img-right')).imageRendering") == "pixelated"
    # pan by dragging the image: both sides move together
    b.drag(view[0] + 100, view[1] + 100, view[0] + 160, view[1] + 70)
    moved_l, moved_r = _rect(b, "#img-left"), _rect(b, "#img-right")
    assert moved_l == pytest.approx(moved_r, abs=1e-3)
    assert (moved_l[0] - left[0], moved_l[1] - left[1]) == pytest.approx((60, -30), abs=0.5)
    assert b.js("compare.state.wipe") == pytest.approx(0.75, abs=0.002)  # panning leaves the wipe alone
    b.key("1")  # one image pixel per screen pixel
    assert _rect(b, "#img-left")[2] == pytest.approx(160) and _rect(b, "#img-right")[2] == pytest.approx(160)
    b.key("0")
    assert b.js("compare.state.scale") == pytest.approx(fit_scale)
    # the state is in the address, so a link reopens the same view
    assert "setting=jpeg-10" in b.js("location.hash") and "right=comp" in b.js("location.hash")
    # a link to another view of the same page (only the #hash changes)
    b.open(page.as_uri() + "#image=rocket&setting=jpeg-30&left=raw&right=median3&wipe=0.2&zoom=2")
    b.wait_js("document.querySelector('#img-right').getAttribute('src') === "
              "'../../enhanced/median3/demo_test/jpeg/30/rocket.png'")  # hashchange is dispatched after navigate
    assert b.js("[compare.state.wipe, compare.state.scale]") == [0.2, 2]
    assert _rect(b, "#img-left")[2] == pytest.approx(320)
    b.screenshot(tmp_path / "after.png")
    assert Image.open(tmp_path / "after.png").size == (1400, 900)
    assert b.errors == []


@needs_browser
def test_self_contained_page_in_a_browser(tree, browser, tmp_path):
    out = tmp_path / "elsewhere" / "share.html"
    build_page(DATASET, CODECS, METHODS, tree["results"], tree["raw"], out, self_contained=True,
               images=["chelsea"], crop=parse_crop("96"))
    b = browser
    b.open(out.as_uri() + "#setting=jpeg-10&right=unsharp")
    assert _images_loaded(b) == [96, 96]
    assert b.js("document.querySelector('#label-right').textContent") == "unsharp"
    assert "crop 96\u00d796 at (32, 16) of 160\u00d7128" in b.js("document.querySelector('#status').textContent")
    assert b.errors == []
