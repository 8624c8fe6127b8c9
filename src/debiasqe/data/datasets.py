"""Dataset registry and preparation.

A dataset name denotes one split (``demo_train``, ``demo_test``,
``div2k_valid``...). Its config entry (``datasets: {name: {...}}``) says
where the images come from:

- ``demo_*``: embedded scikit-image photographs (``images:`` picks them);
- any name with ``root: path``: a folder of images the user brings;
- the real splits ``div2k_train``, ``div2k_valid``, ``flickr2k_train``,
  ``flickr2k_test`` (:mod:`.remote`): ``root:`` (an extracted copy, no
  archive needed) > ``archive:`` (a local archive, verified and extracted)
  > download from ``mirrors:`` (default: the registry's). ``files:`` keeps a
  subset of the split; ``max_unpacked_gb`` bounds extraction. Archive-level
  settings (``archive``, ``mirrors``, ``max_unpacked_gb``) are shared by the
  splits of one archive (Flickr2K's two): :func:`archive_jobs` merges them.

Preparation normalises every image to 8-bit RGB PNG under
``resources/datasets/{dataset}/`` with a ``manifest.json`` (source,
conversions, sizes), written into a temporary folder renamed into place, so
a half-prepared dataset never looks complete.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ..core.atomic import pid_alive, write_text
from ..core.errors import BadImageError, ConfigError
from ..core.progress import track
from ..core.provenance import base_record
from .download import Mirror
from . import remote
from .demo import DEFAULT_SPLITS, DEMO_IMAGES
from .extract import MARKER
from ..core.imageio import read_rgb, scan_images, write_png

log = logging.getLogger(__name__)

SOURCES = ("demo", "folder", "remote")
REMOTE_KEYS = ("archive", "mirrors", "max_unpacked_gb", "files")
DEFAULT_MAX_UNPACKED_GB = 64


def dataset_source(name: str, spec: dict) -> str:
    """Which kind of source a dataset entry denotes ("demo", "folder", "remote"); checks the entry."""
    if name in remote.SPLITS:
        if spec.get("images") is not None:
            raise ConfigError(f"datasets.{name}.images: only for the embedded demo datasets")
        remote_source(name, spec)  # checks archive/mirrors/files/max_unpacked_gb
        return "remote"
    extra = [k for k in REMOTE_KEYS if spec.get(k) is not None]
    if extra:
        raise ConfigError(
            f"datasets.{name}.{extra[0]}: only the real splits ({', '.join(sorted(remote.SPLITS))}) "
            "take archive/mirrors/max_unpacked_gb/files; for images of your own give 'root: path'")
    if spec.get("root"):
        return "folder"
    if spec.get("images") is not None or name in DEFAULT_SPLITS:
        return "demo"
    raise ConfigError(
        f"datasets.{name}: unknown dataset; known: {', '.join(sorted([*DEFAULT_SPLITS, *remote.SPLITS]))}, "
        "or give 'root: path/to/images' for a folder of your own"
    )


# ---------------------------------------------------------------- remote splits


@dataclass(frozen=True)
class RemoteSource:
    """Where a real split's images come from, resolved from its config entry."""

    dataset: str
    split: remote.Split            # with the ``files:`` subset applied
    mode: str                      # "root" | "archive" | "download"
    root: Path | None              # mode root: the user's folder
    archive: str                   # registry name of the archive (e.g. DIV2K_valid_HR)
    local_archive: Path | None     # mode archive: the user's file
    mirrors: tuple[Mirror, ...] | None   # config mirrors (None: the registry's)
    max_unpacked_gb: float | None


def remote_source(name: str, spec: Mapping) -> RemoteSource:
    """Resolve a real split's entry: precedence ``root`` > ``archive`` > download."""
    split = remote.get_split(name)
    key = f"datasets.{name}"
    if spec.get("files") is not None:
        split = split.with_subset(spec["files"], key=f"{key}.files")
    mirrors = None
    if spec.get("mirrors") is not None:
        mirrors = tuple(remote.mirrors_from_config(spec["mirrors"], key=f"{key}.mirrors"))
    gb = spec.get("max_unpacked_gb")
    if gb is not None:
        try:
            remote.max_bytes_from_gb(gb)
        except ConfigError as e:
            raise ConfigError(f"{key}.{e}") from None
    if spec.get("root"):
        mode = "root"
    elif spec.get("archive"):
        mode = "archive"
    else:
        mode = "download"
    return RemoteSource(
        dataset=name, split=split, mode=mode,
        root=Path(spec["root"]).expanduser() if mode == "root" else None,
        archive=split.archive,
        local_archive=Path(spec["archive"]).expanduser() if mode == "archive" else None,
        mirrors=mirrors, max_unpacked_gb=gb)


@dataclass(frozen=True)
class ArchiveJob:
    """One archive to fetch (mode download) or take from the user (mode archive), then extract."""

    name: str                      # registry name, e.g. DIV2K_valid_HR
    filename: str                  # name under the downloads folder, e.g. DIV2K_valid_HR.zip
    local_archive: Path | None     # the user's archive, or None: download it
    mirrors: tuple[Mirror, ...]    # effective list (config's or the registry's)
    max_unpacked_gb: float
    datasets: tuple[str, ...]      # the splits that use it
    configured: tuple[str, ...] = ()   # the settings the config gives ("mirrors", "max_unpacked_gb")

    def mirrors_json(self) -> str:
        """The mirror list as JSON for ``debiasqe download/extract --mirrors``."""
        return json.dumps([{k: v for k, v in vars(m).items() if v is not None} for m in self.mirrors],
                          sort_keys=True)

    def cli_options(self, stage: str) -> str:
        """Shell-quoted options for ``debiasqe download`` / ``extract``: only what the config sets.

        Registry defaults are left to the CLI, so that editing the registry
        (e.g. a new mirror) does not change the jobs' params, which would make
        Snakemake delete a downloaded archive and redo everything after it.
        """
        opts = []
        if "mirrors" in self.configured:
            opts += ["--mirrors", self.mirrors_json()]
        if stage == "extract" and "max_unpacked_gb" in self.configured:
            opts += ["--max-unpacked-gb", str(self.max_unpacked_gb)]
        return shlex.join(opts)


def _merge(job: str, key: str, values: dict[str, object]):
    """The one value the datasets of an archive agree on (None when none sets it)."""
    given = [(d, v) for d, v in values.items() if v is not None]
    for d, v in given[1:]:
        if v != given[0][1]:
            raise ConfigError(
                f"datasets.{given[0][0]}.{key} and datasets.{d}.{key} differ, but both splits come from the "
                f"archive {job}: give the same value (or set it on one of them only)")
    return given[0][1] if given else None


def archive_jobs(datasets: Mapping[str, Mapping]) -> dict[str, ArchiveJob]:
    """The archives the configured real splits need (those without ``root:``), by registry name.

    Splits sharing an archive share its settings: a value set on one applies
    to all; different values are a ConfigError naming both entries. A
    configured ``archive:`` is not required to exist here: once extracted it
    may be deleted (Snakemake names it as a missing input when it is needed).
    """
    by_archive: dict[str, list[RemoteSource]] = {}
    for name, spec in datasets.items():
        if name in remote.SPLITS:
            src = remote_source(name, spec or {})
            if src.mode != "root":
                by_archive.setdefault(src.archive, []).append(src)
    jobs = {}
    for arc_name, srcs in by_archive.items():
        arc = remote.get_archive(arc_name)
        local = _merge(arc_name, "archive", {s.dataset: s.local_archive for s in srcs})
        mirrors = _merge(arc_name, "mirrors", {s.dataset: s.mirrors for s in srcs})
        gb = _merge(arc_name, "max_unpacked_gb", {s.dataset: s.max_unpacked_gb for s in srcs})
        jobs[arc_name] = ArchiveJob(arc_name, arc.filename, local, mirrors or arc.mirrors,
                                    gb if gb is not None else DEFAULT_MAX_UNPACKED_GB,
                                    tuple(s.dataset for s in srcs),
                                    tuple(k for k, v in (("mirrors", mirrors), ("max_unpacked_gb", gb))
                                          if v is not None))
    return jobs


def archive_job(name: str, datasets: Mapping[str, Mapping]) -> ArchiveJob:
    """The configured job for archive ``name``, or the registry's defaults when no split asks for it."""
    jobs = archive_jobs(datasets)
    if name in jobs:
        return jobs[name]
    arc = remote.get_archive(name)
    return ArchiveJob(name, arc.filename, None, arc.mirrors, DEFAULT_MAX_UNPACKED_GB, ())


def archive_for_file(filename: str) -> str:
    """Registry name of the archive stored under ``filename`` (the download rule's wildcard)."""
    for a in remote.ARCHIVES.values():
        if a.filename == filename:
            return a.name
    raise ConfigError(f"{filename}: not a known dataset archive; known: "
                      f"{', '.join(sorted(a.filename for a in remote.ARCHIVES.values()))}")


def prepare_spec(name: str, spec: Mapping, extracted_dir: str | os.PathLike | None = None) -> dict:
    """The entry the prepare stage gets: for a real split read from an extracted
    archive, ``root`` is that folder (archive/mirrors are spent by then)."""
    out = dict(spec)
    if extracted_dir is not None:
        for k in ("archive", "mirrors", "max_unpacked_gb"):
            out.pop(k, None)
        out["root"] = str(extracted_dir)
    return out


def _items(name: str, spec: dict) -> Iterable[tuple[str, object]]:
    """(image name, source) pairs; source is a loader or a path."""
    kind = dataset_source(name, spec)
    if kind == "remote":
        src = remote_source(name, spec)
        if src.root is None:
            raise ConfigError(f"datasets.{name}: give 'root:' (the extracted archive) to prepare it "
                              "outside the pipeline; the pipeline downloads and extracts it first")
        files = remote.split_images(name, src.root, splits={name: src.split})
        return [(f.stem, f) for f in files]
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
    files, hidden = scan_images(root)
    if hidden:
        log.info("%s: skipped %d hidden file%s (%s)", root, len(hidden), "s" * (len(hidden) != 1),
                 ", ".join(hidden[:5]) + (", ..." if len(hidden) > 5 else ""))
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


def _remove_dead_partials(out_dir: Path) -> None:
    """Folders ``.NAME.tmp-PID`` of killed prepare jobs (a whole dataset's PNGs each)."""
    for p in out_dir.parent.glob(f".{out_dir.name}.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if p.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            log.info("removing %s, left by a killed prepare", p)
            shutil.rmtree(p, ignore_errors=True)


def _hidden_files(name: str, spec: dict) -> list[str]:
    if not spec.get("root") or dataset_source(name, spec) != "folder":
        return []
    return scan_images(Path(spec["root"]).expanduser())[1]


def prepare_dataset(name: str, spec: dict, out_dir: str | Path, threads: int = 1) -> Path:
    """Write the dataset's images as RGB PNGs plus manifest.json into out_dir (``threads`` images at once).

    A user's folder (``root:`` of a custom dataset): hidden files are skipped
    (listed in the manifest's ``skipped_hidden``), EXIF orientation is applied
    and ICC profiles converted to sRGB (noted per image). The real splits'
    pixels are kept exactly as decoded.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    own = dataset_source(name, spec) == "folder"
    try:
        # decoding and PNG encoding release the GIL: threads share the work
        with ThreadPoolExecutor(max(1, threads)) as pool:
            items = list(_items(name, spec))
            records = list(track(pool.map(lambda item: _prepare_image(*item, spec, own, tmp), items),
                                 total=len(items), desc=f"prepare {name}", unit="img"))
        extra = {"skipped_hidden": _hidden_files(name, spec)} if own else {}
        manifest = base_record(dataset=name, source=dataset_source(name, spec), images=records,
                               **extra, **_origin(name, spec))
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=2))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _prepare_image(image: str, source, spec: dict, own: bool, folder: Path) -> dict:
    """One image as an RGB PNG in ``folder``; its manifest record (``own``: a user's folder)."""
    if isinstance(source, Path):
        rgb, note = read_rgb(source, own=own, max_megapixels=spec.get("max_megapixels"))
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
    write_png(folder / f"{image}.png", rgb)
    return {"image": image, "source": origin, "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
            "conversion": note}


def _origin(name: str, spec: dict) -> dict:
    """Provenance of a real split: the folder read and, when it is an extracted archive, the archive."""
    if name not in remote.SPLITS or not spec.get("root"):
        return {}
    root = Path(spec["root"]).expanduser()
    out: dict = {"root": str(root)}
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return out
    out["extracted_from"] = marker
    record = remote.read_source_record(marker.get("archive", ""))
    if record:
        out["archive_source"] = record
    return out


def dataset_images(prepared_dir: str | Path) -> list[Path]:
    """The PNGs of a prepared dataset, in manifest order."""
    prepared_dir = Path(prepared_dir)
    manifest = prepared_dir / "manifest.json"
    if not manifest.is_file():
        raise BadImageError(f"{prepared_dir}: not a prepared dataset (no manifest.json)")
    names = [r["image"] for r in json.loads(manifest.read_text())["images"]]
    return [prepared_dir / f"{n}.png" for n in names]
