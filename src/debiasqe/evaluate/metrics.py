"""pyiqa-backed image-quality evaluation: decode once, batched, NR cache.

Metrics are named by their pyiqa ids. Whether a metric is full- or
no-reference and whether lower is better are read from pyiqa's
``DEFAULT_CONFIGS`` (the same table ``InferenceModel`` reads), never retyped.
``fid`` is a set-level distance: :mod:`debiasqe.evaluate.fid` computes it on patches;
here it only appears in :func:`metric_info`.

Weights policy (``pretrained``):

``required``  every file must be in the weights folder, else one
              :class:`WeightsUnavailableError` naming the metric and file.
``auto``      load the files when all are present; otherwise build the same
              network with random initialisation when that is meaningful
              (every learned metric), and mark the metric "unavailable"
              (a NaN column plus a provenance note) when it is not: NIQE and
              PI read natural-scene statistics (.mat), not network weights.
``random``    random-init for every learned metric even when files exist
              (benchmarks, smoke runs); niqe/pi still need their .mat files.

Random-init keeps pyiqa's architecture: pyiqa's own ``pretrained=False``
switches are used where they exist (ahiq, dists, hyperiqa, lpips, musiq,
topiq_fr with ``backbone_pretrain=False``), and backbones that pyiqa
hard-codes as pretrained (timm ``pretrained=True``, torchvision
``weights='IMAGENET1K_V1'``, CLIP) are built without weights by a scoped
patch of ``timm.create_model``/``torchvision.models``/pyiqa's CLIP loader.
This is more faithful than switching e.g. LPIPS from AlexNet to SqueezeNet.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..weights import metric_weights as mw
from .iqa import METRIC_SPECS
from ..core.atomic import atomic_open, write_text
from ..core.errors import BadImageError, ConfigError, DebiasqeError, WeightsUnavailableError
from ..core.provenance import base_record, sha256_file
from ..weights.store import POLICIES

SET_LEVEL = {n for n, spec in METRIC_SPECS.items() if spec.set_level}
#: metrics that are statistics files, not networks: no random init
NO_RANDOM_INIT = {n for n, spec in METRIC_SPECS.items() if spec.random_init is None and not spec.set_level}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".npy"}


# ------------------------------------------------------------------ images
def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image to float32 HxWx3 RGB in [0, 1]; BadImageError names the file.

    PNG/JPEG/... through Pillow (8- or 16-bit), TIFF through tifffile,
    ``.npy`` arrays (uint8, uint16 or float in [0, 1]).
    """
    p = Path(path)
    if not p.is_file():
        raise BadImageError(f"{p}: image file not found")
    try:
        ext = p.suffix.lower()
        if ext == ".npy":
            arr = np.load(p, allow_pickle=False)
        elif ext in (".tif", ".tiff"):
            import tifffile
            arr = tifffile.imread(p)
        else:
            from PIL import Image
            with Image.open(p) as im:
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im).astype(np.float32) / 65535.0
                else:
                    arr = np.asarray(im.convert("RGB"))
    except BadImageError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder failure is the file's fault
        raise BadImageError(f"{p}: cannot decode image ({type(e).__name__}: {e})") from None
    return to_float_rgb(arr, p)


def to_float_rgb(arr: np.ndarray, name: str | os.PathLike = "<array>") -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise BadImageError(f"{name}: expected HxW, HxWx3 or HxWx4 pixels, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        bad = ~np.isfinite(out)
        if bad.any():
            raise BadImageError(f"{name}: {int(bad.sum())} NaN/inf pixel value(s)")
        if out.min() < 0 or out.max() > 1:
            raise BadImageError(f"{name}: float pixels outside [0, 1] "
                                f"(min {out.min():.4g}, max {out.max():.4g})")
    else:
        raise BadImageError(f"{name}: unsupported pixel type {arr.dtype}")
    if min(out.shape[:2]) < 1:
        raise BadImageError(f"{name}: empty image {out.shape}")
    return np.ascontiguousarray(out)


def to_tensor(img: np.ndarray):
    import torch
    return torch.from_numpy(img).permute(2, 0, 1)


# ------------------------------------------------------------------ metric info
@dataclass(frozen=True)
class MetricInfo:
    name: str
    mode: str           # 'FR', 'NR' or 'set' (fid)
    lower_better: bool
    score_range: str | None


def metric_info(name: str) -> MetricInfo:
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    if name not in DEFAULT_CONFIGS:
        raise ConfigError(f"metric {name!r} is not a pyiqa metric id")
    cfg = DEFAULT_CONFIGS[name]
    mode = "set" if name in SET_LEVEL else cfg["metric_mode"]
    return MetricInfo(name, mode, bool(cfg.get("lower_better", False)), cfg.get("score_range"))


# ------------------------------------------------------------------ building
def _random_clip(name: str, device="cpu", *a, **k):
    """pyiqa's CLIP architecture with random weights (RN50 only)."""
    from pyiqa.archs.clip_model import CLIP
    if name != "RN50":
        raise ConfigError(f"clipiqa: random-init is implemented for the RN50 backbone, not {name!r}")
    # CLIP RN50's architecture (openai/CLIP model card); needed only when no
    # weight file exists, since pyiqa infers it from the file's shapes.
    model = CLIP(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12)
    return model.to(device).float().eval()


@contextlib.contextmanager
def random_backbones() -> Iterator[None]:
    """Build timm/torchvision/CLIP backbones without weights, inside pyiqa."""
    import timm
    import torchvision.models as tvm
    from pyiqa.archs import clipiqa_arch

    patches = []

    def patch(mod, attr, value):
        patches.append((mod, attr, getattr(mod, attr)))
        setattr(mod, attr, value)

    orig_timm = timm.create_model

    def timm_create(name, pretrained=False, *a, **k):
        return orig_timm(name, False, *a, **k)

    patch(timm, "create_model", timm_create)
    for fn in ("vgg16", "alexnet", "squeezenet1_1", "resnet18", "resnet34", "resnet50",
               "resnet101", "resnet152"):
        orig = getattr(tvm, fn)

        def tv(*_a, _orig=orig, **k):
            k.pop("weights", None)
            k.pop("pretrained", None)
            return _orig(weights=None, **k)

        patch(tvm, fn, tv)
    patch(clipiqa_arch, "load", _random_clip)
    try:
        yield
    finally:
        for mod, attr, value in reversed(patches):
            setattr(mod, attr, value)


#: how each metric is built without files (metrics.build_metric under ``pretrained: random``)
RANDOM_KWARGS = {n: spec.random_init for n, spec in METRIC_SPECS.items() if spec.random_init is not None}


def _check_plain_tensor_file(metric: str, path: Path) -> None:
    """pyiqa loads .pth with weights_only=False: refuse files that need pickle."""
    if path.suffix not in (".pth", ".pt", ".bin") or path.name == "RN50.pt":
        return  # .mat/.safetensors carry no code; CLIP is sha256-checked by pyiqa
    import torch
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001
        raise WeightsUnavailableError(
            f"{metric}: weight file {path} does not load with weights_only=True "
            f"({type(e).__name__}); refusing to unpickle it") from None


@dataclass
class BuiltMetric:
    name: str
    info: MetricInfo
    model: object | None       # pyiqa InferenceModel, or None when unavailable
    status: str                # pretrained | random-init | no-weights | unavailable
    weights: dict              # file name -> sha256 | "random-init" | "unavailable"
    note: str = ""

    def record(self) -> dict:
        return {"mode": self.info.mode, "lower_better": self.info.lower_better,
                "status": self.status, "weights": self.weights, "note": self.note}


def build_metric(name: str, policy: str = "auto", weights_dir=mw.DEFAULT_WEIGHTS_DIR,
                 device="cpu", options: dict | None = None, seed: int = 0) -> BuiltMetric:
    """Create one pyiqa metric under the weights policy (see module doc)."""
    import torch
    import pyiqa

    if policy not in POLICIES:
        raise ConfigError(f"pretrained={policy!r}: expected one of {', '.join(POLICIES)}")
    info = metric_info(name)
    if info.mode == "set":
        raise ConfigError(f"metric {name!r} is set-level: use debiasqe.evaluate.fid, not the per-image evaluator")
    files = mw.files_for(name)
    present = {f.key: mw.find_present(f, weights_dir) for f in files}
    missing = [f for f in files if present[f.key] is None]
    options = dict(options or {})

    if not files:
        status = "no-weights"
    elif policy == "required":
        if missing:
            f = missing[0]
            raise WeightsUnavailableError(
                f"metric {name}: weight file {f.path(weights_dir)} is missing "
                f"(pretrained: required; fetch {f.url})")
        status = "pretrained"
    elif policy == "auto":
        status = "pretrained" if not missing else (
            "unavailable" if name in NO_RANDOM_INIT else "random-init")
    else:  # random
        if name in NO_RANDOM_INIT:
            status = "unavailable" if missing else "pretrained"
        else:
            status = "random-init"

    if status == "unavailable":
        return BuiltMetric(name, info, None, status,
                           {f.key: ("unavailable" if present[f.key] is None else
                                    sha256_file(present[f.key])) for f in files},
                           note=f"missing {', '.join(str(f.path(weights_dir)) for f in missing)}; "
                                f"{name} has no random-init form")

    with mw.weights_env(weights_dir):
        if status == "pretrained":
            for f in files:
                _check_plain_tensor_file(name, present[f.key])
            weights = {f.key: sha256_file(present[f.key]) for f in files}
            model = pyiqa.create_metric(name, device=device, **options)
        elif status == "random-init":
            torch.manual_seed(seed)
            with random_backbones():
                model = pyiqa.create_metric(name, device=device,
                                            **{**RANDOM_KWARGS.get(name, {}), **options})
            weights = {f.key: "random-init" for f in files}
        else:
            model = pyiqa.create_metric(name, device=device, **options)
            weights = {}
    model.eval()
    note = f"seed {seed}" if status == "random-init" else ""
    return BuiltMetric(name, info, model, status, weights, note)


# ------------------------------------------------------------------ NR cache
class NRCache:
    """No-reference scores keyed by metric, weights and image identity.

    Identity is (absolute path, size, mtime_ns), so an overwritten file is
    re-scored. Stored as JSON, written atomically by :meth:`save`.
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.data: dict[str, float] = {}
        self.hits = self.misses = 0
        if self.path and self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.data = {}

    @staticmethod
    def key(metric: str, weights_id: str, image: str | os.PathLike) -> str:
        st = os.stat(image)
        return f"{metric}|{weights_id}|{os.path.abspath(image)}|{st.st_size}|{st.st_mtime_ns}"

    def get(self, key: str) -> float | None:
        v = self.data.get(key)
        if v is None:
            self.misses += 1
            return None
        self.hits += 1
        return float("nan") if v == "nan" else float(v)

    def put(self, key: str, value: float) -> None:
        self.data[key] = "nan" if math.isnan(value) else float(value)

    def save(self) -> None:
        if self.path:
            write_text(self.path, json.dumps(self.data, indent=0, sort_keys=True))


def _weights_id(b: BuiltMetric) -> str:
    return b.status + ":" + ",".join(f"{k}={v[:16]}" for k, v in sorted(b.weights.items()))


# ------------------------------------------------------------------ evaluation
def _scores(out, n: int, name: str, files) -> list[float]:
    import torch
    t = torch.as_tensor(out).detach().float().cpu().reshape(-1)
    if t.numel() != n:
        raise DebiasqeError(f"metric {name}: returned {t.numel()} scores for a batch of {n} "
                            f"({files[0]} ...)")
    return [float(v) for v in t]


def evaluate_images(metric_names: Sequence[str], pairs: Sequence[tuple[str, str, str | None]],
                    device="cpu", batch_size: int = 8, pretrained_policy: str = "auto",
                    weights_dir=mw.DEFAULT_WEIGHTS_DIR, nr_cache=None,
                    metric_options: dict | None = None, reference_nr: bool = False,
                    seed: int = 0, progress: bool = True, built: dict | None = None):
    """Score every (name, enhanced_path, reference_path) pair with every metric.

    Each image is decoded once per call and fed to all metrics as RGB float
    [0, 1] tensors, called as (target, reference); pairs of equal size are
    batched. No-reference scores go through ``nr_cache`` (a path or an
    :class:`NRCache`), so images already scored - typically the raw
    references, shared by every method - are not scored again.
    ``reference_nr=True`` adds ``<metric>_ref`` columns: NR scores of the
    references (from the cache after the first method).

    Returns (DataFrame one row per image, provenance dict).
    """
    import pandas as pd
    import torch
    from ..core.progress import track

    names = [m for m in metric_names if m not in SET_LEVEL]
    for m in metric_names:
        metric_info(m)  # validates the id
    cache = nr_cache if isinstance(nr_cache, NRCache) else NRCache(nr_cache)
    metric_options = metric_options or {}
    if built is None:
        built = {m: build_metric(m, pretrained_policy, weights_dir, device,
                                 metric_options.get(m), seed) for m in names}
    if not pairs:
        raise ConfigError("evaluate_images: no image pairs given")
    for n, e, r in pairs:
        if not Path(e).is_file():
            raise BadImageError(f"{e}: image file not found (image {n})")
        if r is not None and not Path(r).is_file():
            raise BadImageError(f"{r}: reference image file not found (image {n})")
    need_ref = any(built[m].info.mode == "FR" and built[m].model is not None
                   for m in names) or reference_nr
    if need_ref:
        for n, e, r in pairs:
            if r is None:
                raise ConfigError(f"image {n} ({e}): full-reference metrics or reference_nr "
                                  f"need a reference image, got none")
    wid = {m: _weights_id(b) for m, b in built.items()}

    rows: dict[str, dict] = {n: {"image": n} for n, _, _ in pairs}
    # Decode lazily in batches of equal-size pairs, once per image.
    decoded: dict[str, np.ndarray] = {}
    groups: dict[tuple, list] = defaultdict(list)

    def load(p):
        if p not in decoded:
            decoded[p] = read_image(p)
        return decoded[p]

    # Which NR scores are already cached? Skip decoding for fully-cached pairs.
    todo_pairs = []
    for n, e, r in pairs:
        need = False
        for m in names:
            b = built[m]
            if b.model is None:
                rows[n][m] = float("nan")
                if reference_nr and b.info.mode == "NR":
                    rows[n][m + "_ref"] = float("nan")
                continue
            if b.info.mode == "NR":
                v = cache.get(NRCache.key(m, wid[m], e))
                if v is None:
                    need = True
                else:
                    rows[n][m] = v
                if reference_nr:
                    v = cache.get(NRCache.key(m, wid[m], r))
                    if v is None:
                        need = True
                    else:
                        rows[n][m + "_ref"] = v
            else:
                need = True
        if need:
            todo_pairs.append((n, e, r))

    # Size grouping needs headers only; decode happens per batch.
    def size_of(p):
        from PIL import Image
        try:
            with Image.open(p) as im:
                return im.size[::-1]
        except Exception:  # noqa: BLE001 - .npy/.tiff/odd files: decode
            return load(p).shape[:2]

    for n, e, r in todo_pairs:
        se = size_of(e)
        if need_ref and r is not None:
            sr = size_of(r)
            if tuple(se) != tuple(sr):
                raise BadImageError(f"{e}: size {se[1]}x{se[0]} differs from its reference "
                                    f"{r} ({sr[1]}x{sr[0]})")
        groups[tuple(se)].append((n, e, r))

    batches = [g[i:i + batch_size] for g in groups.values() for i in range(0, len(g), batch_size)]
    counts = defaultdict(int)
    seconds = defaultdict(float)
    import time
    with torch.no_grad():
        for batch in track(batches, desc="metrics", unit="batch", bar=progress):
            imgs = [load(e) for _, e, _ in batch]
            x = torch.stack([to_tensor(i) for i in imgs]).to(device)
            y = None
            if need_ref:
                refs = [load(r) for _, _, r in batch]
                for (n, e, r), a, b_ in zip(batch, imgs, refs):
                    if a.shape != b_.shape:
                        raise BadImageError(f"{e}: size {a.shape[1]}x{a.shape[0]} differs from "
                                            f"its reference {r} ({b_.shape[1]}x{b_.shape[0]})")
                y = torch.stack([to_tensor(i) for i in refs]).to(device)
            files = [e for _, e, _ in batch]
            for m in names:
                b = built[m]
                if b.model is None:
                    continue
                t0 = time.perf_counter()
                try:
                    if b.info.mode == "FR":
                        vals = _scores(b.model(x, y), len(batch), m, files)
                        counts[m] += len(batch)
                        for (n, _, _), v in zip(batch, vals):
                            rows[n][m] = v
                        continue
                    for tgt, col, paths in ((x, m, files),) + (
                            ((y, m + "_ref", [r for _, _, r in batch]),) if reference_nr else ()):
                        keys = [NRCache.key(m, wid[m], p) for p in paths]
                        idx = [i for i, (n, _, _) in enumerate(batch) if col not in rows[n]]
                        if not idx:
                            continue
                        vals = _scores(b.model(tgt[idx]), len(idx), m, [paths[i] for i in idx])
                        counts[m] += len(idx)
                        for i, v in zip(idx, vals):
                            rows[batch[i][0]][col] = v
                            cache.put(keys[i], v)
                except DebiasqeError:
                    raise
                except Exception as ex:  # noqa: BLE001 - name the metric and file
                    raise DebiasqeError(f"metric {m} failed on {files[0]}"
                                        f"{' (+%d more)' % (len(files) - 1) if len(files) > 1 else ''}: "
                                        f"{type(ex).__name__}: {ex}") from ex
                finally:
                    seconds[m] += time.perf_counter() - t0
            for _, e, r in batch:  # each image decoded once; free as we go
                decoded.pop(e, None)
                if r is not None:
                    decoded.pop(r, None)
    cache.save()

    cols = ["image"] + names + ([m + "_ref" for m in names if built[m].info.mode == "NR"]
                                if reference_nr else [])
    df = pd.DataFrame([rows[n] for n, _, _ in pairs]).reindex(columns=cols)
    import pyiqa
    prov = base_record(
        stage="evaluate", pyiqa=pyiqa.__version__, torch=torch.__version__,
        pretrained_policy=pretrained_policy, weights_dir=str(weights_dir), device=str(device),
        batch_size=batch_size, seed=seed, n_images=len(pairs),
        metrics={m: built[m].record() for m in names},
        metric_options=metric_options, images_scored=dict(counts),
        seconds={m: round(v, 3) for m, v in seconds.items()},
        nr_cache={"path": str(cache.path) if cache.path else None,
                  "hits": cache.hits, "misses": cache.misses},
    )
    return df, prov


def write_metrics_csv(df, path: str | os.PathLike, provenance: dict | None = None,
                      set_level: dict[str, float] | None = None) -> None:
    """Write per-image scores plus a final ``image='mean'`` row, atomically.

    ``set_level`` values (FID) are written into the mean row only. The
    ``marks`` column (every row) names the metrics that are no measurements,
    e.g. ``lpips:random-init;niqe:unavailable`` (:mod:`debiasqe.report.marks`).
    ``provenance`` (which weights produced each metric, ...) goes beside it as
    ``<path>.provenance.json``.
    """
    import pandas as pd
    if "image" not in df.columns:
        raise ConfigError("write_metrics_csv: the DataFrame needs an 'image' column")
    numeric = df.drop(columns=["image"]).apply(pd.to_numeric, errors="coerce")
    mean = {"image": "mean", **numeric.mean(axis=0, skipna=False).to_dict(), **(set_level or {})}
    out = pd.concat([df, pd.DataFrame([mean])], ignore_index=True)
    # which metrics are not measurements (random-init / unavailable networks): debiasqe.report.marks
    from ..report.marks import encode, metric_marks
    out["marks"] = encode(metric_marks((provenance or {}).get("evaluation")))
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False, float_format="%.8g")
    if provenance is not None:
        write_text(str(path) + ".provenance.json", json.dumps(provenance, indent=2, default=str))
