"""FID from cached Inception features: on patches (HiFiC) or whole images (pyiqa).

Two protocols (``evaluation.fid``):

``patches`` (default, the paper preset's)
    pyiqa's ``fid`` resizes whole images to 299×299, which is degenerate on a
    100-image evaluation set (2048-d covariance from 100 samples). Following
    HiFiC (Mentzer et al. 2020) we cut every image into non-overlapping P×P
    patches (P=256 by default) and, when both sides are at least 1.5·P, add a
    second grid offset by P/2 in both directions.
``whole``
    pyiqa's own protocol, the code the paper's footnote 5 names: every whole
    image is one sample (rank-deficient covariance for fewer than 2049
    images; the Fréchet distance is still computed exactly).

Either way the samples go through pyiqa's FID InceptionV3 (pool3, 2048-d,
the TF-FID weights ``pt_inception-2015-12-05-6726825d.pth``) after pyiqa's
"clean" resize to 299×299 (PIL bicubic on each channel as float, clipped to
0-255) and its input scaling ((x - 128) / 128 on the 0-255 scale).

Features of an image *set* (raw / compressed / enhanced) are reduced to
(mu, sigma, n_patches) once and stored as ``.npz`` with provenance, so the
three FIDs of a domain triangle cost one Inception pass per set. A set of
n ≤ 2048 patches is stored as its n × 2048 centred-feature factor instead of
the 2048² covariance (33 MB per set), which it determines exactly. The factor
(the per-patch features) and the number of patches of each image are what the
FID interval resamples (:mod:`debiasqe.evaluate.fid_interval`); larger sets
keep it beside the covariance when asked (``keep_features``: 16.4 MB per 1000
patches).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from ..core.atomic import atomic_path
from ..core.errors import BadImageError, ConfigError, WeightsUnavailableError
from ..core.progress import track
from ..core.provenance import base_record, sha256_file
from ..weights import metric_weights as mw
from ..weights.store import POLICIES
from . import fid_interval as fi
from .intervals import no_interval_reason, triangle_bounds
from .metrics import read_image
from .triangles import deviation

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SIZE = 299
FEATURE_DIM = 2048
#: defaults of evaluation.fid_interval_replicates / fid_interval_max_patches (schema)
INTERVAL_REPLICATES = 200
INTERVAL_MAX_PATCHES = 512
PROTOCOLS = ("patches", "whole")


def pil_bicubic_resize(img: np.ndarray, size: int = INCEPTION_SIZE) -> np.ndarray:
    """pyiqa's 'clean' resize of an HxWx3 image on the 0-255 scale: PIL bicubic on each
    channel as a float ('F') image, clipped to [0, 255]; returns size×size×3 float32."""
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(img[:, :, c], dtype=np.float32), mode="F")
                        .resize((size, size), resample=Image.BICUBIC)).clip(0, 255)
             for c in range(img.shape[2])]
    return np.stack(chans, axis=2).astype(np.float32)


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"evaluation.fid: {protocol!r} is not one of {', '.join(PROTOCOLS)}")


# ---------------------------------------------------------------- distances
def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6,
                     method: str = "eigen", sqrt_s1: np.ndarray | None = None) -> float:
    """d² = |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1 S2)^½), in float64.

    ``method='sqrtm'``: scipy.linalg.sqrtm of S1·S2 (the pytorch-fid /
    clean-fid way), adding ``eps`` to both diagonals when the product is
    singular and dropping a negligible imaginary part.
    ``method='eigen'`` (default): Tr (S1 S2)^½ = Σ √λ(S1^½ S2 S1^½) with
    symmetric eigendecompositions: the same value for PSD covariances (tests
    agree to 1e-8), needs no eps, and at d=2048 is ~6× faster than sqrtm
    here (two eigh vs a Schur-based sqrtm: ~10 s vs ~60 s on a loaded
    2-core box). ``sqrt_s1``: S1^½ when already known (``SetStats.sqrt_sigma``).
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ConfigError(f"frechet_distance: shape mismatch mu {mu1.shape}/{mu2.shape}, "
                          f"sigma {s1.shape}/{s2.shape}")
    diff = mu1 - mu2
    if method == "eigen":
        r = _sqrtm_psd(s1) if sqrt_s1 is None else np.asarray(sqrt_s1, dtype=np.float64)
        lam = np.linalg.eigvalsh((r @ s2 @ r + (r @ s2 @ r).T) / 2)
        tr_covmean = float(np.sqrt(np.clip(lam, 0, None)).sum())
    elif method == "sqrtm":
        from scipy import linalg  # lazy: 0.4 s of import, only for this non-default method
        covmean = linalg.sqrtm(s1.dot(s2))
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * eps
            covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
        if np.iscomplexobj(covmean):
            if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                raise ArithmeticError(
                    f"frechet_distance: imaginary component {np.max(np.abs(covmean.imag)):.3g}")
            covmean = covmean.real
        tr_covmean = float(np.trace(covmean))
    else:
        raise ConfigError(f"frechet_distance: method={method!r}, expected 'sqrtm' or 'eigen'")
    # A squared distance: rounding can leave identical sets a hair below zero.
    return max(0.0, float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean))


# ---------------------------------------------------------------- patches
def patch_boxes(height: int, width: int, patch: int = 256) -> list[tuple[int, int]]:
    """Top-left corners of the HiFiC patch grid(s) for an image of that size."""
    if patch < 1:
        raise ConfigError(f"fid patch size {patch} must be >= 1")
    boxes = [(y, x) for y in range(0, height - patch + 1, patch)
             for x in range(0, width - patch + 1, patch)]
    if height >= 1.5 * patch and width >= 1.5 * patch:
        o = patch // 2
        boxes += [(y, x) for y in range(o, height - patch + 1, patch)
                  for x in range(o, width - patch + 1, patch)]
    return boxes


def extract_patches(img: np.ndarray, patch: int = 256) -> np.ndarray:
    """(N, P, P, 3) patches of an HxWx3 image (see :func:`patch_boxes`)."""
    h, w = img.shape[:2]
    boxes = patch_boxes(h, w, patch)
    if not boxes:
        return np.empty((0, patch, patch, img.shape[2]), img.dtype)
    return np.stack([img[y:y + patch, x:x + patch] for y, x in boxes])


# ---------------------------------------------------------------- network
@contextlib.contextmanager
def _pyiqa_inception_loader(weights: Path | None) -> Iterator[None]:
    """Make pyiqa's ``fid_inception_v3`` load ``weights`` with weights_only=True
    (or nothing, for random init) instead of fetching its URL."""
    # lazy: pyiqa (seconds to import) loads only when an Inception network is built
    from pyiqa.archs import inception as inc
    from pyiqa.archs.arch_util import clean_state_dict

    def load(net, _url, *a, **k):
        if weights is not None:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            net.load_state_dict(clean_state_dict(state), strict=True)

    orig = inc.load_pretrained_network
    inc.load_pretrained_network = load
    try:
        yield
    finally:
        inc.load_pretrained_network = orig


def build_inception(weights: str | os.PathLike | None, device="cpu"):
    """pyiqa's FID InceptionV3 (pool3 block, 2048-d) with weights from ``weights``.

    ``weights=None`` gives a random-init network (seeded; tests, benchmarks).
    Returns (module, weights_record): the file's sha256 or "random-init".
    """
    from pyiqa.archs.inception import InceptionV3  # lazy: see _pyiqa_inception_loader

    record = "random-init"
    if weights is not None:
        weights = Path(weights)
        if not weights.is_file():
            raise WeightsUnavailableError(f"fid: Inception weights file {weights} is missing")
        record = sha256_file(weights)
    torch.manual_seed(0)
    with _pyiqa_inception_loader(weights):
        net = InceptionV3(output_blocks=[3], resize_input=False, normalize_input=False)
    return net.eval().to(device), record


# ---------------------------------------------------------------- features
@dataclass
class SetStats:
    mu: np.ndarray
    sigma: np.ndarray
    n_patches: int
    provenance: dict
    #: A with sigma = Aᵀ A (centred features / √(n-1)), kept when n ≤ feature dim (or asked for)
    factor: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: patches of each image, in set order (None: a cache written before it was kept)
    patches_per_image: np.ndarray | None = field(default=None, repr=False, compare=False)
    _sqrt: np.ndarray | None = field(default=None, repr=False, compare=False)

    def sqrt_sigma(self) -> np.ndarray:
        """sigma^½, computed once per set (every FID with this set first reuses it)."""
        if self._sqrt is None:
            self._sqrt = _sqrtm_psd(np.asarray(self.sigma, dtype=np.float64))
        return self._sqrt

    def save(self, path: str | os.PathLike) -> None:
        # sigma = factorᵀ factor, so a small set stores only its factor: n × 2048 instead of
        # the 2048² float64 covariance (33 MB per set); a large set keeps sigma (exactly the
        # FID's input as before) and its factor only when the features are to be kept.
        cov = {"sigma": self.sigma} if self.factor is None or not self.low_rank else {}
        if self.factor is not None:
            cov["factor"] = self.factor
        if self.patches_per_image is not None:
            cov["patches_per_image"] = np.asarray(self.patches_per_image, dtype=np.int64)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, mu=self.mu, n_patches=self.n_patches,
                         provenance=json.dumps(self.provenance), **cov)

    @property
    def low_rank(self) -> bool:
        """The factor is kept and no larger than the covariance (n ≤ feature dim)."""
        return self.factor is not None and len(self.factor) <= self.factor.shape[1]

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SetStats":
        with np.load(path, allow_pickle=False) as z:
            factor = z["factor"] if "factor" in z.files else None
            sigma = z["sigma"] if "sigma" in z.files else factor.T @ factor
            counts = z["patches_per_image"] if "patches_per_image" in z.files else None
            return cls(z["mu"], sigma, int(z["n_patches"]), json.loads(str(z["provenance"])),
                       factor, counts)


def set_key(paths: Sequence[str | os.PathLike], patch: int, weights_record: str,
            protocol: str = "patches") -> str:
    """Identity of an image set's features: paths, sizes, mtimes, protocol, patch, weights
    (v2: PIL bicubic resize, as pyiqa)."""
    h = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    what = f"patch={patch}" if protocol == "patches" else "whole"
    h.update(f"{what};weights={weights_record};v2".encode())
    return h.hexdigest()


def _batches(it: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    buf: list[np.ndarray] = []
    for p in it:
        buf.append(p)
        if len(buf) == n:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def inception_features(net, patches: np.ndarray, device="cpu", scaled: bool = False):
    """(N, 2048) float64 pool3 features of (N, P, P, 3) float [0,1] patches
    (``scaled=True``: already on the 0-255 scale and 299×299, see :func:`pil_bicubic_resize`)."""
    x = np.asarray(patches, dtype=np.float32)
    if not scaled:
        x = x * 255
        if x.shape[1:3] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = np.stack([pil_bicubic_resize(p) for p in x])
    x = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).to(device)
    x = (x - 128) / 128  # pyiqa 'clean' mode scaling
    with torch.no_grad():
        f = net(x)[0]
    return f.reshape(f.shape[0], -1).double().cpu().numpy()


def compute_set_stats(paths: Sequence[str | os.PathLike], net, weights_record: str,
                      patch: int = 256, batch_size: int = 32, device="cpu",
                      reader: Callable | None = None, progress: bool = True,
                      protocol: str = "patches", keep_features: float = 0) -> SetStats:
    """Accumulate mean and covariance of the features of an image set's patches
    (``protocol='patches'``) or whole images (``'whole'``, pyiqa's FID).

    The per-patch features are kept (as the centred factor) when the set has at most
    ``max(keep_features, feature dim)`` patches."""
    _check_protocol(protocol)
    reader = read_image if reader is None else reader
    keep_limit = keep_features  # raised to the feature dimension at the first batch

    n = 0
    s = None
    ss = None
    kept: list[np.ndarray] = []
    counts: list[int] = []

    def gen():
        for p in paths:
            img = reader(p)
            if protocol == "whole":
                counts.append(1)
                yield pil_bicubic_resize(np.asarray(img, dtype=np.float32) * 255)
                continue
            pt = extract_patches(img, patch)
            if len(pt) == 0:
                raise BadImageError(f"{p}: {img.shape[1]}x{img.shape[0]} is smaller than the "
                                    f"FID patch size {patch}")
            counts.append(len(pt))
            yield from pt

    for batch in track(_batches(gen(), batch_size), desc="fid features", bar=progress,
                       unit="batch"):
        f = inception_features(net, batch, device, scaled=protocol == "whole")
        if s is None:
            s = np.zeros(f.shape[1]); ss = np.zeros((f.shape[1], f.shape[1]))
            keep_limit = max(keep_limit, f.shape[1])
        n += len(f)
        s += f.sum(0)
        ss += f.T @ f
        if n <= keep_limit:
            kept.append(f)
    if n < 2:
        raise ConfigError(f"fid: {n} {'patch(es)' if protocol == 'patches' else 'sample(s)'} from "
                          f"{len(paths)} image(s); need at least 2")
    mu = s / n
    sigma = (ss - n * np.outer(mu, mu)) / (n - 1)
    factor = (np.concatenate(kept) - mu) / np.sqrt(n - 1) if n <= keep_limit else None
    prov = base_record(stage="fid-features", protocol=protocol, n_images=len(paths), n_patches=n,
                       patch=patch if protocol == "patches" else None, resize="PIL bicubic (pyiqa clean)",
                       inception_weights=weights_record, key=set_key(paths, patch, weights_record, protocol))
    return SetStats(mu, sigma, n, prov, factor, np.asarray(counts, dtype=np.int64))


def set_stats_cached(paths: Sequence[str | os.PathLike], cache_file: str | os.PathLike,
                     net, weights_record: str, patch: int = 256, protocol: str = "patches",
                     keep_features: float = 0, **kw) -> SetStats:
    """Load ``cache_file`` when its key matches the set (and it kept the features of a set
    of up to ``keep_features`` patches), else compute and save it."""
    key = set_key(paths, patch, weights_record, protocol)
    cache_file = Path(cache_file)
    memo = _LOADED.get((str(cache_file.resolve()), key))
    if memo is not None and _has_features(memo, keep_features):  # the raw set of every level of a job
        return memo
    st = None
    if cache_file.is_file():
        try:
            st = SetStats.load(cache_file)
            if st.provenance.get("key") != key or not _has_features(st, keep_features):
                st = None
        except (OSError, ValueError, KeyError):
            st = None
    if st is None:
        st = compute_set_stats(paths, net, weights_record, patch=patch, protocol=protocol,
                               keep_features=keep_features, **kw)
        st.save(cache_file)
    if st.patches_per_image is None:  # a cache from before the counts were kept
        st.patches_per_image = patch_counts(paths, patch, protocol)
    _LOADED[(str(cache_file.resolve()), key)] = st
    return st


def _has_features(st: SetStats, keep_features: float) -> bool:
    """False when the features of a set this small should have been kept but were not."""
    return st.factor is not None or st.n_patches > max(keep_features, len(st.mu))


def patch_counts(paths: Sequence[str | os.PathLike], patch: int, protocol: str = "patches") -> np.ndarray:
    """Patches of each image (from the image headers): what :func:`compute_set_stats` cut."""
    if protocol == "whole":
        return np.ones(len(paths), dtype=np.int64)
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001 - .npy/.tiff: decode
            h, w = read_image(p).shape[:2]
        out.append(len(patch_boxes(h, w, patch)))
    return np.asarray(out, dtype=np.int64)


#: set statistics already loaded in this process, with their sigma^½ once computed
_LOADED: dict[tuple[str, str], SetStats] = {}


def fid_between(a: SetStats, b: SetStats, method: str = "eigen") -> float:
    if method == "eigen" and a.low_rank and b.low_rank:
        return frechet_distance_low_rank(a.mu, a.factor, b.mu, b.factor)
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma, method=method,
                            sqrt_s1=a.sqrt_sigma() if method == "eigen" else None)


def frechet_distance_low_rank(mu1, a, mu2, b) -> float:
    """The Fréchet distance with S1 = AᵀA, S2 = BᵀB (n × d factors, n small).

    The non-zero eigenvalues of S1 S2 = AᵀA BᵀB are those of K Kᵀ with
    K = A Bᵀ (n1 × n2), so Tr (S1 S2)^½ costs O(n1 n2 d) instead of the
    O(d³) eigendecompositions of d × d covariances; exact, not an approximation.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    k = a @ b.T
    lam = np.linalg.eigvalsh(k @ k.T)
    tr_covmean = float(np.sqrt(np.clip(lam, 0, None)).sum())
    return max(0.0, float(diff.dot(diff) + (a * a).sum() + (b * b).sum() - 2 * tr_covmean))


# ---------------------------------------------------------------- triangles
def inception_for_policy(policy: str, weights_dir, device="cpu"):
    """(net, weights_record) for pretrained ``required | auto | random``.

    ``auto`` without the file gives a random-init network, recorded as such;
    FID from random features is only good for smoke runs.
    """
    f = mw.files_for("fid")[0]
    present = mw.find_present(f, weights_dir)
    if policy == "required" and present is None:
        raise WeightsUnavailableError(f"metric fid: weight file {f.path(weights_dir)} is missing "
                                      f"(pretrained: required; fetch {f.url})")
    if policy not in POLICIES:
        raise ConfigError(f"pretrained={policy!r}: expected one of {', '.join(POLICIES)}")
    use = present if policy != "random" else None
    return build_inception(use, device)


def domain_fids(raw: Sequence, comp: Sequence, enh: Sequence, cache_dir: str | os.PathLike,
                net, weights_record: str, patch: int = 256, set_names=("raw", "comp", "enh"),
                protocol: str = "patches", interval_max_patches: float = INTERVAL_MAX_PATCHES,
                interval_replicates: int = INTERVAL_REPLICATES, seed: int = 0, confidence: float = 0.95,
                **kw) -> dict:
    """S_CR, S_CE, S_RE (patch or whole-image FID) with one Inception pass per set, and
    their ``confidence`` intervals (``interval``, :func:`domain_interval`).

    Set statistics go to ``cache_dir/<set name>.npz``; give every method's
    enhanced set its own name (e.g. ``enh-<method>``) so raw and comp are
    shared across methods. Sets of up to ``interval_max_patches`` patches keep
    their per-patch features there (``math.inf``: every set, the stored-features option).
    """
    d = Path(cache_dir)
    _check_protocol(protocol)
    st = {n: set_stats_cached(p, d / f"{n}.npz", net, weights_record, patch=patch, protocol=protocol,
                              keep_features=interval_max_patches, **kw)
          for n, p in zip(set_names, (raw, comp, enh))}
    r, c, e = (st[n] for n in set_names)
    out = {"S_CR": fid_between(c, r), "S_CE": fid_between(c, e), "S_RE": fid_between(r, e),
           "n_patches": {n: s.n_patches for n, s in st.items()}, "images": len(raw),
           "inception_weights": weights_record, "protocol": protocol,
           "patch": patch if protocol == "patches" else None}
    out["deviation_pct"] = deviation(out["S_CR"], out["S_CE"], out["S_RE"])
    out["interval"] = domain_interval(r, c, e, interval_max_patches, interval_replicates, seed, confidence)
    return out


def domain_interval(raw: SetStats, comp: SetStats, enh: SetStats, max_patches: float, replicates: int,
                    seed: int, confidence: float = 0.95) -> dict:
    """95 % intervals of S_CR, S_CE, S_RE and the deviation from the cached features (paired
    cluster bootstrap over images, :mod:`~debiasqe.evaluate.fid_interval`), as
    ``{"method": ..., "S_CR": [lo, hi], ...}``; ``{"none": reason}`` where none is computed."""
    sets = {"R": raw, "C": comp, "E": enh}
    largest = max(s.n_patches for s in sets.values())
    images = len(raw.patches_per_image)
    if replicates >= 1 and largest > max_patches:
        return {"none": f"no interval: {largest} patches > evaluation.fid_interval_max_patches="
                        f"{int(max_patches)} (evaluation.fid_store_features: true keeps the features)"}
    why = no_interval_reason(images, replicates, "evaluation.fid_interval_replicates")
    if why is not None:
        return {"none": why}
    reps = fi.bootstrap_fids({k: _patch_set(s) for k, s in sets.items()}, [("C", "R"), ("C", "E"), ("R", "E")],
                             replicates, seed)
    return {"method": fi.describe(replicates, seed, confidence),
            **triangle_bounds(reps[("C", "R")], reps[("C", "E")], reps[("R", "E")], confidence)}


def _patch_set(st: SetStats) -> fi.PatchSet:
    """A set's per-patch features (centred) from its cached factor."""
    return fi.PatchSet(np.asarray(st.factor, np.float64) * np.sqrt(st.n_patches - 1), st.mu,
                       st.patches_per_image)
