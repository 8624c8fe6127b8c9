"""Evaluation throughput: this design vs the naive way, same images, same nets.

Scenario: a results table for M methods on N test images, each row scored by
image-level pyiqa metrics (no-reference ones also on the raw images, the
table's "raw" row) plus the FID triangle (S_CR, S_CE, S_RE) per method.

naive   one pyiqa metric object per metric, called per image with file
        paths (pyiqa decodes the file on every call), raw NR scores
        recomputed for every method, each FID computing the Inception
        features of both of its sets (6 set passes per method).
design  debiasqe.evaluate.metrics.evaluate_sets: all methods in one call
        (every method's images batched through each metric, each file decoded
        once, full-reference features of each raw image computed once for
        every method, raw NR scores once, CLIP-IQA's prompt features once,
        channels-last batches for the convolutional metrics)
        and debiasqe.evaluate.fid set statistics cached per set (raw and
        compressed once, enhanced once per method).

Metric networks are random-init: no weights can be downloaded here, and
speed does not depend on the weights. They are built once, outside the
timings, for both sides. Prints the ratio.

    python benchmarks/eval_throughput.py [--images 6] [--size 256] [--methods 2]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from debiasqe.evaluate import fid as F  # noqa: E402
from debiasqe.evaluate import metrics as M  # noqa: E402


def make_images(root: Path, n: int, size: int, methods: int):
    from skimage import data
    srcs = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(),
            data.hubble_deep_field(), data.immunohistochemistry()]
    sets = {"raw": [], "comp": []} | {f"m{j}": [] for j in range(methods)}
    for d in sets:
        (root / d).mkdir(parents=True)
    for i in range(n):
        a = srcs[i % len(srcs)]
        y = (i // len(srcs)) * 17 % max(1, a.shape[0] - size)
        im = Image.fromarray(a[y:y + size, :size])
        im.save(root / "raw" / f"{i}.png")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=20)
        c = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        c.save(root / "comp" / f"{i}.png")
        for j in range(methods):
            c.filter(ImageFilter.UnsharpMask(1 + j, 80, 2)).save(root / f"m{j}" / f"{i}.png")
        for d in sets:
            sets[d].append(str(root / d / f"{i}.png"))
    return sets


def naive(built, sets, methods, net, patch, bs, t):
    import torch
    rows = []
    with torch.no_grad():
        for meth in ["comp"] + [f"m{j}" for j in range(methods)]:
            t0 = time.perf_counter()
            for m, b in built.items():
                for e, r in zip(sets[meth], sets["raw"]):
                    if b.info.mode == "FR":
                        rows.append(float(b.model(e, r)))
                    else:
                        rows.append(float(b.model(e)))
                        rows.append(float(b.model(r)))  # the raw row, again per method
            t1 = time.perf_counter()
            t["image metrics"] += t1 - t0
            for a, c in (("comp", "raw"), ("comp", meth), ("raw", meth)):
                if meth == "comp" and c == "comp":
                    continue
                t0 = time.perf_counter()
                sa = F.compute_set_stats(sets[a], net, "random-init", patch=patch, batch_size=bs,
                                         progress=False)
                sc = F.compute_set_stats(sets[c], net, "random-init", patch=patch, batch_size=bs,
                                         progress=False)
                t1 = time.perf_counter()
                rows.append(F.fid_between(sa, sc))
                t["fid features"] += t1 - t0
                t["fid distances"] += time.perf_counter() - t1
    return rows


def design(built, sets, methods, net, patch, bs, work: Path, t):
    names = list(built)
    cache = M.NRCache(work / "nr.json")
    meths = ["comp"] + [f"m{j}" for j in range(methods)]
    t0 = time.perf_counter()
    dfs, _ = M.evaluate_sets(names, {m: [(Path(e).name, e, r) for e, r in zip(sets[m], sets["raw"])]
                                     for m in meths},
                             batch_size=bs, built=built, nr_cache=cache, reference_nr=True,
                             progress=False)
    out = list(dfs.values())
    t["image metrics"] += time.perf_counter() - t0
    stats = {}
    for meth in meths:
        t1 = time.perf_counter()
        for s in ("raw", "comp", meth):
            stats[s] = F.set_stats_cached(sets[s], work / "feat" / f"{s}.npz", net, "random-init",
                                          patch=patch, batch_size=bs, progress=False)
        t2 = time.perf_counter()
        t["fid features"] += t2 - t1
        pairs = [("comp", "raw")] if meth == "comp" else [("comp", "raw"), ("comp", meth),
                                                          ("raw", meth)]
        out.append([F.fid_between(stats[a], stats[c]) for a, c in pairs])
        t["fid distances"] += time.perf_counter() - t2
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--methods", type=int, default=2)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=6)
    ap.add_argument("--metrics", default="psnr,lpips,dists,musiq,clipiqa")
    ap.add_argument("--design-first", action="store_true",
                    help="run the design before the naive way (check order effects)")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sets = make_images(tmp / "img", a.images, a.size, a.methods)
        names = a.metrics.split(",")
        built = {m: M.build_metric(m, "random", tmp / "no-weights") for m in names}
        net, _ = F.build_inception(None)
        from collections import defaultdict
        # warm-up (one-time kernel/allocator setup) outside the timings
        with torch.no_grad():
            for b in built.values():
                e, r = sets["comp"][0], sets["raw"][0]
                b.model(e, r) if b.info.mode == "FR" else b.model(e)
            F.compute_set_stats(sets["raw"][:1], net, "w", patch=a.patch, progress=False)
        tn, td = defaultdict(float), defaultdict(float)
        runs = [lambda: naive(built, sets, a.methods, net, a.patch, a.batch_size, tn),
                lambda: design(built, sets, a.methods, net, a.patch, a.batch_size, tmp / "work", td)]
        cpu = {}
        for side, run in (list(zip(("design", "naive"), runs[::-1])) if a.design_first
                          else list(zip(("naive", "design"), runs))):
            c0 = time.process_time()
            run()
            cpu[side] = time.process_time() - c0
    print(f"images {a.images} x {a.size}px, methods {a.methods} (+comp), metrics {a.metrics} + FID "
          f"triangles (patch {a.patch}), torch threads {torch.get_num_threads()}")
    print("metric and Inception networks: random-init (no weights offline; timings do not depend on them)")
    print(f"{'part':16s} {'naive s':>9s} {'design s':>9s} {'ratio':>7s}")
    for k in ("image metrics", "fid features", "fid distances"):
        print(f"{k:16s} {tn[k]:9.1f} {td[k]:9.1f} {tn[k] / td[k]:7.2f}")
    n, d = sum(tn.values()), sum(td.values())
    print(f"{'total':16s} {n:9.1f} {d:9.1f} {n / d:7.2f}")
    n2, d2 = n - tn["fid distances"], d - td["fid distances"]
    print(f"{'total w/o dist.':16s} {n2:9.1f} {d2:9.1f} {n2 / d2:7.2f}")
    # CPU seconds of the process (all threads): the work done, less sensitive to other jobs' load
    print(f"{'total CPU s':16s} {cpu['naive']:9.1f} {cpu['design']:9.1f} {cpu['naive'] / cpu['design']:7.2f}")


if __name__ == "__main__":
    main()
