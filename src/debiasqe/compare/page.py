"""Build the compare page of one test set: a static HTML file that works from ``file://``.

For each test image at each codec level the page wipes between any two of
raw, compressed and every method, with synchronised zoom and pan on both
sides, and shows each side's PSNR and LPIPS against raw as the evaluation
wrote them (``metrics/{method}/{dataset}/{codec}/{level}.csv``), with the
same marks: a value from a random-init network carries a dagger ("random-init
network: not a measurement", read from the CSV's ``.provenance.json``); a
value that could not be computed is ``n/a`` with a numbered footnote.

Two forms:

- the pipeline's page (default): images are referenced by relative path from
  the page's folder (``../../enhanced/...``), so the page stays a few MB at
  paper scale; it must sit in ``results/compare/{dataset}/`` beside the
  results it points at.
- ``self_contained=True``: a page for sharing, for a chosen subset of images
  (and codec levels, methods), optionally cropped, with every crop embedded
  as a base64 PNG. Metrics stay those of the whole image.

The data is inlined as one JSON object, so the page needs no ``fetch``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import quote, unquote

import pandas as pd
from PIL import Image, ImageDraw

from ..core.atomic import TEMP_MARK, atomic_path, write_text
from ..core.errors import BadImageError, ConfigError
from ..methods import IDENTITY
from ..paths import RESULT_TEMPLATES
from ..report.labels import CODEC_LABELS, method_label, metric_label

#: Where the page reads and writes, relative to the results folder (one place for every path).
#: the results/ templates the page reads and writes (debiasqe.paths), per image where it shows one
PATHS = {
    "compressed": RESULT_TEMPLATES["compressed_png"] + "/{image}.png",
    "enhanced": RESULT_TEMPLATES["enhanced"] + "/{image}.png",
    "metrics": RESULT_TEMPLATES["metrics"],
    "rate": RESULT_TEMPLATES["rate"],
    "page": RESULT_TEMPLATES["compare_page"],
    "preview": RESULT_TEMPLATES["compare_preview"],
}
RAW = "raw"
#: metrics shown beside the pair unless asked otherwise (both full-reference: against raw)
DEFAULT_METRICS = ("psnr", "lpips")
LOWER_BETTER = {"lpips", "dists", "fid", "niqe", "pi"}
LEVEL_NAMES = {"bpg": "QP", "jpeg": "QF"}
RANDOM_INIT_NOTE = "random-init network: not a measurement"
RANDOM_INIT_MARK = "\u2020"  # dagger, as in the tables
SIG = 4  # significant figures of the values shown


def path_of(kind: str, results: str | os.PathLike, **keys) -> Path:
    """``results / PATHS[kind]`` with ``keys`` filled in."""
    return Path(results) / PATHS[kind].format(**keys)


def setting_label(codec: str, level: int) -> str:
    """``BPG QP 37``, ``JPEG QF 10``, ``WEBP level 50``."""
    return f"{CODEC_LABELS.get(codec, codec.upper())} {LEVEL_NAMES.get(codec, 'level')} {level}"


def source_label(source: str) -> str:
    if source == RAW:
        return "Raw"
    if source == IDENTITY:
        return "Compressed"
    return method_label(source)


def fmt_value(v: float) -> str:
    """``SIG`` significant figures; PSNR of identical images is ``inf``."""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    decimals = max(0, SIG - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def parse_crop(text: str | None):
    """``"256"`` (centred square) or ``"X,Y,W,H"`` (pixel box) -> int | tuple; None -> None."""
    if text is None or text == "":
        return None
    parts = [p.strip() for p in str(text).split(",")]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--crop {text!r}: expected SIZE or X,Y,W,H in pixels") from None
    if len(nums) == 1 and nums[0] > 0:
        return nums[0]
    if len(nums) == 4 and nums[0] >= 0 and nums[1] >= 0 and nums[2] > 0 and nums[3] > 0:
        return tuple(nums)
    raise ConfigError(f"--crop {text!r}: expected SIZE > 0 or X,Y,W,H with X, Y >= 0 and W, H > 0")


def crop_box(crop, width: int, height: int, image: str) -> tuple[int, int, int, int]:
    """(x, y, w, h) of ``crop`` in a ``width`` x ``height`` image (whole image when None)."""
    if crop is None:
        return 0, 0, width, height
    if isinstance(crop, int):
        w, h = min(crop, width), min(crop, height)
        return (width - w) // 2, (height - h) // 2, w, h
    x, y, w, h = crop
    if x + w > width or y + h > height:
        raise ConfigError(f"--crop {x},{y},{w},{h}: outside image {image} ({width}x{height})")
    return x, y, w, h


class Notes:
    """Footnote marks: the dagger for random-init values, numbers for the reasons of n/a."""

    def __init__(self):
        self.marks: dict[str, str] = {}

    def mark(self, text: str) -> str:
        if text not in self.marks:
            if text == RANDOM_INIT_NOTE:
                self.marks[text] = RANDOM_INIT_MARK
            else:
                self.marks[text] = str(sum(m != RANDOM_INIT_MARK for m in self.marks.values()) + 1)
        return self.marks[text]

    def listing(self) -> list[dict]:
        order = sorted(self.marks.items(), key=lambda kv: (kv[1] != RANDOM_INIT_MARK, kv[1].zfill(4)))
        return [{"mark": m, "text": t} for t, m in order]


@dataclass
class LevelMetrics:
    """One metrics CSV: per-image values and, per metric, the status of its network."""

    path: Path
    values: dict[str, dict[str, float]]  # image stem -> metric -> value
    status: dict[str, tuple[str, str]]    # metric -> (status, note) from the provenance
    columns: set[str]


def read_level_metrics(path: Path) -> LevelMetrics | None:
    """The evaluation's CSV for one method and level and its provenance (None: no file)."""
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path, dtype={"image": str})  # DIV2K names: "0801", not 801
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BadImageError(f"{path}: not a readable metrics CSV ({exc})") from None
    if "image" not in df.columns:
        raise BadImageError(f"{path}: no 'image' column (not a metrics CSV of the evaluation)")
    df = df[df["image"].astype(str) != "mean"]
    cols = [c for c in df.columns if c != "image"]
    values = {str(r["image"]): {c: _float(r[c]) for c in cols} for _, r in df.iterrows()}
    status: dict[str, tuple[str, str]] = {}
    prov_path = Path(str(path) + ".provenance.json")
    if prov_path.is_file():
        try:
            prov = json.loads(prov_path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadImageError(f"{prov_path}: not valid JSON ({exc})") from None
        records = (prov.get("evaluation") or {}).get("metrics") or {}
        for m, rec in records.items():
            if isinstance(rec, dict):
                status[m] = (str(rec.get("status", "")), str(rec.get("note", "")))
    return LevelMetrics(path, values, status, set(cols))


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def value_cell(lm: LevelMetrics | None, image: str, metric: str, notes: Notes) -> dict:
    """``{"text", "value", "marks"}`` of one metric of one image, marked as the tables mark it."""
    label = metric_label(metric)
    if lm is None:
        return {"text": "n/a", "value": None, "marks": [notes.mark("not evaluated (no metrics file)")]}
    if metric not in lm.columns:
        return {"text": "n/a", "value": None,
                "marks": [notes.mark(f"{label} not among the evaluated metrics")]}
    if image not in lm.values:
        return {"text": "n/a", "value": None, "marks": [notes.mark(f"image not in its level's {lm.path.name}")]}
    status, note = lm.status.get(metric, ("", ""))
    v = lm.values[image].get(metric, math.nan)
    if math.isnan(v):
        reason = f"{label} unavailable" + (f" ({note})" if status == "unavailable" and note else
                                           " (weights unavailable)" if status == "unavailable" else " (NaN)")
        return {"text": "n/a", "value": None, "marks": [notes.mark(reason)]}
    marks = [notes.mark(RANDOM_INIT_NOTE)] if status == "random-init" else []
    return {"text": fmt_value(v), "value": v if math.isfinite(v) else None, "marks": marks}


def _rate_bpp(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    try:
        df = pd.read_csv(path, dtype={"image": str})  # DIV2K names: "0801", not 801
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BadImageError(f"{path}: not a readable rate.csv ({exc})") from None
    if not {"image", "bpp"} <= set(df.columns):
        return {}
    return {str(r["image"]): _float(r["bpp"]) for _, r in df.iterrows()}


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise BadImageError(f"{path}: missing (needed for the compare page)") from None
    except OSError as exc:
        raise BadImageError(f"{path}: not a readable image ({exc})") from None


def _select(all_names: list[str], chosen: Iterable[str] | None, what: str) -> list[str]:
    if not chosen:
        return all_names
    chosen = [c for c in chosen if c]
    unknown = [c for c in chosen if c not in all_names]
    if unknown:
        raise ConfigError(f"--{what} {','.join(unknown)}: not found; available: {', '.join(all_names)}")
    return [n for n in all_names if n in chosen]


def _url(path: Path, page_dir: Path) -> str:
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(page_dir))
    return quote(rel.replace(os.sep, "/"))


def _embed(path: Path, box: tuple[int, int, int, int]) -> bytes:
    x, y, w, h = box
    with Image.open(path) as im:
        im = im.convert("RGB")
        if (x, y, w, h) != (0, 0, *im.size):
            im = im.crop((x, y, x + w, y + h))
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


class _Files:
    """The page's file list: each image once (a relative URL, or a data URI when self-contained)."""

    def __init__(self, page_dir: Path, self_contained: bool):
        self.page_dir, self.self_contained = page_dir, self_contained
        self.urls: list[str] = []
        self._index: dict[str, int] = {}

    def _add(self, key: str, make) -> int:
        if key not in self._index:
            self._index[key] = len(self.urls)
            self.urls.append(make())
        return self._index[key]

    def ref(self, path: Path, raw_path: Path, full: tuple[int, int], box: tuple[int, int, int, int]) -> int:
        """The index of ``path``, which must have the size ``full`` of its raw image ``raw_path``."""
        size, (width, height) = _image_size(path), full
        if size != full:
            raise BadImageError(f"{path}: size {size[0]}x{size[1]} differs from raw {raw_path} "
                                f"({width}x{height})")
        if not self.self_contained:
            return self._add(str(path), lambda: _url(path, self.page_dir))
        data = _embed(path, box)
        digest = hashlib.sha256(data).hexdigest()
        return self._add(digest, lambda: "data:image/png;base64," + base64.b64encode(data).decode("ascii"))


@dataclass
class _Cells:
    """What every image's cells share: the settings, the sources, the metrics shown and their files."""

    results: Path
    dataset: str
    settings: list[tuple[str, int]]
    methods: list[str]
    shown: list[str]
    level_metrics: dict[tuple[str, str, int], LevelMetrics | None]
    bpp: dict[tuple[str, int], dict[str, float]]
    notes: Notes
    files: _Files

    def of_image(self, name: str, raw_path: Path, full: tuple[int, int], box: tuple[int, int, int, int]):
        """(file indexes, metric cells, bpp text) of one image, per setting: raw first, then each method."""
        raw_ref = self.files.ref(raw_path, raw_path, full, box)
        grid, values, rates = [], [], []
        for c, lv in self.settings:
            g_set, v_set = [raw_ref], [{m: {"text": "reference", "value": None, "marks": []} for m in self.shown}]
            for m in self.methods:
                keys = dict(dataset=self.dataset, codec=c, level=lv, image=name)
                p = (path_of("compressed", self.results, **keys) if m == IDENTITY
                     else path_of("enhanced", self.results, method=m, **keys))
                g_set.append(self.files.ref(p, raw_path, full, box))
                v_set.append({k: value_cell(self.level_metrics[(m, c, lv)], name, k, self.notes) for k in self.shown})
            grid.append(g_set)
            values.append(v_set)
            b = self.bpp[(c, lv)].get(name, math.nan)
            rates.append(None if math.isnan(b) else fmt_value(b))
        return grid, values, rates


def _chosen_settings(codecs: dict[str, Sequence[int]], settings: Iterable[str] | None) -> list[tuple[str, int]]:
    all_settings = [(c, int(lv)) for c, lvs in codecs.items() for lv in lvs]
    if not all_settings:
        raise ConfigError("compare: no codec levels given")
    chosen = _select([f"{c}:{lv}" for c, lv in all_settings], settings, "settings")
    return [s for s in all_settings if f"{s[0]}:{s[1]}" in chosen]


def collect(dataset: str, codecs: dict[str, Sequence[int]], methods: Sequence[str], results: str | os.PathLike,
            raw_dir: str | os.PathLike, page_dir: str | os.PathLike, *, metrics: Sequence[str] = DEFAULT_METRICS,
            headline: tuple[str, int] | None = None, self_contained: bool = False,
            images: Iterable[str] | None = None, settings: Iterable[str] | None = None,
            crop=None) -> dict:
    """The page's data object (JSON-able): images, settings, sources, file URLs, metric cells."""
    results, raw_dir, page_dir = Path(results), Path(raw_dir), Path(page_dir)
    raw_names = sorted(p.stem for p in raw_dir.glob("*.png"))
    if not raw_names:
        raise BadImageError(f"{raw_dir}: no PNG images (the prepared test set)")
    names = _select(raw_names, [Path(i).stem for i in images or []], "images")
    all_settings = _chosen_settings(codecs, settings)
    methods = list(dict.fromkeys(methods))
    if IDENTITY not in methods:
        methods.insert(0, IDENTITY)
    sources = [RAW, *methods]
    notes = Notes()
    files = _Files(page_dir, self_contained)

    level_metrics = {(m, c, lv): read_level_metrics(path_of("metrics", results, method=m, dataset=dataset,
                                                              codec=c, level=lv))
                     for m in methods for c, lv in all_settings}
    shown = [m for m in metrics if any(lm is not None and m in lm.columns for lm in level_metrics.values())]
    shown = shown or list(metrics)
    bpp = {(c, lv): _rate_bpp(path_of("rate", results, dataset=dataset, codec=c, level=lv))
           for c, lv in all_settings}
    cells = _Cells(results, dataset, all_settings, methods, shown, level_metrics, bpp, notes, files)

    image_rows, grid, values, rates = [], [], [], []
    for name in names:
        raw_path = raw_dir / f"{name}.png"
        width, height = _image_size(raw_path)
        box = crop_box(crop, width, height, name)
        image_rows.append({"name": name, "width": box[2], "height": box[3], "full": [width, height],
                           "crop": list(box) if crop is not None else None})
        g_img, v_img, r_img = cells.of_image(name, raw_path, (width, height), box)
        grid.append(g_img)
        values.append(v_img)
        rates.append(r_img)

    start = 0
    if headline is not None and (headline[0], int(headline[1])) in all_settings:
        start = all_settings.index((headline[0], int(headline[1])))
    right = next((s for s in sources if s not in (RAW, IDENTITY)), RAW)
    return {
        "dataset": dataset,
        "selfContained": bool(self_contained),
        "images": image_rows,
        "settings": [{"id": f"{c}-{lv}", "codec": c, "level": lv, "label": setting_label(c, lv)}
                     for c, lv in all_settings],
        "sources": [{"id": s, "label": source_label(s)} for s in sources],
        "metrics": [{"id": m, "label": metric_label(m), "lowerBetter": m in LOWER_BETTER} for m in shown],
        "files": files.urls,
        "grid": grid,
        "values": values,
        "bpp": rates,
        "notes": notes.listing(),
        "initial": {"image": 0, "setting": start, "left": sources.index(IDENTITY), "right": sources.index(right)},
    }


def _template(name: str) -> str:
    return resources.files("debiasqe.compare").joinpath(name).read_text("utf-8")


def render(data: dict) -> str:
    """The page: the template with its CSS, script and data inlined."""
    blob = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # inside <script>: no "</script>" or "<!--" may appear in the JSON text
    blob = blob.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    title = f"Compare images · {data['dataset']}"
    page = _template("compare.html")
    for key, value in (("{{TITLE}}", html.escape(title)), ("{{CSS}}", _template("compare.css")),
                       ("{{JS}}", _template("compare.js")), ("{{DATA}}", blob)):
        page = page.replace(key, value)
    return page


def build_page(dataset: str, codecs: dict[str, Sequence[int]], methods: Sequence[str], results: str | os.PathLike,
               raw_dir: str | os.PathLike, output: str | os.PathLike | None = None, *,
               preview: str | os.PathLike | None = None, **options) -> dict:
    """Write the compare page (default ``results/compare/{dataset}/index.html``); returns a summary."""
    output = Path(output) if output else path_of("page", results, dataset=dataset)
    if not options.get("self_contained") and options.get("crop") is not None:
        raise ConfigError("--crop needs --self-contained (the pipeline's page shows whole images by path)")
    for dest in (output, Path(preview) if preview else None):  # what a kill -9 mid-write left of ours
        for stale in dest.parent.glob(f".{dest.name}.*{TEMP_MARK}*") if dest else ():
            stale.unlink(missing_ok=True)
    data = collect(dataset, codecs, methods, results, raw_dir, output.parent, **options)
    text = render(data)
    write_text(output, text)
    if preview is not None:
        write_preview(data, output.parent, Path(preview))
    return {"page": str(output), "bytes": len(text.encode("utf-8")), "images": len(data["images"]),
            "settings": len(data["settings"]), "sources": len(data["sources"]), "files": len(data["files"])}


def write_preview(data: dict, page_dir: Path, out: Path, tile: int = 128, per_row: int = 6) -> None:
    """A contact sheet for the report: a centre crop of the first image at the initial setting,
    raw, compressed and every method, labelled (the report links the page from its caption)."""
    img, s = data["initial"]["image"], data["initial"]["setting"]
    meta = data["images"][img]
    cells = []
    for k, src in enumerate(data["sources"]):
        url = data["files"][data["grid"][img][s][k]]
        if url.startswith("data:"):
            im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        else:
            im = Image.open(page_dir / unquote(url))
        im = im.convert("RGB")
        w, h = im.size
        side = min(tile, w, h)
        x0, y0 = (w - side) // 2, (h - side) // 2
        cells.append((src["label"], im.crop((x0, y0, x0 + side, y0 + side)).resize((tile, tile), Image.NEAREST)))
    label_h, pad = 16, 4
    cols = min(per_row, len(cells))
    rows = math.ceil(len(cells) / cols)
    title_h = 20
    sheet = Image.new("RGB", (cols * (tile + pad) + pad, title_h + rows * (tile + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 4), f"{data['dataset']} / {meta['name']} / {data['settings'][s]['label']} "
                        f"(centre crop, {tile} px)", fill="black")
    for i, (label, im) in enumerate(cells):
        x = pad + (i % cols) * (tile + pad)
        y = title_h + (i // cols) * (tile + label_h + pad)
        sheet.paste(im, (x, y))
        draw.text((x, y + tile + 2), label, fill="black")
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
