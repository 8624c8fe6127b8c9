"""Tiled enhancement against the whole image: the path each generator takes and its largest difference.

    python benchmarks/tiling_exactness.py                    # every generator, tiny + paper
    python benchmarks/tiling_exactness.py --sizes tiny --tile 64 --height 160 --width 224

For every (generator, size), random-init weights (seeded) enhance one photograph crop
(scikit-image's chelsea) three ways:
  whole       the whole image at once (the reference);
  default     `debiasqe enhance --tile T` with `enhance.overlap: auto` and "no memory" for the
              whole image, so it tiles wherever the architecture allows (receptive-field
              overlap) and runs whole where it pools globally or its radius exceeds the image;
  approximate `--approximate-tiles --overlap 32`, the old behaviour (tiles as asked).
Prints the default path, its overlap, and the max difference from the whole image in 8-bit code
values for the default and the approximate path. The promise: default ≤ 1 everywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.archs import GENERATORS, build_generator, generator_tiling  # noqa: E402
from debiasqe.enhance.stage import enhance_exact, to_uint8  # noqa: E402


def photo(height: int, width: int) -> torch.Tensor:
    from skimage import data
    a = data.chelsea()[:height, :width].astype(np.float32) / 255
    return torch.from_numpy(a).permute(2, 0, 1)[None].contiguous()


def code_value_diff(a: torch.Tensor, b: torch.Tensor) -> int:
    return int(np.abs(to_uint8(a).astype(int) - to_uint8(b).astype(int)).max())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,paper")
    ap.add_argument("--nets", default=",".join(GENERATORS))
    ap.add_argument("--tile", type=int, default=64)
    ap.add_argument("--height", type=int, default=160)
    ap.add_argument("--width", type=int, default=224)
    a = ap.parse_args(argv)
    x = photo(a.height, a.width)
    print(f"image {a.height}x{a.width} (chelsea crop), tile {a.tile}, random-init weights (seed 0)")
    print(f"{'generator':10s} {'size':6s} {'default path':14s} {'overlap':>8s} {'max diff':>9s} "
          f"{'approx. (overlap 32)':>21s}")
    for name in a.nets.split(","):
        for size in a.sizes.split(","):
            torch.manual_seed(0)
            net = build_generator(name, size).eval()
            tiling = generator_tiling(name, size)
            with torch.no_grad():
                whole = net(x)
                got, plan = enhance_exact(net, x, tiling, tile=a.tile, budget=0, name=name)
                approx, _ = enhance_exact(net, x, tiling, tile=a.tile, overlap=32, approximate=True, name=name)
            path = f"tiles {plan.tile}" if plan.mode == "tiles" else "whole"
            overlap = str(plan.overlap) if plan.mode == "tiles" else "-"
            print(f"{name:10s} {size:6s} {path:14s} {overlap:>8s} {code_value_diff(got, whole):9d} "
                  f"{code_value_diff(approx, whole):21d}", flush=True)


if __name__ == "__main__":
    main()
