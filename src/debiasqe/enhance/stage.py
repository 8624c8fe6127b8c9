"""Inference: a trained ``model.pt`` on a folder of compressed PNGs.

* :func:`enhance_folder` writes enhanced PNGs under the same names, tiled for
  large images. The debiased and vanilla methods share the generator, so this
  code path and its cost are identical for both (the paper's "no inference
  overhead").
* :func:`enhance_identity` is the method ``comp``: the compressed PNG itself.
* :func:`domain_gaps`: demo-scale sanity numbers, mean |I_E - I_C| and
  |I_R - I_C| over a folder triple.

Tiling is "crop the centre": the image is cut into a grid of ``tile``×``tile``
cores; each core is run with ``overlap`` pixels of context on every side
(clipped at the image border) and only the core is kept. Tile corners are
aligned to ``align`` pixels so that networks with internal down-sampling
(pixel unshuffle, U-Nets) see the same phase as on the whole image.

The output does not depend on how it was computed (:func:`plan_enhancement`):
the whole image runs in one pass when its estimated memory (measured on a
small forward pass, against the free memory of the device) fits; otherwise
it is tiled with an overlap of at least the generator's receptive-field
radius (declared per architecture in :mod:`debiasqe.archs.registry`) and
origins on its down-sampling grid, which reproduces the whole-image output.
A network that averages over the whole image (MPRNet's channel attention,
RBQE with ECA) always runs whole. ``approximate=True`` (``--approximate-tiles``)
tiles exactly as asked instead, and says so in the provenance record.

Writes are atomic and images already present in the output folder are
skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..archs import build_generator, generator_tiling
from ..train import checkpoint as ckpt
from ..core.atomic import atomic_path, write_text
from ..core.device import resolve_device
from ..core.errors import BadImageError, ConfigError
from ..core.imageio import read_rgb, to_tensor, to_uint8
from ..core.imageio import write_png as write_rgb_png
from ..core.progress import track
from ..core.provenance import base_record, sha256_file


# ------------------------------------------------------------------- images


def read_png(path: str | Path) -> torch.Tensor:
    """(1, 3, H, W) float tensor in [0, 1] of an image (core.imageio's reader and conversion)."""
    return to_tensor(read_rgb(path)[0])[None]


def write_png(dest: str | Path, arr: np.ndarray) -> None:
    # zlib level 6 (Pillow's default), as enhanced images have always been written
    write_rgb_png(dest, arr, compress_level=6)


# ------------------------------------------------------------------- models


def load_generator(model_path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Build the generator named in ``model.pt``'s meta and load its EMA weights."""
    obj = ckpt.load(model_path)
    if not isinstance(obj, dict) or "state_dict" not in obj or "meta" not in obj:
        raise ConfigError(f"{model_path}: not a debiasqe model.pt (expected keys state_dict, meta)")
    cfg = obj["meta"].get("config", {})
    if not cfg.get("generator"):
        raise ConfigError(f"{model_path}: meta.config.generator missing")
    net = build_generator(cfg["generator"], size=cfg.get("size", "paper"), **(cfg.get("generator_args") or {}))
    try:
        net.load_state_dict(obj["state_dict"])
    except RuntimeError as exc:
        raise ConfigError(f"{model_path}: weights do not fit generator {cfg['generator']!r} "
                          f"({str(exc).splitlines()[0]})") from None
    return net.to(device).eval(), obj["meta"]


def _round_down(v: int, m: int) -> int:
    return max(m, (v // m) * m)


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


@torch.no_grad()
def enhance_tensor(
    model: nn.Module,
    x: torch.Tensor,
    tile: int | None = None,
    overlap: int = 32,
    align: int = 16,
    amp: bool = False,
) -> torch.Tensor:
    """Run ``model`` on ``x`` (N, C, H, W), whole or tiled (see module doc).

    ``tile`` is rounded down and ``overlap`` up to multiples of ``align``.
    """
    def run(inp):
        if amp and inp.device.type in ("cuda", "cpu"):
            with torch.autocast(device_type=inp.device.type, dtype=torch.bfloat16):
                return model(inp).float()
        return model(inp)

    h, w = x.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        return run(x)
    tile = _round_down(int(tile), align)
    overlap = _round_up(int(overlap), align)
    out = None
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        ya, yb = max(y0 - overlap, 0), min(y1 + overlap, h)
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            xa, xb = max(x0 - overlap, 0), min(x1 + overlap, w)
            piece = run(x[..., ya:yb, xa:xb])
            if out is None:
                out = piece.new_empty((*x.shape[:-3], piece.shape[-3], h, w))
            out[..., y0:y1, x0:x1] = piece[..., y0 - ya:y1 - ya, x0 - xa:x1 - xa]
    return out


# ------------------------------------------------------------ exact tiling


@dataclass
class Plan:
    """How one image is run: ``whole`` or ``tiles`` (tile, overlap, align), and why."""

    mode: str
    tile: int | None = None
    overlap: int = 0
    align: int = 1
    notes: list[str] = field(default_factory=list)


def parse_overlap(value) -> int | str:
    """``auto`` or a non-negative int (CLI and config spelling)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return "auto"
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"enhance overlap must be 'auto' or a number of pixels >= 0, got {value!r}") from None
    if v < 0 or str(v) != str(value).strip() and not isinstance(value, int):
        raise ConfigError(f"enhance overlap must be 'auto' or a number of pixels >= 0, got {value!r}")
    return v


def plan_enhancement(tiling, h: int, w: int, *, tile: int | None, overlap: int | str = "auto",
                     approximate: bool = False, fits_whole: bool = True, name: str = "generator") -> Plan:
    """Decide whole image or tiles for an ``h``×``w`` image (see module doc).

    ``tiling`` is the generator's :class:`~debiasqe.archs.registry.Tiling`
    (``None``: unknown network, tiles as asked). ``fits_whole``: the whole
    image fits in memory. ``tile=None`` asks for the whole image.
    """
    multiple = max(1, int(tiling.multiple)) if tiling is not None else 1
    if tile is None or (h <= tile and w <= tile):
        return Plan("whole")
    if approximate or tiling is None:
        if overlap == "auto":
            r = tiling.radius if tiling is not None else math.inf
            overlap = int(math.ceil(r)) if math.isfinite(r) else tile // 4
        return Plan("tiles", _round_down(int(tile), multiple), _round_up(int(overlap), multiple), multiple,
                    ["approximate tiles: output may differ from the whole image"] if approximate else [])
    if fits_whole:
        return Plan("whole")
    if tiling.whole_only:
        return Plan("whole", notes=[f"{name}: whole image although tile {tile} was asked ({tiling.whole_only}); "
                                    f"--approximate-tiles to tile anyway"])
    need = _round_up(int(math.ceil(tiling.radius)), multiple)
    notes = []
    if overlap == "auto":
        overlap = need
    elif int(overlap) < need:
        notes.append(f"{name}: overlap {overlap} raised to {need}, its receptive-field radius "
                     f"{int(math.ceil(tiling.radius))} px on a {multiple}-px grid")
        overlap = need
    tile = _round_down(int(tile), multiple)
    overlap = _round_up(int(overlap), multiple)
    if tile + 2 * overlap >= h and tile + 2 * overlap >= w:
        return Plan("whole", notes=notes + [f"{name}: whole image, since tile {tile} with overlap {overlap} "
                                            f"covers it"])
    return Plan("tiles", tile, overlap, multiple, notes)


def _available_bytes(device: torch.device) -> int:
    """Free memory of ``device``: cuda mem_get_info (+ torch's unused cache), else
    MemAvailable of the host, capped by a cgroup limit when one is set."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        lim = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if lim != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            avail = min(avail if avail is not None else 1 << 62, int(lim) - used)
    except (OSError, ValueError):
        pass
    return int(avail) if avail is not None else 1 << 62


@torch.no_grad()
def bytes_per_pixel(model: nn.Module, device: torch.device, multiple: int = 1, amp: bool = False) -> float:
    """Memory of one forward pass per input pixel, measured on a small input:
    the cuda allocator's peak on a GPU, else the sum of every module's output
    tensors (an upper bound of the peak, freed tensors included)."""
    side = _round_up(max(64, 2 * multiple), multiple)
    x = torch.rand(1, 3, side, side, device=device)

    def fwd():
        if amp:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                return model(x)
        return model(x)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fwd()
        torch.cuda.synchronize(device)
        used = torch.cuda.max_memory_allocated(device) - base
    else:
        total = [0]

        def hook(_m, _i, out):
            for t in (out if isinstance(out, (tuple, list)) else (out,)):
                if torch.is_tensor(t):
                    total[0] += t.numel() * t.element_size()

        handles = [m.register_forward_hook(hook) for m in model.modules()]
        try:
            fwd()
        finally:
            for hd in handles:
                hd.remove()
        used = total[0]
    return used / (side * side)


def whole_fits(bpp: float, h: int, w: int, device: torch.device, budget: int | None = None,
               margin: float = 1.5) -> bool:
    """Whether an ``h``×``w`` image needs less than the free memory (or ``budget`` bytes)."""
    avail = _available_bytes(device) if budget is None else int(budget)
    return bpp * h * w * margin <= avail


def enhance_exact(model: nn.Module, x: torch.Tensor, tiling, *, tile: int | None = 512,
                  overlap: int | str = "auto", approximate: bool = False, amp: bool = False,
                  bpp: float | None = None, budget: int | None = None, name: str = "generator"):
    """Plan (:func:`plan_enhancement`) and run one image; returns (output, plan)."""
    h, w = x.shape[-2:]
    fits = True
    if tile is not None and (h > tile or w > tile) and not approximate:
        if bpp is None:
            bpp = bytes_per_pixel(model, x.device, tiling.multiple if tiling is not None else 1, amp)
        fits = whole_fits(bpp, h, w, x.device, budget)
    plan = plan_enhancement(tiling, h, w, tile=tile, overlap=overlap, approximate=approximate,
                            fits_whole=fits, name=name)
    if plan.mode == "whole":
        return enhance_tensor(model, x, None, amp=amp), plan
    return enhance_tensor(model, x, tile=plan.tile, overlap=plan.overlap, align=plan.align, amp=amp), plan


def _pngs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: input folder does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"{folder}: no PNG images")
    return files


@dataclass
class _PathsTaken:
    """How a folder's images ran: images per path (whole, tiles), the overlaps used, the notes (each said once)."""

    paths: dict[str, int] = field(default_factory=dict)
    overlaps: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def add(self, plan, image: str) -> None:
        self.paths[plan.mode] = self.paths.get(plan.mode, 0) + 1
        if plan.mode == "tiles":
            self.overlaps.add(plan.overlap)
        for n in plan.notes:
            if n not in self.notes:
                self.notes.append(n)
                print(f"note: {image}: {n}", file=sys.stderr)

    def record(self) -> dict:
        return {"paths": self.paths, "overlap_used": sorted(self.overlaps), "notes": self.notes}


def enhance_folder(
    model_path: str | Path,
    in_dir: str | Path,
    out_dir: str | Path,
    *,
    tile: int | None = 512,
    overlap: int | str = "auto",
    approximate: bool = False,
    device: str = "auto",
    amp: str = "none",
    progress: bool = True,
    record_path: str | Path | None = None,
    budget: int | None = None,
) -> dict:
    """Enhance every PNG of ``in_dir`` into ``out_dir`` (same names); returns
    (and optionally writes to ``record_path`` as JSON) a provenance record.

    Whole image or exact tiles per image (:func:`enhance_exact`); ``budget``
    (bytes) replaces the measured free memory (tests)."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    overlap = parse_overlap(overlap)
    files = _pngs(in_dir)
    dev = resolve_device(device)
    model, meta = load_generator(model_path, dev)
    cfg = meta.get("config") or {}
    gen = cfg["generator"]
    tiling = generator_tiling(gen, cfg.get("size", "paper"), **(cfg.get("generator_args") or {}))
    out_dir.mkdir(parents=True, exist_ok=True)
    done = skipped = 0
    taken = _PathsTaken()
    bpp = None
    for src in track(files, desc=f"enhance {out_dir}", unit="img", bar=progress):
        dest = out_dir / src.name
        if dest.is_file():
            skipped += 1
            continue
        x = read_png(src).to(dev)
        if bpp is None and tile is not None and not approximate and (max(x.shape[-2:]) > tile):
            bpp = bytes_per_pixel(model, dev, tiling.multiple, amp == "bf16")
        y, plan = enhance_exact(model, x, tiling, tile=tile, overlap=overlap, approximate=approximate,
                                amp=amp == "bf16", bpp=bpp, budget=budget, name=gen)
        taken.add(plan, src.name)
        if y.shape[-2:] != x.shape[-2:]:
            raise ConfigError(f"{model_path}: output {tuple(y.shape[-2:])} differs from input {tuple(x.shape[-2:])} for {src}")
        write_png(dest, to_uint8(y))
        done += 1
    record = base_record(
        model=str(model_path), model_sha256=sha256_file(model_path), method_config=meta.get("config"),
        training=meta.get("provenance"), images=len(files), enhanced=done, skipped=skipped,
        tile=tile, overlap=overlap, approximate=approximate, device=str(dev), amp=amp,
        tiling={"radius": tiling.radius if math.isfinite(tiling.radius) else None,
                "multiple": tiling.multiple, "whole_only": tiling.whole_only or None, **taken.record()},
    )
    if record_path is not None:
        write_text(record_path, json.dumps(record, indent=2, default=str) + "\n")
    return record


def enhance_identity(in_dir: str | Path, out_dir: str | Path, *, link: bool = False) -> dict:
    """The method ``comp``: each compressed PNG copied (or hard-linked) as is."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    files = _pngs(in_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = skipped = 0
    for src in files:
        dest = out_dir / src.name
        if dest.is_file():
            skipped += 1
            continue
        with atomic_path(dest) as tmp:
            if link:
                tmp.unlink()
                try:
                    os.link(src, tmp)
                except OSError:  # other file system: fall back to a copy
                    shutil.copyfile(src, tmp)
            else:
                shutil.copyfile(src, tmp)
        done += 1
    return base_record(method="comp", images=len(files), copied=done, skipped=skipped, link=link)


# ----------------------------------------------------------------- sanity


def domain_gaps(raw_dir: str | Path, comp_dir: str | Path, enh_dir: str | Path) -> dict:
    """Mean absolute pixel differences (in [0, 1] units) over the images of
    ``enh_dir``: ``enh_vs_comp`` = mean |I_E - I_C|, ``raw_vs_comp`` =
    mean |I_R - I_C|, ``enh_vs_raw`` = mean |I_E - I_R| (per image over all
    pixels, then averaged over images), and ``ratio`` = enh_vs_comp / raw_vs_comp
    (the paper's Fig. 6: a debiased model moves it towards 1)."""
    raw_dir, comp_dir, enh_dir = Path(raw_dir), Path(comp_dir), Path(enh_dir)
    ec, rc, er = [], [], []
    for e in _pngs(enh_dir):
        r, c = raw_dir / e.name, comp_dir / e.name
        for p in (r, c):
            if not p.is_file():
                raise BadImageError(f"{p}: missing (needed beside {e})")
        ri, ci, ei = read_png(r), read_png(c), read_png(e)
        if not (ri.shape == ci.shape == ei.shape):
            raise BadImageError(f"{e.name}: sizes differ between raw, compressed and enhanced")
        ec.append(float((ei - ci).abs().mean()))
        rc.append(float((ri - ci).abs().mean()))
        er.append(float((ei - ri).abs().mean()))
    out = {
        "images": len(ec),
        "enh_vs_comp": float(np.mean(ec)),
        "raw_vs_comp": float(np.mean(rc)),
        "enh_vs_raw": float(np.mean(er)),
    }
    out["ratio"] = out["enh_vs_comp"] / out["raw_vs_comp"] if out["raw_vs_comp"] > 0 else float("nan")
    return out
