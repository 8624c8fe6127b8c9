"""Registry of the real dataset archives (DIV2K, Flickr2K) and their splits.

Data plus three small steps, independent of Snakemake:

1. :func:`acquire_archive` — a verified archive on disk: either the user's
   own copy (``archive:`` config key; verified, never downloaded or moved)
   or a download from the mirrors in order (:func:`debiasqe.data.download.download_first`).
2. :func:`extract_split_root` — safe extraction (:mod:`debiasqe.data.extract`)
   of only the members a split can use (the HR images), under a size ceiling.
3. :func:`split_images` — the split's files under an extracted root or a
   user's already-extracted folder (``root:`` config key), verified by count
   and name; the folder holding them is found by searching, so a mirror with
   another layout (the Hugging Face Flickr2K zip) works too.

Checksum policy: a mirror with a size or checksum is verified; a mirror
without (the Hugging Face Flickr2K zip) is accepted with a warning saying
the file is UNVERIFIED and its sha256, so it can be pinned in the config.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

from .download import Mirror, bad_path, check_file, download_first, read_source_record, write_source_record
from ..core.errors import ConfigError, DebiasqeError, IntegrityError
from .extract import ArchiveError, GiB, archive_format, extract_archive

log = logging.getLogger(__name__)


class DatasetLayoutError(DebiasqeError):
    """A dataset folder lacks expected files or is ambiguous."""


@dataclass(frozen=True)
class Archive:
    name: str                  # registry key, e.g. "DIV2K_train_HR"
    filename: str              # file name under the downloads folder
    mirrors: tuple[Mirror, ...]


@dataclass(frozen=True)
class Split:
    name: str                  # dataset name, e.g. "div2k_train"
    archive: str               # Archive.name
    member_dir: str            # folder inside the archive, e.g. "DIV2K_train_HR"
    first: int
    last: int
    digits: int
    ext: str = ".png"
    subset: tuple[str, ...] | None = None   # config ``files:``: only these of the split's files

    @property
    def all_files(self) -> tuple[str, ...]:
        """Every file of the split, as the registry defines it."""
        return tuple(f"{i:0{self.digits}d}{self.ext}" for i in range(self.first, self.last + 1))

    @property
    def files(self) -> tuple[str, ...]:
        """The files used: the ``subset`` when one is set, else :attr:`all_files`."""
        return self.subset if self.subset is not None else self.all_files

    def with_subset(self, names: Sequence[str], key: str = "files") -> "Split":
        """This split restricted to ``names`` (file names or stems, e.g. ``0801``); ConfigError
        naming ``key`` when one is not a file of the split. Order is kept as given."""
        known = set(self.all_files)
        out = []
        for n in names:
            if not isinstance(n, str) or not n:
                raise ConfigError(f"{key}: expected file names or stems as strings, got {n!r}")
            f = n if n.endswith(self.ext) else n + self.ext
            if f not in known:
                raise ConfigError(f"{key}: {n!r} is not a file of {self.name} "
                                  f"({self.all_files[0]}..{self.all_files[-1]})")
            out.append(f)
        if not out:
            raise ConfigError(f"{key}: expected at least one file name")
        if len(set(out)) != len(out):
            raise ConfigError(f"{key}: a file is listed twice")
        return replace(self, subset=tuple(out))


FLICKR2K_HF_URL = "https://huggingface.co/datasets/goodfellowliu/Flickr2K/resolve/main/Flickr2K.zip"

ARCHIVES: dict[str, Archive] = {
    a.name: a
    for a in (
        Archive("DIV2K_train_HR", "DIV2K_train_HR.zip", (
            Mirror("http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
                   sha256="9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335",
                   size=3530603713, format="zip"),
        )),
        Archive("DIV2K_valid_HR", "DIV2K_valid_HR.zip", (
            Mirror("http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
                   sha256="20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc",
                   size=448993893, format="zip"),
        )),
        # The official tar (HR + bicubic LR) is reported dead since 2024; the HF
        # zip is HR-only with an unknown checksum. The file is tar or zip depending
        # on the mirror that answered, hence the neutral name (format is sniffed).
        Archive("Flickr2K", "Flickr2K.archive", (
            Mirror("https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar",
                   md5="5d3f39443d5e9489bff8963f8f26cb03", format="tar"),
            Mirror(FLICKR2K_HF_URL, format="zip"),
        )),
    )
}

SPLITS: dict[str, Split] = {
    s.name: s
    for s in (
        Split("div2k_train", "DIV2K_train_HR", "DIV2K_train_HR", 1, 800, 4),
        Split("div2k_valid", "DIV2K_valid_HR", "DIV2K_valid_HR", 801, 900, 4),
        # the authors' split of Flickr2K
        Split("flickr2k_train", "Flickr2K", "Flickr2K/Flickr2K_HR", 1, 1988, 6),
        Split("flickr2k_test", "Flickr2K", "Flickr2K/Flickr2K_HR", 1989, 2650, 6),
    )
}


# ---------------------------------------------------------------- lookups


def get_split(name: str, splits: Mapping[str, Split] | None = None) -> Split:
    splits = SPLITS if splits is None else splits
    try:
        return splits[name]
    except KeyError:
        raise ConfigError(f"unknown remote dataset {name!r}; known: {', '.join(sorted(splits))}") from None


def get_archive(name: str, archives: Mapping[str, Archive] | None = None) -> Archive:
    archives = ARCHIVES if archives is None else archives
    try:
        return archives[name]
    except KeyError:
        raise ConfigError(f"unknown dataset archive {name!r}; known: {', '.join(sorted(archives))}") from None


def archive_path(archive_name: str, downloads_dir: str | os.PathLike,
                 archives: Mapping[str, Archive] | None = None) -> Path:
    """Where :func:`acquire_archive` puts a downloaded archive."""
    return Path(downloads_dir) / get_archive(archive_name, archives).filename


def mirrors_from_config(entries: Sequence[Mapping], key: str = "mirrors") -> list[Mirror]:
    """Config ``mirrors:`` list (url, sha256?, md5?, size?, format?) -> Mirror list."""
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ConfigError(f"{key}: expected a non-empty list of {{url, sha256, md5, size}}")
    out = []
    for i, e in enumerate(entries):
        if isinstance(e, str):
            e = {"url": e}
        if not isinstance(e, Mapping) or not isinstance(e.get("url"), str):
            raise ConfigError(f"{key}[{i}]: expected a mapping with a 'url' string")
        unknown = set(e) - {"url", "sha256", "md5", "size", "format"}
        if unknown:
            raise ConfigError(f"{key}[{i}]: unknown keys {sorted(unknown)}")
        size = e.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise ConfigError(f"{key}[{i}].size: expected a byte count, got {size!r}")
        for algo, n in (("sha256", 64), ("md5", 32)):
            v = e.get(algo)
            if v is not None and (not isinstance(v, str) or len(v) != n
                                  or any(c not in "0123456789abcdefABCDEF" for c in v)):
                raise ConfigError(f"{key}[{i}].{algo}: expected {n} hex digits, got {v!r}")
        out.append(Mirror(e["url"], sha256=e.get("sha256"), md5=e.get("md5"), size=size,
                          format=e.get("format")))
    return out


# ---------------------------------------------------------------- steps


def verify_local_archive(path: str | os.PathLike, mirrors: Sequence[Mirror], *,
                         progress: bool = True) -> tuple[Mirror | None, bool]:
    """Check an archive on disk against the mirrors of its format.

    Returns ``(mirror, verified)``: the mirror whose size/checksum it matches
    (verified), or the checksum-less mirror of its format it is accepted
    under with an UNVERIFIED warning. Raises IntegrityError naming the file
    and each expectation if mirrors of its format carry checksums and none
    matches, or if no mirror is of its format (a tar where a zip is known).
    """
    path = Path(path)
    fmt = archive_format(path)
    same = [m for m in mirrors if m.format in (None, fmt)]
    if not same:
        known = sorted({m.format for m in mirrors if m.format})
        raise IntegrityError(f"{path}: is a {fmt}, but the known releases are {'/'.join(known)}")
    errors = []
    for m in (m for m in same if m.verifiable):
        try:
            digests = check_file(path, sha256=m.sha256, md5=m.md5, size=m.size, progress=progress)
        except IntegrityError as e:
            errors.append(f"[{m.url}] " + str(e).removeprefix(f"{path}: "))
            continue
        log.info("%s: verified against %s (sha256 %s)", path, m.url, digests["sha256"])
        return m, True
    if errors:
        raise IntegrityError(f"{path}: matches no known {fmt} release: " + "; ".join(errors))
    digests = check_file(path, progress=progress)
    log.warning("%s: no checksum known for a %s of this dataset; using it UNVERIFIED (sha256 %s)",
                path, fmt, digests["sha256"])
    return same[0], False


def acquire_archive(archive_name: str, downloads_dir: str | os.PathLike,
                    local_archive: str | os.PathLike | None = None, *,
                    mirrors: Sequence[Mirror] | None = None,
                    archives: Mapping[str, Archive] | None = None,
                    progress: bool = True, retries: int = 5, timeout: float = 60,
                    backoff: float = 1.0, dest: str | os.PathLike | None = None) -> Path:
    """Return a verified archive file for ``archive_name``.

    ``local_archive`` (config ``archive:``): the user's copy, verified (size /
    checksum when known) and used in place; nothing is downloaded.
    Otherwise the archive is downloaded to ``dest`` (default
    ``downloads_dir/<filename>``) from
    ``mirrors`` (config ``mirrors:``; default: the registry's) in order. A
    file put there by hand is verified like a local archive first; if it
    fails it is moved to ``<file>.bad-N`` and downloaded again. A mirror
    without a checksum must at least send something that looks like an
    archive (not an HTML page).
    """
    arc = get_archive(archive_name, archives)
    mirrors = tuple(mirrors) if mirrors is not None else arc.mirrors
    if local_archive is not None:
        local = Path(local_archive).expanduser()
        if not local.is_file():
            raise ConfigError(f"archive: {local} does not exist (given for {archive_name})")
        verify_local_archive(local, mirrors, progress=progress)
        return local
    dest = archive_path(archive_name, downloads_dir, archives) if dest is None else Path(dest)
    if dest.is_file() and read_source_record(dest) is None:  # placed by hand
        try:
            mirror, verified = verify_local_archive(dest, mirrors, progress=progress)
        except (IntegrityError, ArchiveError) as e:
            bad = bad_path(dest)
            os.replace(dest, bad)
            log.warning("%s; moved to %s, downloading", e, bad)
        else:
            write_source_record(dest, mirror, verified)
            return dest
    return download_first(mirrors, dest, retries=retries, timeout=timeout, progress=progress,
                          backoff=backoff, expect="archive")


def _wanted_names(archive_name: str, splits: Mapping[str, Split]) -> set[str]:
    return {f for s in splits.values() if s.archive == archive_name for f in s.all_files}


def extract_split_root(archive_path: str | os.PathLike, extracted_dir: str | os.PathLike,
                       max_bytes: int = 64 * GiB, *, archive_name: str | None = None,
                       splits: Mapping[str, Split] | None = None, progress: bool = True) -> Path:
    """Extract ``archive_path`` safely to ``extracted_dir``; return it (the root for split_images).

    With ``archive_name`` only members whose file name is an expected image
    of one of that archive's splits are written (e.g. Flickr2K's HR images,
    not its bicubic LR folders, whose names end in x2/x3/x4); the size
    ceiling applies to those. Without it, everything is extracted.
    """
    include = None
    if archive_name is not None:
        wanted = _wanted_names(archive_name, SPLITS if splits is None else splits)
        if not wanted:
            raise ConfigError(f"no split uses archive {archive_name!r}")
        include = lambda name: name.rsplit("/", 1)[-1] in wanted  # noqa: E731
    return extract_archive(archive_path, extracted_dir, max_bytes=max_bytes, include=include,
                           progress=progress)


def verified_archive(archive_name: str, path: str | os.PathLike, *, mirrors: Sequence[Mirror] | None = None,
                     archives: Mapping[str, Archive] | None = None, progress: bool = True) -> Path:
    """``path`` if it may be extracted: downloaded by us from one of ``mirrors`` (its
    ``.source.json`` says so), else verified now like a user's archive (:func:`verify_local_archive`)."""
    path = Path(path).expanduser()
    arc = get_archive(archive_name, archives)
    mirrors = tuple(mirrors) if mirrors is not None else arc.mirrors
    record = read_source_record(path)
    if path.is_file() and record and any(m.url == record.get("url") for m in mirrors):
        return path
    if not path.is_file():
        raise ConfigError(f"archive: {path} does not exist (given for {archive_name})")
    verify_local_archive(path, mirrors, progress=progress)
    return path


def extract_archive_for_splits(archive_name: str, path: str | os.PathLike, extracted_dir: str | os.PathLike, *,
                               mirrors: Sequence[Mirror] | None = None, max_bytes: int = 64 * GiB,
                               progress: bool = True) -> Path:
    """The extract stage: check ``path`` (:func:`verified_archive`), then extract the images
    of every split of ``archive_name`` into ``extracted_dir`` (:func:`extract_split_root`)."""
    path = verified_archive(archive_name, path, mirrors=mirrors, progress=progress)
    return extract_split_root(path, extracted_dir, max_bytes, archive_name=archive_name, progress=progress)


def max_bytes_from_gb(max_unpacked_gb: float | int) -> int:
    """Config ``max_unpacked_gb`` (GiB) -> bytes, validated."""
    if not isinstance(max_unpacked_gb, (int, float)) or isinstance(max_unpacked_gb, bool) or max_unpacked_gb <= 0:
        raise ConfigError(f"max_unpacked_gb: expected a positive number, got {max_unpacked_gb!r}")
    return int(max_unpacked_gb * GiB)


def _find_folder(split: Split, root: Path, max_depth: int = 4) -> Path:
    """The folder under ``root`` holding most of the split's files (registry path first)."""
    expected = set(split.files)

    def hits(d: Path) -> int:
        try:
            return len(expected.intersection(os.listdir(d)))
        except OSError:
            return 0

    preferred = root / split.member_dir
    if preferred.is_dir() and hits(preferred) == len(expected):
        return preferred
    best: list[tuple[int, int, Path]] = []
    root_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        depth = len(d.parts) - root_depth
        if depth >= max_depth:
            dirnames[:] = []
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        n = len(expected.intersection(filenames))
        if n:
            best.append((n, -depth, d))
    if not best:
        raise DatasetLayoutError(
            f"{split.name}: none of the {len(expected)} expected files ({split.files[0]}..{split.files[-1]}) "
            f"found under {root} (searched {max_depth} levels deep)")
    best.sort(key=lambda t: (t[0], t[1]), reverse=True)
    top = [b for b in best if b[0] == best[0][0]]
    if len(top) > 1:
        named = [b for b in top if b[2].as_posix().endswith(split.member_dir)]
        if len(named) == 1:
            return named[0][2]
        if top[0][1] == top[1][1]:
            raise DatasetLayoutError(f"{split.name}: ambiguous, {len(top)} folders under {root} hold "
                                     f"{top[0][0]} of its files: {', '.join(str(b[2]) for b in top[:4])}")
    return top[0][2]


def split_images(split_name: str, root: str | os.PathLike, *,
                 splits: Mapping[str, Split] | None = None) -> list[Path]:
    """The split's image files (in order) under ``root``, all present and non-empty.

    ``root`` is an extracted archive or a user's folder (config ``root:``):
    the folder holding the files may be ``root`` itself, the archive's
    member folder below it, or any folder up to 4 levels down. Extra files
    (other splits' images) are ignored. Missing or empty files raise
    DatasetLayoutError listing the first few.
    """
    split = get_split(split_name, splits)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"root: {root} is not a folder (given for {split_name})")
    folder = _find_folder(split, root)
    present = set(os.listdir(folder))
    missing = [f for f in split.files if f not in present]
    if missing:
        raise DatasetLayoutError(
            f"{split_name}: {len(missing)} of {len(split.files)} expected files missing in {folder} "
            f"(first: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")
    paths = [folder / f for f in split.files]
    empty = [p.name for p in paths if p.stat().st_size == 0]
    if empty:
        raise DatasetLayoutError(f"{split_name}: {len(empty)} empty files in {folder} (first: {', '.join(empty[:5])})")
    log.info("%s: %d images in %s", split_name, len(paths), folder)
    return paths
