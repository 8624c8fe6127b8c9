"""How close is the libheif/x265 BPG substitute to the authors' bpgenc (HM, -e jctvc)?

Encodes the three scikit-image photographs of the reference table
(astronaut, coffee, chelsea) at QP 27-47 with the pipeline's libheif path
(``debiasqe.compress.codecs.bpg.encode_libheif``: payload bytes, 4:2:0, BT.601 full
range) under one or more x265 parameter sets, decodes them, and compares
with ``bpgenc_jctvc_reference.csv`` (see that folder's README):

* BD-rate (%) per image with the ``bjontegaard`` package (pchip, and the
  VCEG-M33 cubic fit), averaged over the three images: the extra bits the
  substitute spends for the reference's PSNR (positive = more bits);
* PSNR gap at equal QP, reference minus ours (dB), per QP and mean.

    python benchmarks/bpg_x265_tuning.py                       # current X265_PARAMS only
    python benchmarks/bpg_x265_tuning.py --candidates          # + the candidate sets below
    python benchmarks/bpg_x265_tuning.py --only NAME [NAME...]  # chosen candidate sets

Encodes run one after another (x265 threads internally); each parameter set
is 15 encodes, about 25 s on the 2-core development box.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from debiasqe.compress.codecs.bpg import X265_PARAMS, encode_libheif  # noqa: E402
from debiasqe.compress.stage import rgb_psnr  # noqa: E402

# A copy of ../shared/reference/bpgenc_jctvc_reference.csv: libbpg 0.9.8 built with
# USE_JCTVC=y, `bpgenc -e jctvc -q QP`, decoded by bpgdec; bpp of the whole .bpg file,
# PSNR over RGB (8 bit, peak 255) against the skimage.data PNG.
DEFAULT_REF = ROOT / "benchmarks" / "data" / "bpgenc_jctvc_reference.csv"
IMAGES = ("astronaut", "coffee", "chelsea")
QPS = (27, 32, 37, 42, 47)

# The settings before this tuning (the pipeline's X265_PARAMS up to issue 13).
BEFORE = {"preset": "veryslow", "tune": "ssim", "x265:psy-rd": "0", "x265:psy-rdoq": "0",
          "x265:ipratio": "1", "x265:aq-mode": "0"}

#: Candidate parameter sets: name -> overrides on top of BEFORE.
CANDIDATES: dict[str, dict] = {
    "before": {},
    "rdoq0": {"x265:rdoq-level": "0"},
    "rdoq1": {"x265:rdoq-level": "1"},
    "rdoq2": {"x265:rdoq-level": "2"},
    "no-sao": {"x265:sao": "0"},
    "no-deblock": {"x265:no-deblock": "1"},
    "tu-intra1": {"x265:tu-intra-depth": "1"},
    "tu-intra4": {"x265:tu-intra-depth": "4"},
    "no-rect-amp": {"x265:no-rect": "1", "x265:no-amp": "1"},
    "cbcr-1": {"x265:cbqpoffs": "-1", "x265:crqpoffs": "-1"},
    "cbcr+1": {"x265:cbqpoffs": "1", "x265:crqpoffs": "1"},
    "cbcr-2": {"x265:cbqpoffs": "-2", "x265:crqpoffs": "-2"},
    "cbcr-3": {"x265:cbqpoffs": "-3", "x265:crqpoffs": "-3"},
    "cbcr-4": {"x265:cbqpoffs": "-4", "x265:crqpoffs": "-4"},
    "cbcr-5": {"x265:cbqpoffs": "-5", "x265:crqpoffs": "-5"},
    "cbcr-6": {"x265:cbqpoffs": "-6", "x265:crqpoffs": "-6"},
    "cb-4cr-2": {"x265:cbqpoffs": "-4", "x265:crqpoffs": "-2"},
    "cb-2cr-4": {"x265:cbqpoffs": "-2", "x265:crqpoffs": "-4"},
    "no-strong-intra": {"x265:strong-intra-smoothing": "0"},
    "tune-psnr": {"tune": "psnr"},
    "ctu32": {"x265:ctu": "32"},
    "no-signhide": {"x265:signhide": "0"},
    "b-intra": {"x265:b-intra": "1"},
    "placebo": {"preset": "placebo"},
    "tskip": {"x265:tskip": "1"},
    "rskip0": {"x265:rskip": "0"},
    "rd-refine": {"x265:rd-refine": "1"},
    "no-fast-intra": {"x265:fast-intra": "0"},
    "deblock-1": {"x265:deblock": "-1:-1"},
    "deblock+1": {"x265:deblock": "1:1"},
    # combinations of the single changes that helped
    "cbcr-4+tskip+tu4": {"x265:cbqpoffs": "-4", "x265:crqpoffs": "-4", "x265:tskip": "1",
                         "x265:tu-intra-depth": "4"},
    "cbcr-4+tskip+tu4+nsis": {"x265:cbqpoffs": "-4", "x265:crqpoffs": "-4", "x265:tskip": "1",
                              "x265:tu-intra-depth": "4", "x265:strong-intra-smoothing": "0"},
    "cbcr-5+tskip+tu4+nsis": {"x265:cbqpoffs": "-5", "x265:crqpoffs": "-5", "x265:tskip": "1",
                              "x265:tu-intra-depth": "4", "x265:strong-intra-smoothing": "0"},
    "cbcr-5+tskip": {"x265:cbqpoffs": "-5", "x265:crqpoffs": "-5", "x265:tskip": "1"},
    "cbcr-5+tskip+tu4": {"x265:cbqpoffs": "-5", "x265:crqpoffs": "-5", "x265:tskip": "1",
                         "x265:tu-intra-depth": "4"},
    "cbcr-3+tskip+tu4+nsis": {"x265:cbqpoffs": "-3", "x265:crqpoffs": "-3", "x265:tskip": "1",
                              "x265:tu-intra-depth": "4", "x265:strong-intra-smoothing": "0"},
}


def load_reference(path: Path) -> dict[str, dict[int, tuple[float, float]]]:
    ref: dict[str, dict[int, tuple[float, float]]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            ref.setdefault(row["image"], {})[int(row["qp"])] = (float(row["bpp"]), float(row["psnr_rgb"]))
    return ref


def load_images() -> dict[str, np.ndarray]:
    import skimage.data

    return {name: getattr(skimage.data, name)() for name in IMAGES}


def measure(params: dict, images: dict[str, np.ndarray]) -> dict[str, dict[int, tuple[float, float]]]:
    """bpp (payload) and RGB PSNR per image and QP under ``params``."""
    import io

    import pillow_heif

    out: dict[str, dict[int, tuple[float, float]]] = {}
    for name, rgb in images.items():
        h, w = rgb.shape[:2]
        for qp in QPS:
            enc = encode_libheif(rgb, qp, params)
            dec = np.asarray(pillow_heif.open_heif(io.BytesIO(enc.data), convert_hdr_to_8bit=True)[0])
            out.setdefault(name, {})[qp] = (enc.rate_bytes * 8 / (w * h), rgb_psnr(rgb, dec))
    return out


def compare(ours, ref) -> dict:
    import bjontegaard

    bd = {"pchip": [], "cubic": []}
    gaps = {qp: [] for qp in QPS}
    rate_ratio = {qp: [] for qp in QPS}
    for name in IMAGES:
        rr = [ref[name][qp][0] for qp in QPS]
        rq = [ref[name][qp][1] for qp in QPS]
        orr = [ours[name][qp][0] for qp in QPS]
        oq = [ours[name][qp][1] for qp in QPS]
        for m in bd:
            bd[m].append(float(bjontegaard.bd_rate(rr, rq, orr, oq, method=m, min_overlap=0)))
        for qp in QPS:
            gaps[qp].append(ref[name][qp][1] - ours[name][qp][1])
            rate_ratio[qp].append(ours[name][qp][0] / ref[name][qp][0])
    return {
        "bd_pchip": float(np.mean(bd["pchip"])), "bd_cubic": float(np.mean(bd["cubic"])),
        "bd_per_image": dict(zip(IMAGES, bd["pchip"])),
        "gap": float(np.mean([g for v in gaps.values() for g in v])),
        "gap_per_qp": {qp: float(np.mean(v)) for qp, v in gaps.items()},
        "rate_per_qp": {qp: float(np.mean(v)) for qp, v in rate_ratio.items()},
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    ap.add_argument("--candidates", action="store_true", help="also every candidate set in CANDIDATES")
    ap.add_argument("--only", nargs="+", help="candidate set names (see CANDIDATES)")
    ap.add_argument("--combine", nargs="+", help="one set: BEFORE + the union of these candidates' overrides")
    args = ap.parse_args(argv)
    ref = load_reference(args.reference)
    images = load_images()
    runs: dict[str, dict] = {"current X265_PARAMS": dict(X265_PARAMS)}
    names = list(CANDIDATES) if args.candidates else (args.only or [])
    for n in names:
        if n not in CANDIDATES:
            raise SystemExit(f"--only: unknown candidate {n!r}; known: {', '.join(CANDIDATES)}")
        runs[n] = {**BEFORE, **CANDIDATES[n]}
    if args.combine:
        merged = dict(BEFORE)
        for n in args.combine:
            merged.update(CANDIDATES[n])
        runs["+".join(args.combine)] = merged
    print(f"reference: {args.reference}")
    print(f"{'parameter set':<32} {'BD-rate pchip':>13} {'cubic':>7} {'PSNR gap dB':>11}  per-QP gap (27..47)"
          f"   rate ours/ref (27..47)   s")
    for name, params in runs.items():
        t = time.perf_counter()
        c = compare(measure(params, images), ref)
        dt = time.perf_counter() - t
        per_qp = " ".join(f"{c['gap_per_qp'][q]:+.2f}" for q in QPS)
        rates = " ".join(f"{c['rate_per_qp'][q]:.3f}" for q in QPS)
        print(f"{name:<32} {c['bd_pchip']:>+12.2f}% {c['bd_cubic']:>+6.2f}% {c['gap']:>+11.3f}  {per_qp}   {rates}"
              f"   {dt:.0f}", flush=True)
        print(f"{'':<32} BD-rate (pchip) per image: "
              + ", ".join(f"{k} {v:+.2f}%" for k, v in c["bd_per_image"].items()), flush=True)
    if len(runs) == 1 or args.only or args.combine:
        p = runs.get("current X265_PARAMS")
        print("current X265_PARAMS:", p)


if __name__ == "__main__":
    main()
