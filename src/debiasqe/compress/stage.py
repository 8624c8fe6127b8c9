"""The compression stage: one (codec, level) over a folder of images.

Writes ``OUT/bitstream/{image}.{ext}``, ``OUT/png/{image}.png`` (decoded)
and, last, ``OUT/rate.csv`` (image, width, height, bytes, bpp, backend,
file_bytes, psnr). ``bytes`` is the rate the paper's format would spend
(``Encoded.rate_bytes``); ``file_bytes`` is the size of the file written;
``psnr`` is the RGB PSNR of the decoded image against the input. Every file
is written atomically and rate.csv appears only when all images are done.
"""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.atomic import remove_stale_temps, write_bytes, write_text
from ..core.errors import DebiasqeError
from ..core.progress import track
from .codecs import get_codec
from ..core.imageio import read_rgb, write_png
from ..core.provenance import base_record

RATE_COLUMNS = ["image", "width", "height", "bytes", "bpp", "backend", "file_bytes", "psnr"]


@dataclass
class RateRow:
    image: str
    width: int
    height: int
    bytes: int
    bpp: float
    backend: str
    file_bytes: int
    psnr: float


def bits_per_pixel(nbytes: int, width: int, height: int) -> float:
    return nbytes * 8.0 / (width * height)


def rgb_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over all RGB channels of two uint8 images (inf when equal)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _compress_one(args: tuple) -> RateRow:
    src, codec_name, options, level, out_dir = args
    codec = get_codec(codec_name, **options)
    src, out_dir = Path(src), Path(out_dir)
    bit_path = out_dir / "bitstream" / f"{src.stem}.{codec.extension}"
    png_path = out_dir / "png" / f"{src.stem}.png"
    rgb, _ = read_rgb(src)
    h, w = rgb.shape[:2]
    try:
        enc = codec.encode(rgb, level)
        decoded = codec.decode(enc.data)
    except DebiasqeError as exc:  # e.g. a tool that timed out: name the image
        raise type(exc)(f"{src}: {exc}") from None
    if decoded.shape != rgb.shape:
        raise RuntimeError(f"{src}: {codec_name} decoded {decoded.shape}, expected {rgb.shape}")
    write_bytes(bit_path, enc.data)
    write_png(png_path, decoded)
    return RateRow(src.stem, w, h, enc.rate_bytes, bits_per_pixel(enc.rate_bytes, w, h),
                   codec.backend, len(enc.data), rgb_psnr(rgb, decoded))


def compress_folder(images: list[Path], codec_name: str, level: int, out_dir: str | Path,
                    threads: int = 1, options: dict | None = None, progress: bool = True) -> list[RateRow]:
    """Compress ``images`` at ``level``; return the rate rows (also written to rate.csv)."""
    options = dict(options or {})
    codec = get_codec(codec_name, **options)  # fail early on bad options/levels
    level = codec.check_level(level)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The level folder is this job's alone: a killed earlier attempt may have left
    # the temp file of provenance.json / rate.csv beside them (Snakemake cleans only outputs).
    remove_stale_temps(out_dir)
    (out_dir / "bitstream").mkdir(parents=True, exist_ok=True)
    (out_dir / "png").mkdir(parents=True, exist_ok=True)
    # Pin the backend 'auto' chose, so every worker uses the same one.
    if codec_name == "bpg":
        options["backend"] = codec.backend
    jobs = [(str(p), codec_name, options, level, str(out_dir)) for p in images]
    bar = track(total=len(jobs), desc=f"compress {codec_name} {codec.level_name} {level}", unit="img",
                bar=progress)
    rows: list[RateRow] = []
    if threads <= 1:
        for job in jobs:
            rows.append(_compress_one(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=threads) as pool:
            try:
                for row in pool.map(_compress_one, jobs):
                    rows.append(row)
                    bar.update()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    extra = {"backend_reason": codec.backend_reason} if hasattr(codec, "backend_reason") else {}
    record = base_record(codec=codec_name, level=level, options=options, backend=codec.describe(), **extra,
                         rate="bytes = " + ("HEVC payload (Annex-B), not HEIF boxes"
                                            if codec_name == "bpg" and codec.backend == "libheif"
                                            else "size of the bitstream file"))
    write_text(out_dir / "provenance.json", json.dumps(record, indent=2))
    write_rate_csv(out_dir / "rate.csv", rows)
    return rows


def write_rate_csv(path: str | Path, rows: list[RateRow]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RATE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        d = asdict(r)
        d["bpp"] = f"{r.bpp:.6f}"
        d["psnr"] = f"{r.psnr:.4f}"
        writer.writerow(d)
    write_text(path, buf.getvalue())
