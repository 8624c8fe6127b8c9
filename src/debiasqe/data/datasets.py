"""Dataset registry and preparation.

A dataset name denotes one split (``demo_train``, ``demo_test``,
``div2k_valid``...). Its config entry (``datasets: {name: {...}}``) says
where the images come from:

- ``demo_*``: embedded scikit-image photographs (``images:`` picks them);
- any name with ``root: path``: a folder of images the user brings;

Preparation normalises every image to 8-bit RGB PNG under
``resources/datasets/{dataset}/`` with a ``manifest.json`` (source,
conversions, sizes), written into a temporary folder renamed into place, so
a half-prepared dataset never looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from ..atomic import write_text
from ..errors import BadImageError, ConfigError
from ..provenance import base_record
from .demo import DEFAULT_SPLITS, DEMO_IMAGES
from .images import list_images, read_rgb, write_png

log = logging.getLogger(__name__)

SOURCES = ("demo", "folder")


def dataset_source(name: str, spec: dict) -> str:
    """Which kind of source a dataset entry denotes."""
    if spec.get("root"):
        return "folder"
    if spec.get("images") is not None or name in DEFAULT_SPLITS:
        return "demo"
    raise ConfigError(
        f"datasets.{name}: unknown dataset; known: {', '.join(sorted(DEFAULT_SPLITS))}, "
        "or give 'root: path/to/images' for a folder of your own"
    )


def _items(name: str, spec: dict) -> Iterable[tuple[str, object]]:
    """(image name, source) pairs; source is a loader or a path."""
    kind = dataset_source(name, spec)
    if kind == "demo":
        wanted = spec.get("images") or DEFAULT_SPLITS[name]
        unknown = [w for w in wanted if w not in DEMO_IMAGES]
        if unknown:
            raise ConfigError(
                f"datasets.{name}.images: {unknown[0]!r} is not an embedded image; "
                f"allowed: {', '.join(DEMO_IMAGES)}"
            )
        return [(w, DEMO_IMAGES[w]) for w in wanted]
    root = Path(spec["root"]).expanduser()
    files = list_images(root)
    if not files:
        raise BadImageError(f"datasets.{name}.root: {root} holds no image files")
    stems = [f.stem for f in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise BadImageError(f"{root}: several files share the name {dupes[0]!r} (different suffixes)")
    return [(f.stem, f) for f in files]


def center_crop(rgb: np.ndarray, max_size: int | None) -> np.ndarray:
    """Crop to at most max_size × max_size around the centre (demo/CI presets)."""
    if not max_size:
        return rgb
    h, w = rgb.shape[:2]
    th, tw = min(h, max_size), min(w, max_size)
    y, x = (h - th) // 2, (w - tw) // 2
    return np.ascontiguousarray(rgb[y : y + th, x : x + tw])


def prepare_dataset(name: str, spec: dict, out_dir: str | Path) -> Path:
    """Write the dataset's images as RGB PNGs plus manifest.json into out_dir."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    records = []
    try:
        for image, source in _items(name, spec):
            if isinstance(source, Path):
                rgb, note = read_rgb(source)
                origin = str(source)
            else:
                rgb, note = np.asarray(source(), dtype=np.uint8), None
                if rgb.ndim != 3 or rgb.shape[2] < 3:
                    raise BadImageError(f"embedded image {image}: not a colour image")
                rgb = np.ascontiguousarray(rgb[..., :3])
                origin = f"scikit-image:{image}"
            if note:
                log.warning("%s: converted %s", origin, note)
            rgb = center_crop(rgb, spec.get("max_size"))
            write_png(tmp / f"{image}.png", rgb)
            records.append({"image": image, "source": origin, "width": int(rgb.shape[1]),
                            "height": int(rgb.shape[0]), "conversion": note})
        manifest = base_record(dataset=name, source=dataset_source(name, spec), images=records)
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def dataset_images(prepared_dir: str | Path) -> list[Path]:
    """The PNGs of a prepared dataset, in manifest order."""
    prepared_dir = Path(prepared_dir)
    manifest = prepared_dir / "manifest.json"
    if not manifest.is_file():
        raise BadImageError(f"{prepared_dir}: not a prepared dataset (no manifest.json)")
    names = [r["image"] for r in json.loads(manifest.read_text())["images"]]
    return [prepared_dir / f"{n}.png" for n in names]
