"""Compression throughput: images/s per codec and backend at 1 and 2 workers,
and the in-process JPEG path against spawning ``cjpeg`` once per image.

    python benchmarks/compress_throughput.py [--images N] [--size S]

All numbers in one run, side by side, on the same images (crops of the
embedded demo photographs written as PNGs).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.compress.stage import compress_folder  # noqa: E402
from debiasqe.data.demo import DEMO_IMAGES  # noqa: E402


def make_images(folder: Path, n: int, size: int) -> list[Path]:
    names = ["astronaut", "coffee", "motorcycle_left", "immunohistochemistry", "rocket", "chelsea"]
    paths = []
    for i in range(n):
        img = DEMO_IMAGES[names[i % len(names)]]()[..., :3]
        h, w = img.shape[:2]
        y, x = (h - min(h, size)) // 2, (w - min(w, size)) // 2
        p = folder / f"img{i:03d}.png"
        Image.fromarray(np.ascontiguousarray(img[y:y + size, x:x + size])).save(p)
        paths.append(p)
    return paths


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--size", type=int, default=384)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        images = make_images(tmp / "in", args.images, args.size)
        cases = [("jpeg", 30, {}), ("bpg", 37, {"backend": "libheif"}), ("webp", 75, {}),
                 ("avif", 60, {}), ("jpegxl", 80, {}), ("jpeg2000", 40, {})]
        print(f"{args.images} images of up to {args.size}x{args.size} px\n")
        print(f"{'codec':10} {'backend':14} {'1 worker img/s':>15} {'2 workers img/s':>16} {'speed-up':>9}")
        for codec, level, opts in cases:
            rates = []
            for workers in (1, 2):
                out = tmp / f"{codec}-{workers}"
                dt = timed(lambda: compress_folder(images, codec, level, out, threads=workers,
                                                   options=opts, progress=False))
                rates.append(len(images) / dt)
                shutil.rmtree(out)
            backend = opts.get("backend", codec)
            print(f"{codec:10} {backend:14} {rates[0]:15.2f} {rates[1]:16.2f} {rates[1] / rates[0]:8.2f}x")

        cjpeg = shutil.which("cjpeg")
        if not cjpeg:
            print("\ncjpeg not found (apt-get install libjpeg-turbo-progs): skipping the spawn comparison")
            return
        # Same work in both arms: encode at QF 30 (4:2:0 baseline) and keep the bytes.
        from debiasqe.compress.codecs import get_codec
        from debiasqe.core.imageio import read_rgb

        codec = get_codec("jpeg")

        def in_process():
            for p in images:
                codec.encode(read_rgb(p)[0], 30)

        def spawn():
            for p in images:
                ppm = tmp / "x.ppm"
                Image.fromarray(read_rgb(p)[0]).save(ppm)
                subprocess.run([cjpeg, "-quality", "30", "-sample", "2x2", "-outfile", str(tmp / "x.jpg"),
                                str(ppm)], check=True)

        t_in = min(timed(in_process) for _ in range(3))
        t_sp = min(timed(spawn) for _ in range(3))
        print(f"\nJPEG QF 30, 1 worker: in-process {len(images) / t_in:.1f} img/s, "
              f"cjpeg per image {len(images) / t_sp:.1f} img/s -> in-process is {t_sp / t_in:.2f}x faster")


if __name__ == "__main__":
    main()
