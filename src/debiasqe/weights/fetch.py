"""One store for every pretrained file: where it is, how it gets there, what state a job sees.

Every consumer (training's VGG-19, the metric networks, FID's Inception,
disparity's VGG-19) reads the **store** only: ``$DEBIASQE_WEIGHTS``, else the
config's ``weights.dir``, else ``resources/weights``, laid out like the
caches the libraries read (``torch/hub/checkpoints/``, ``torch/hub/pyiqa/``,
``torch/hub/clip/``, ``hf/hub/models--.../``; see
:mod:`debiasqe.weights.metric_weights`). Only :func:`fetch` (the
``fetch_weights`` local rule) writes into it, for each file in turn:

1. present in the store and verified -> ``found``;
2. present in a standard cache the user already has (torch hub, pyiqa's,
   Hugging Face's, CLIP's, debiasqe's old flat layout), verified, then
   hard-linked (copied across file systems) into the store -> ``linked``;
3. under ``auto``/``required``: downloaded from the mirror (``weights.mirror``
   / ``$DEBIASQE_WEIGHTS_MIRROR``: a base URL or a folder holding the store's
   layout, the file taken by its path relative to the store) or else from its
   own URL, after one reachability probe per host (a short timeout, so an
   offline run loses seconds) -> ``downloaded``;
4. otherwise ``missing`` (``required`` then stops with one line).

A file whose sha256 is known (in full, or torch hub's prefix in its name)
and differs is refused with one line naming it and both hashes
(:func:`debiasqe.weights.record.verify`, the one check).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlsplit

from ..core.atomic import write_text
from ..core.errors import WeightsUnavailableError
from ..core.provenance import base_record
from ..data.download import DownloadError, download
from ..paths import resources
from ..report.marks import count_marked_outputs
from . import metric_weights as mw
from . import store as wstore
from .record import FETCH_COMMAND, WeightFile, verify

FOUND, LINKED, DOWNLOADED, MISSING, NOT_LOOKED = "found", "linked", "downloaded", "missing", "not-looked-for"
PROBE_TIMEOUT = 3.0


# --- the store -----------------------------------------------------------------------------------

def store_dir(configured: str | os.PathLike | None = None) -> Path:
    """The weight store: ``$DEBIASQE_WEIGHTS``, else ``configured`` (``weights.dir``), else ``resources/weights``."""
    env = os.environ.get("DEBIASQE_WEIGHTS")
    chosen = env or (os.fspath(configured) if configured else resources("weights"))
    return Path(chosen).expanduser().absolute()


def mirror_setting(configured: str | None = None) -> str | None:
    """``$DEBIASQE_WEIGHTS_MIRROR``, else ``configured`` (``weights.mirror``), else None."""
    return os.environ.get("DEBIASQE_WEIGHTS_MIRROR") or configured or None


def vgg19_file() -> WeightFile:
    """torchvision's VGG-19 (losses, L_R, disparity), read from the registry when called."""
    return wstore.get_spec("vgg19")


def needed_files(metrics: Sequence[str], vgg: bool = True) -> list[WeightFile]:
    files = mw.all_files(metrics)
    if vgg and all(f.relpath != vgg19_file().relpath for f in files):
        files.append(vgg19_file())
    return files


def in_store(f: WeightFile, store: str | os.PathLike) -> Path | None:
    return mw.find_present(f, store)


# --- standard caches -------------------------------------------------------------------------------

def _torch_hub_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("TORCH_HOME"):
        dirs.append(Path(os.environ["TORCH_HOME"]).expanduser() / "hub")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    dirs.append(Path(xdg) / "torch" / "hub")
    return dirs


def _hf_hub_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]).expanduser())
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    dirs.append(Path(xdg) / "huggingface" / "hub")
    return dirs


def cache_candidates(f: WeightFile, store: str | os.PathLike) -> list[Path]:
    """Where the user's own caches may already hold ``f`` (read from the environment now)."""
    out: list[Path] = [Path(store) / f.name]  # debiasqe's old flat layout
    for hub in _torch_hub_dirs():
        sub = {"pyiqa": "pyiqa", "torchvision": "checkpoints", "clip": "clip"}.get(f.kind)
        if sub:
            out.append(hub / sub / f.name)
    if f.kind == "clip":
        out.append(Path(os.path.expanduser("~")) / ".cache" / "clip" / f.name)
    if f.kind == "timm":
        folder = "models--" + (f.hf_repo or "").replace("/", "--")
        for hub in _hf_hub_dirs():
            repo = hub / folder
            ref = repo / "refs" / "main"
            if ref.is_file():
                out.append(repo / "snapshots" / ref.read_text().strip() / f.name)
            out += sorted((repo / "snapshots").glob(f"*/{f.name}")) if (repo / "snapshots").is_dir() else []
    seen, uniq = set(), []
    for p in out:
        if p not in seen and p != f.path(store):
            seen.add(p)
            uniq.append(p)
    return uniq


def place(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (a copy, written atomically, across file systems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _mark_timm(f: WeightFile, dest: Path) -> None:
    if f.kind == "timm":
        ref = dest.parents[2] / "refs" / "main"
        if not ref.is_file():
            write_text(ref, mw.OFFLINE_HF_REVISION)


# --- downloads -------------------------------------------------------------------------------------

class Prober:
    """One TCP reachability probe per host (``timeout`` seconds), remembered."""

    def __init__(self, timeout: float = PROBE_TIMEOUT):
        self.timeout = timeout
        self.seen: dict[tuple[str, int], bool] = {}

    def reachable(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return True
        proxy = os.environ.get(f"{parts.scheme}_proxy") or os.environ.get(f"{parts.scheme.upper()}_PROXY")
        if proxy and not _no_proxy(parts.hostname or ""):
            parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")  # the proxy is what must answer
        key = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        if key not in self.seen:
            try:
                socket.create_connection(key, timeout=self.timeout).close()
                self.seen[key] = True
            except OSError:
                self.seen[key] = False
        return self.seen[key]


def _no_proxy(host: str) -> bool:
    skip = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    return any(host == d.strip().lstrip(".") or host.endswith("." + d.strip().lstrip("."))
               for d in skip.split(",") if d.strip()) or host in ("127.0.0.1", "localhost")


def source_url(f: WeightFile, mirror: str | None) -> str:
    """Where ``f`` is downloaded from: ``mirror``/<path in the store>, else its own URL."""
    if not mirror:
        return f.url
    if "://" in mirror:
        return mirror.rstrip("/") + "/" + f.relpath
    return str(Path(mirror).expanduser() / f.relpath)


def _obtain(f: WeightFile, dest: Path, mirror: str | None, prober: Prober,
            downloader: Callable[..., object], progress: bool) -> str | None:
    """Fetch ``f`` into ``dest``; return where it came from, or None (unreachable or failed)."""
    src = source_url(f, mirror)
    if "://" not in src:  # a local mirror folder
        if not Path(src).is_file():
            return None
        verify(f, src)
        place(Path(src), dest)
        return src
    if not prober.reachable(src):
        return None
    try:
        downloader(src, dest, sha256=f.sha256, progress=progress, retries=2, timeout=60)
    except DownloadError:
        return None
    return src


def fetch(metrics: Sequence[str], store: str | os.PathLike, policy: str = "auto", *,
          mirror: str | None = None, vgg: bool = True, downloader: Callable[..., object] | None = None,
          prober: Prober | None = None, progress: bool = True) -> list[dict]:
    """Bring every file the run needs into the store (see the module doc); one row per file."""
    wstore._check_policy(policy)
    store = Path(store)
    downloader = downloader or download
    prober = prober or Prober()
    rows = []
    for f in needed_files(metrics, vgg):
        dest = f.path(store)
        state, source = NOT_LOOKED, None
        present = in_store(f, store)
        if present is not None:
            state, source, dest = FOUND, str(present), present
        elif policy != "random":
            cached = next((p for p in cache_candidates(f, store) if p.is_file()), None)
            if cached is not None:
                verify(f, cached)
                place(cached, dest)
                state, source = LINKED, str(cached)
            else:
                source = _obtain(f, dest, mirror, prober, downloader, progress)
                state = DOWNLOADED if source else MISSING
            if state != MISSING:
                _mark_timm(f, dest)
        elif present is None:
            state = MISSING
        digest = verify(f, dest) if state not in (MISSING, NOT_LOOKED) else None
        rows.append({"key": f.key, "name": f.name, "metric": f.metric, "kind": f.kind, "relpath": f.relpath,
                     "path": str(dest), "state": state, "source": source,
                     "size": dest.stat().st_size if digest else None, "sha256": digest or "missing"})
    missing = [r["relpath"] for r in rows if r["state"] == MISSING]
    if policy == "required" and missing:
        raise WeightsUnavailableError(missing_line(missing, store))
    return rows


def missing_line(relpaths: Sequence[str], store: str | os.PathLike) -> str:
    shown = ", ".join(relpaths[:6]) + (f" and {len(relpaths) - 6} more" if len(relpaths) > 6 else "")
    return (f"pretrained weights missing from {store}: {shown}; fetch them with `{FETCH_COMMAND}` "
            f"(online, or with weights.mirror / DEBIASQE_WEIGHTS_MIRROR set)")


def write_manifest(rows: list[dict], manifest_path: str | os.PathLike, *, store: str | os.PathLike,
                   policy: str, mirror: str | None) -> None:
    write_text(manifest_path, json.dumps(base_record(weights_dir=str(store), policy=policy, mirror=mirror,
                                                     fetched_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                     files=rows), indent=2) + "\n")


def read_manifest(manifest_path: str | os.PathLike) -> dict | None:
    try:
        return json.loads(Path(manifest_path).read_text())
    except (OSError, ValueError):
        return None


# --- what a job sees: its weight state ------------------------------------------------------------

def state_of(files: Sequence[WeightFile], store: str | os.PathLike, policy: str,
             present: Callable[[WeightFile], bool] | None = None) -> str:
    """A job's weight state: ``none`` (it needs no file), ``random-init`` (``pretrained: random``),
    ``pretrained-<digest>`` (every file present) or ``partial-<digest>`` (some missing: those
    networks run random-init under ``auto``). The digest covers the files' store paths and which
    are present. ``present`` defaults to "in the store now" (stat only)."""
    if not files:
        return "none"
    if policy == "random":
        return "random-init"
    present = present or (lambda f: in_store(f, store) is not None)
    h = hashlib.sha256()
    complete = True
    for f in sorted(files, key=lambda f: f.relpath):
        ok = bool(present(f))
        complete &= ok
        h.update(f"{f.relpath}={'present' if ok else 'missing'};".encode())
    return ("pretrained-" if complete else "partial-") + h.hexdigest()[:12]


class Expectation:
    """What the store will hold once ``fetch_weights`` has run, known before it runs (the DAG needs it).

    A file will be present when it is in the store or a user cache, or (``auto``/``required``) when
    it can be downloaded: the mirror has it or its host answers a probe, unless the last fetch
    (the manifest) already failed to get it; ``snakemake -f fetch_weights`` tries again.
    """

    def __init__(self, store: str | os.PathLike, policy: str, mirror: str | None,
                 manifest_path: str | os.PathLike | None = None, prober: Prober | None = None):
        self.store, self.policy, self.mirror = Path(store), policy, mirror
        self.prober = prober or Prober()
        record = read_manifest(manifest_path) if manifest_path else None
        self.failed = {r["relpath"] for r in (record or {}).get("files", []) if r.get("state") == MISSING}
        self._memo: dict[str, bool] = {}

    def present(self, f: WeightFile) -> bool:
        if f.relpath not in self._memo:
            self._memo[f.relpath] = self._present(f)
        return self._memo[f.relpath]

    def _present(self, f: WeightFile) -> bool:
        if in_store(f, self.store) is not None:
            return True
        if self.policy == "random":
            return False
        if any(p.is_file() for p in cache_candidates(f, self.store)):
            return True
        if f.relpath in self.failed:
            return False
        return not unobtainable([f], self.store, self.mirror, self.prober)

    def state(self, files: Sequence[WeightFile]) -> str:
        return state_of(files, self.store, self.policy, self.present)

    def to_fetch(self, files: Sequence[WeightFile]) -> list[str]:
        """Store paths of the files a fetch would bring now (expected, but not in the store yet)."""
        return sorted(f.relpath for f in files if self.present(f) and in_store(f, self.store) is None)


def write_state(path: str | os.PathLike, state: str) -> bool:
    """Write ``state`` to ``path`` unless it already says so (its mtime is what reruns jobs)."""
    p = Path(path)
    try:
        if p.read_text().strip() == state:
            return False
    except OSError:
        pass
    write_text(p, state + "\n")
    return True


def missing_in_store(files: Sequence[WeightFile], store: str | os.PathLike) -> list[str]:
    return [f.relpath for f in files if in_store(f, store) is None]


def unobtainable(files: Sequence[WeightFile], store: str | os.PathLike, mirror: str | None,
                 prober: Prober | None = None) -> list[str]:
    """Store paths of the files that neither the store, a user cache, the mirror nor a reachable
    host can provide (stat calls, and one probe per host only when something is absent)."""
    prober = prober or Prober()
    out = []
    for f in files:
        if in_store(f, store) is not None or any(p.is_file() for p in cache_candidates(f, store)):
            continue
        src = source_url(f, mirror)
        if ("://" in src and not prober.reachable(src)) or ("://" not in src and not Path(src).is_file()):
            out.append(f.relpath)
    return out


def console_lines(when: str, policy: str, store: str | os.PathLike, manifest_path: str | os.PathLike,
                  files: Sequence[WeightFile], results_root: str | os.PathLike = "results") -> list[str]:
    """What the run says about pretrained files at its start and in its last lines."""
    if policy == "random":
        return ["debiasqe: pretrained: random: every learned network is RANDOM-INIT; "
                "its numbers are marked \u2020 and are not measurements"]
    if when == "start":
        missing = missing_in_store(files, store)
        if not missing:
            return []
        return [f"debiasqe: {len(missing)} pretrained file(s) not yet in {store}; fetch_weights will try to get "
                f"them first" + (" (pretrained: auto: what it cannot get runs RANDOM-INIT, marked \u2020)"
                                 if policy == "auto" else "")]
    missing = missing_in_store(files, store)  # the manifest may predate files placed by hand
    if not missing:
        return []
    n = count_marked_outputs(results_root)
    return ["debiasqe: WARNING: " + missing_line(missing, store),
            f"debiasqe: {n} result file(s) hold numbers from random-init networks (marked \u2020, not measurements); "
            f"after fetching, rerun snakemake: exactly those outputs are remade"]
