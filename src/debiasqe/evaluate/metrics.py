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

torch, pyiqa, timm, torchvision, PIL and tifffile are imported inside the
functions that use them (lazy): the report stage reads :func:`metric_info` from
this module and must load neither torch nor pyiqa
(``tests/core/test_light_imports.py``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from ..core.atomic import atomic_open, write_text
from ..core.errors import BadImageError, ConfigError, DebiasqeError, WeightsUnavailableError
from ..core.progress import track
from ..core.provenance import base_record, sha256_file
from ..report.marks import encode, metric_marks  # which metrics are no measurements (random-init/unavailable)
from ..weights import metric_weights as mw
from ..weights.store import POLICIES
from .iqa import METRIC_SPECS

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
#: metrics whose batches go in channels-last memory (faster CPU convolutions; see the registry)
CHANNELS_LAST = {n for n, spec in METRIC_SPECS.items() if spec.channels_last}


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
            if METRIC_SPECS[name].random_fixup is not None:
                METRIC_SPECS[name].random_fixup(model)
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


# ------------------------------------------------------------------ shared work
def _tree_map(fn, out):
    """Apply ``fn`` to every tensor of a (nested) list/tuple/namedtuple output."""
    if isinstance(out, (list, tuple)):
        items = [_tree_map(fn, o) for o in out]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    return fn(out)


def _tree_cat(parts):
    import torch
    first = parts[0]
    if isinstance(first, (list, tuple)):
        items = [_tree_cat([p[k] for p in parts]) for k in range(len(first))]
        return type(first)(*items) if hasattr(first, "_fields") else type(first)(items)
    return torch.cat(parts, 0)


class RowMemo:
    """A per-sample feature function (batch-first input and outputs) that
    computes each distinct input row once.

    Rows equal to another row of the same call, or to a row remembered from
    an earlier call, are not recomputed: their features are copied. A call
    that shares rows (a reference batch: the same raw image behind several
    targets) or has a single row leaves its rows in memory (the ``keep``
    most recent), so a reference whose targets continue in the next batch is
    not computed again; a batch of distinct targets changes nothing. Rows are
    matched by exact equality, so a copied feature is the one the network
    gives for that row (up to batch-size rounding of the kernels).
    ``rows``/``computed`` count the rows asked for and the rows computed.
    """

    def __init__(self, fn, keep: int = 2):
        self.fn, self.keep = fn, keep
        self.memo: list[tuple[object, object]] = []   # (row tensor, its features), most recent last
        self.rows = self.computed = 0

    def _match(self, x):
        """Per row: ('memo', i) or ('new', j); the input rows to compute."""
        import torch
        src, new = [], []
        for i in range(x.shape[0]):
            row = x[i:i + 1]
            hit = next((("memo", m) for m, (key, _) in enumerate(self.memo)
                        if key.shape == row.shape and torch.equal(key, row)), None)
            if hit is None:
                hit = next((("new", j) for j, r in enumerate(new) if torch.equal(x[r:r + 1], row)), None)
            if hit is None:
                hit = ("new", len(new))
                new.append(i)
            src.append(hit)
        return src, new

    def __call__(self, x, *a, **k):
        import torch
        if a or k or not torch.is_tensor(x) or x.dim() < 1:
            return self.fn(x, *a, **k)
        src, new = self._match(x)
        self.rows += x.shape[0]
        self.computed += len(new)
        if len(new) == x.shape[0]:
            out = self.fn(x)  # all rows distinct and unseen: the plain call
        else:
            out = self.fn(x[new]) if new else None
        rows_new = [_tree_map(lambda t, j=j: t[j:j + 1], out) for j in range(len(new))]
        used = {j for kind, j in src if kind == "memo"}
        if used or len(new) < x.shape[0] or x.shape[0] == 1:
            fresh = [(x[i:i + 1].clone(), _tree_map(torch.clone, f)) for i, f in zip(new, rows_new)]
            kept = ([m for j, m in enumerate(self.memo) if j not in used]
                    + [self.memo[j] for j in sorted(used)] + fresh)
            memo_before, self.memo = self.memo, kept[-self.keep:] if self.keep else []
        else:
            memo_before = self.memo
        if len(new) == x.shape[0]:
            return out
        parts = [rows_new[j] if kind == "new" else memo_before[j][1] for kind, j in src]
        return parts[0] if len(parts) == 1 else _tree_cat(parts)


class _ConstantMemo:
    """A function of a constant input (CLIP's prompt tokens): computed once."""

    def __init__(self, fn):
        self.fn, self.key, self.value = fn, None, None
        self.rows = self.computed = 0  # calls, computations

    def __call__(self, x):
        import torch
        self.rows += 1
        if self.key is None or self.key.shape != x.shape or not torch.equal(self.key, x):
            self.key, self.value = x.clone(), self.fn(x)
            self.computed += 1
        return self.value


def _feature_extractors(name: str, model) -> list[tuple[object, str]]:
    """(object, method name) of the per-sample networks that a full-reference
    metric runs on its target and its reference alike (pyiqa's own modules)."""
    net = getattr(model, "net", None)
    if net is None:
        return []
    if name.startswith("lpips"):
        return [(net.net, "forward")]              # LPIPS: self.net.forward(in0), (in1)
    if name == "dists":
        return [(net, "forward_once")]             # DISTS: self.forward_once(x), (y)
    if name.startswith("topiq_fr") and not isinstance(getattr(net, "semantic_model", []), list):
        return [(net.semantic_model, "forward")]   # TOPIQ-FR (timm CNN): semantic_model(x), (y)
    if name == "ahiq":
        return [(net, "get_vit_feature"), (net, "get_resnet_feature")]
    return []


def _constant_inputs(model) -> list[tuple[object, str]]:
    """CLIP-IQA encodes its fixed prompts on every call: once is enough."""
    clip = getattr(getattr(model, "net", None), "clip_model", None)
    if isinstance(clip, list) and clip and hasattr(clip[0], "encode_text"):
        return [(clip[0], "encode_text")]
    return []


@contextlib.contextmanager
def shared_features(built: dict, keep: int = 2) -> Iterator[dict]:
    """Within the block, the full-reference metrics of ``built`` compute the
    features of an input row once however many targets share it
    (:class:`RowMemo`), and CLIP-IQA its prompt features once. pyiqa's
    forward code runs unchanged around them. Yields {metric: [memo, ...]}."""
    patched, memos = [], {}
    for name, b in built.items():
        if b.model is None:
            continue
        wraps = [(o, a, RowMemo) for o, a in _feature_extractors(name, b.model)] if b.info.mode == "FR" else []
        wraps += [(o, a, _ConstantMemo) for o, a in _constant_inputs(b.model)]
        for obj, attr, kind in wraps:
            memo = RowMemo(getattr(obj, attr), keep) if kind is RowMemo else kind(getattr(obj, attr))
            patched.append((obj, attr, attr in vars(obj), vars(obj).get(attr)))
            setattr(obj, attr, memo)
            memos.setdefault(name, []).append(memo)
    try:
        yield memos
    finally:
        for obj, attr, had, old in reversed(patched):
            if had:
                setattr(obj, attr, old)
            else:
                delattr(obj, attr)


# ------------------------------------------------------------------ evaluation
def _scores(out, n: int, name: str, files) -> list[float]:
    import torch
    t = torch.as_tensor(out).detach().float().cpu().reshape(-1)
    if t.numel() != n:
        raise DebiasqeError(f"metric {name}: returned {t.numel()} scores for a batch of {n} "
                            f"({files[0]} ...)")
    return [float(v) for v in t]


class _Decoded:
    """Each image file decoded once per evaluation, freed after its last batch."""

    def __init__(self):
        self.images: dict[str, np.ndarray] = {}
        self.uses: dict[str, int] = defaultdict(int)

    def get(self, p: str) -> np.ndarray:
        if p not in self.images:
            self.images[p] = read_image(p)
        return self.images[p]

    def size(self, p: str) -> tuple[int, int]:
        """(height, width) from the header where Pillow reads it, else by decoding."""
        from PIL import Image
        try:
            with Image.open(p) as im:
                return im.size[::-1]
        except Exception:  # noqa: BLE001 - .npy/.tiff/odd files: decode
            return self.get(p).shape[:2]

    def plan(self, batches) -> None:
        for batch in batches:
            for _, e, r in batch:
                for p in (e, r) if r is not None else (e,):
                    self.uses[p] += 1

    def release(self, batch) -> None:
        for _, e, r in batch:
            for p in (e, r) if r is not None else (e,):
                self.uses[p] -= 1
                if self.uses[p] <= 0:
                    self.images.pop(p, None)


@dataclass
class _Run:
    """The state of one evaluate_images call."""
    names: list
    built: dict
    cache: NRCache
    reference_nr: bool
    rows: dict
    wid: dict = field(default_factory=dict)
    counts: dict = field(default_factory=lambda: defaultdict(int))
    seconds: dict = field(default_factory=lambda: defaultdict(float))

    def __post_init__(self):
        self.wid = {m: _weights_id(b) for m, b in self.built.items()}

    @property
    def need_ref(self) -> bool:
        return self.reference_nr or any(self.built[m].info.mode == "FR" and self.built[m].model is not None
                                        for m in self.names)


def _check_pairs(pairs, need_ref: bool) -> None:
    if not pairs:
        raise ConfigError("evaluate_images: no image pairs given")
    for n, e, r in pairs:
        if not Path(e).is_file():
            raise BadImageError(f"{e}: image file not found (image {n})")
        if r is not None and not Path(r).is_file():
            raise BadImageError(f"{r}: reference image file not found (image {n})")
        if need_ref and r is None:
            raise ConfigError(f"image {n} ({e}): full-reference metrics or reference_nr "
                              f"need a reference image, got none")


def _prefill(run: _Run, pairs) -> list:
    """NaN for unavailable metrics, cached NR scores; returns the pairs still to score."""
    todo = []
    for n, e, r in pairs:
        need = False
        for m in run.names:
            b = run.built[m]
            cols = [(m, e)] + ([(m + "_ref", r)] if run.reference_nr and b.info.mode == "NR" else [])
            if b.model is None:
                run.rows[n].update({c: float("nan") for c, _ in cols})
            elif b.info.mode != "NR":
                need = True
            else:
                for col, p in cols:
                    v = run.cache.get(NRCache.key(m, run.wid[m], p))
                    if v is None:
                        need = True
                    else:
                        run.rows[n][col] = v
        if need:
            todo.append((n, e, r))
    return todo


def _plan_batches(todo, need_ref: bool, batch_size: int, images: _Decoded) -> list[list]:
    """Batches of equal-size pairs; pairs of one reference next to each other,
    so its features are computed once (:func:`shared_features`)."""
    groups: dict[tuple, list] = defaultdict(list)
    for n, e, r in todo:
        se = images.size(e)
        if need_ref:
            sr = images.size(r)
            if tuple(se) != tuple(sr):
                raise BadImageError(f"{e}: size {se[1]}x{se[0]} differs from its reference "
                                    f"{r} ({sr[1]}x{sr[0]})")
        groups[tuple(se)].append((n, e, r))
    for g in groups.values():
        g.sort(key=lambda t: "" if t[2] is None else str(t[2]))  # stable: set order kept per reference
    batches = [g[i:i + batch_size] for g in groups.values() for i in range(0, len(g), batch_size)]
    images.plan(batches)
    return batches


def _batch_tensors(batch, images: _Decoded, need_ref: bool, device):
    import torch
    imgs = [images.get(e) for _, e, _ in batch]
    x = torch.stack([to_tensor(i) for i in imgs]).to(device)
    if not need_ref:
        return x, None
    refs = [images.get(r) for _, _, r in batch]
    for (n, e, r), a, b_ in zip(batch, imgs, refs):
        if a.shape != b_.shape:
            raise BadImageError(f"{e}: size {a.shape[1]}x{a.shape[0]} differs from "
                                f"its reference {r} ({b_.shape[1]}x{b_.shape[0]})")
    return x, torch.stack([to_tensor(i) for i in refs]).to(device)


def _score_nr(run: _Run, m: str, batch, tgt, col: str, paths) -> None:
    """NR scores of the rows not known yet, each distinct image once."""
    keys = [NRCache.key(m, run.wid[m], p) for p in paths]
    todo = []
    for i, (n, _, _) in enumerate(batch):
        if col in run.rows[n]:
            continue
        v = run.cache.data.get(keys[i])  # scored earlier in this call
        if v is not None:
            run.rows[n][col] = float("nan") if v == "nan" else float(v)
        else:
            todo.append(i)
    first: dict[str, int] = {}
    for i in todo:
        first.setdefault(keys[i], i)
    uniq = list(first.values())
    if not uniq:
        return
    vals = _scores(run.built[m].model(tgt[uniq]), len(uniq), m, [paths[i] for i in uniq])
    run.counts[m] += len(uniq)
    got = {keys[i]: v for i, v in zip(uniq, vals)}
    for i in todo:
        run.rows[batch[i][0]][col] = got[keys[i]]
        run.cache.put(keys[i], got[keys[i]])


def _in_layout(layouts: dict, channels_last: bool):
    """The batch (target, reference) in the memory layout asked for, converted once per batch."""
    import torch
    if channels_last not in layouts:
        layouts[channels_last] = tuple(None if t is None else t.contiguous(memory_format=torch.channels_last)
                                       for t in layouts[False])
    return layouts[channels_last]


def _score_batch(run: _Run, batch, x0, y0) -> None:
    files = [e for _, e, _ in batch]
    layouts = {False: (x0, y0)}
    for m in run.names:
        b = run.built[m]
        if b.model is None:
            continue
        x, y = _in_layout(layouts, m in CHANNELS_LAST)
        t0 = time.perf_counter()
        try:
            if b.info.mode == "FR":
                for (n, _, _), v in zip(batch, _scores(b.model(x, y), len(batch), m, files)):
                    run.rows[n][m] = v
                run.counts[m] += len(batch)
                continue
            _score_nr(run, m, batch, x, m, files)
            if run.reference_nr:
                _score_nr(run, m, batch, y, m + "_ref", [r for _, _, r in batch])
        except DebiasqeError:
            raise
        except Exception as ex:  # noqa: BLE001 - name the metric and file
            more = f" (+{len(files) - 1} more)" if len(files) > 1 else ""
            raise DebiasqeError(f"metric {m} failed on {files[0]}{more}: {type(ex).__name__}: {ex}") from ex
        finally:
            run.seconds[m] += time.perf_counter() - t0


def _provenance(run: _Run, memos: dict, n_images: int, **settings) -> dict:
    import pyiqa
    import torch
    return base_record(
        stage="evaluate", pyiqa=pyiqa.__version__, torch=torch.__version__, **settings,
        n_images=n_images, metrics={m: run.built[m].record() for m in run.names},
        images_scored=dict(run.counts), seconds={m: round(v, 3) for m, v in run.seconds.items()},
        nr_cache={"path": str(run.cache.path) if run.cache.path else None,
                  "hits": run.cache.hits, "misses": run.cache.misses},
        shared_features={m: {"rows": sum(x.rows for x in ms),
                             "computed": sum(x.computed for x in ms)} for m, ms in memos.items()},
    )


def evaluate_images(metric_names: Sequence[str], pairs: Sequence[tuple[str, str, str | None]],
                    device="cpu", batch_size: int = 8, pretrained_policy: str = "auto",
                    weights_dir=mw.DEFAULT_WEIGHTS_DIR, nr_cache=None,
                    metric_options: dict | None = None, reference_nr: bool = False,
                    seed: int = 0, progress: bool = True, built: dict | None = None,
                    share_features: bool = True):
    """Score every (name, enhanced_path, reference_path) pair with every metric.

    Each image is decoded once per call and fed to all metrics as RGB float
    [0, 1] tensors (channels-last memory for the metrics registered so:
    faster convolutions, same scores up to float rounding), called as
    (target, reference); pairs of equal size are
    batched, pairs of one reference next to each other. No-reference scores
    go through ``nr_cache`` (a path or an :class:`NRCache`), so images
    already scored - typically the raw references, shared by every method -
    are not scored again, and an image met twice in the call is scored once.
    ``reference_nr=True`` adds ``<metric>_ref`` columns: NR scores of the
    references. With ``share_features``, full-reference metrics compute a
    shared reference's features once and CLIP-IQA its prompts once
    (:func:`shared_features`); several methods or levels are best scored in
    one call (:func:`evaluate_sets`).

    Returns (DataFrame one row per image, provenance dict).
    """
    import torch

    names = [m for m in metric_names if m not in SET_LEVEL]
    for m in metric_names:
        metric_info(m)  # validates the id
    metric_options = metric_options or {}
    if built is None:
        built = {m: build_metric(m, pretrained_policy, weights_dir, device,
                                 metric_options.get(m), seed) for m in names}
    cache = nr_cache if isinstance(nr_cache, NRCache) else NRCache(nr_cache)
    run = _Run(names, built, cache, reference_nr, {n: {"image": n} for n, _, _ in pairs})
    _check_pairs(pairs, run.need_ref)
    images = _Decoded()
    batches = _plan_batches(_prefill(run, pairs), run.need_ref, batch_size, images)
    shared = shared_features({m: built[m] for m in names}) if share_features else contextlib.nullcontext({})
    with torch.no_grad(), shared as memos:
        for batch in track(batches, desc="metrics", unit="batch", bar=progress):
            x, y = _batch_tensors(batch, images, run.need_ref, device)
            _score_batch(run, batch, x, y)
            images.release(batch)
    cache.save()
    cols = ["image"] + names + ([m + "_ref" for m in names if built[m].info.mode == "NR"]
                                if reference_nr else [])
    df = pd.DataFrame([run.rows[n] for n, _, _ in pairs]).reindex(columns=cols)
    prov = _provenance(run, memos, len(pairs), pretrained_policy=pretrained_policy,
                       weights_dir=str(weights_dir), device=str(device), batch_size=batch_size,
                       seed=seed, metric_options=metric_options)
    return df, prov


def evaluate_sets(metric_names: Sequence[str], sets: dict, **kw):
    """:func:`evaluate_images` for several sets of pairs at once (methods,
    codecs, levels...) that share reference images: every set's images go
    through each metric in the same batches; each file is decoded once, a
    shared reference's full-reference features are computed once and its
    no-reference scores once, for all sets.

    ``sets``: {key: [(name, enhanced, reference), ...]}. Returns
    ({key: DataFrame}, provenance); each DataFrame is what
    :func:`evaluate_images` gives for that set alone.
    """
    flat, owner = [], []
    for key, pairs in sets.items():
        names = [n for n, _, _ in pairs]
        if len(set(names)) != len(names):
            raise ConfigError(f"evaluate_sets: image names repeat within set {key!r}")
        for n, e, r in pairs:
            flat.append((f"{key}/{n}", e, r))
            owner.append((key, n))
    if len({f[0] for f in flat}) != len(flat):
        raise ConfigError("evaluate_sets: set keys are ambiguous (key/name collides)")
    df, prov = evaluate_images(metric_names, flat, **kw)
    df["image"] = [n for _, n in owner]
    keys = [k for k, _ in owner]
    out = {key: df[[k == key for k in keys]].reset_index(drop=True) for key in sets}
    prov["n_images"] = {str(k): len(v) for k, v in sets.items()}
    return out, prov


def write_metrics_csv(df, path: str | os.PathLike, provenance: dict | None = None,
                      set_level: dict[str, float] | None = None) -> None:
    """Write per-image scores plus a final ``image='mean'`` row, atomically.

    ``set_level`` values (FID) are written into the mean row only. The
    ``marks`` column (every row) names the metrics that are no measurements,
    e.g. ``lpips:random-init;niqe:unavailable`` (:mod:`debiasqe.report.marks`).
    ``provenance`` (which weights produced each metric, ...) goes beside it as
    ``<path>.provenance.json``.
    """
    if "image" not in df.columns:
        raise ConfigError("write_metrics_csv: the DataFrame needs an 'image' column")
    numeric = df.drop(columns=["image"]).apply(pd.to_numeric, errors="coerce")
    mean = {"image": "mean", **numeric.mean(axis=0, skipna=False).to_dict(), **(set_level or {})}
    out = pd.concat([df, pd.DataFrame([mean])], ignore_index=True)
    out["marks"] = encode(metric_marks((provenance or {}).get("evaluation")))
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False, float_format="%.8g")
    if provenance is not None:
        write_text(str(path) + ".provenance.json", json.dumps(provenance, indent=2, default=str))
