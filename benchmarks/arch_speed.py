"""Forward + backward time of every generator on CPU, default vs channels_last.

    python benchmarks/arch_speed.py                      # all nets, tiny + paper
    python benchmarks/arch_speed.py --sizes tiny --nets rrdbnet,dncnn --reps 5

For each (network, size) one batch (default 2 x 3 x 128 x 128) is pushed
forward and back; after a warm-up pass the median of ``--reps`` timed passes
(default and channels_last interleaved, one pass each in turn) is reported for the default (contiguous, NCHW) memory format and for
``torch.channels_last`` (model and input converted), measured side by side
in one run. ratio = channels_last time / default time (< 1: channels_last
is faster).
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.archs import GENERATORS, build_generator, count_parameters  # noqa: E402


def step(net: torch.nn.Module, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    net.zero_grad(set_to_none=True)
    net(x).abs().mean().backward()
    return time.perf_counter() - t0


def time_pair(net: torch.nn.Module, x: torch.Tensor, reps: int) -> tuple[float, float]:
    """Median fwd+bwd time, default format vs channels_last, interleaved A/B."""
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    step(net, x)  # warm-up both
    step(net_cl, x_cl)
    t_def, t_cl = [], []
    for _ in range(reps):
        t_def.append(step(net, x))
        t_cl.append(step(net_cl, x_cl))
    return statistics.median(t_def), statistics.median(t_cl)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default=",".join(GENERATORS), help="comma-separated generator names")
    ap.add_argument("--sizes", default="tiny,paper", help="comma-separated: tiny, paper")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--hw", type=int, default=128, help="patch side")
    ap.add_argument("--reps", type=int, default=2, help="timed passes after one warm-up")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    nets = [n for n in args.nets.split(",") if n]
    sizes = [s for s in args.sizes.split(",") if s]
    torch.manual_seed(0)
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, batch {args.batch}x3x{args.hw}x{args.hw}, "
        f"median of {args.reps} fwd+bwd after 1 warm-up"
    )
    print("| network | size | params | default (ms) | channels_last (ms) | ratio CL/default |")
    print("|---|---|---|---|---|---|")
    t_start = time.perf_counter()
    for size in sizes:
        for name in nets:
            net = build_generator(name, size)
            x = torch.rand(args.batch, 3, args.hw, args.hw)
            t_def, t_cl = time_pair(net, x, args.reps)
            print(
                f"| {name} | {size} | {count_parameters(net):,} | {t_def * 1e3:.1f} | {t_cl * 1e3:.1f} | "
                f"{t_cl / t_def:.2f} |",
                flush=True,
            )
    print(f"# total wall time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
