"""Display names and canonical order of methods and metrics (paper order)."""

from __future__ import annotations

from typing import Iterable

from ..methods import split_run

METHOD_ORDER = [
    "comp", "arcnn", "dcad", "dncnn", "cbdnet", "rdn", "rbqe", "mprnet",
    "esrgan", "esrgan_cd", "esrgan_ddr", "esrgan_debias",
    "realesrgan", "realesrgan_cd", "realesrgan_ddr", "realesrgan_debias",
]
METHOD_LABELS = {
    "comp": "Comp.", "arcnn": "AR-CNN", "dcad": "DCAD", "dncnn": "DnCNN", "cbdnet": "CBDNet",
    "rdn": "RDN", "rbqe": "RBQE", "mprnet": "MPRNet",
    "esrgan": "ESRGAN", "esrgan_cd": "ESRGAN (1)", "esrgan_ddr": "ESRGAN (2)",
    "esrgan_debias": "Ours w/ ESRGAN",
    "realesrgan": "Real-ESRGAN", "realesrgan_cd": "Real-ESRGAN (1)",
    "realesrgan_ddr": "Real-ESRGAN (2)", "realesrgan_debias": "Ours w/ Real-ESRGAN",
}
METRIC_ORDER = ["ahiq", "clipiqa", "dists", "fid", "hyperiqa", "lpips", "musiq", "niqe", "pi", "psnr", "topiq_fr"]
METRIC_LABELS = {
    "ahiq": "AHIQ", "clipiqa": "CLIP-IQA", "dists": "DISTS", "fid": "FID", "hyperiqa": "HyperIQA",
    "lpips": "LPIPS", "musiq": "MUSIQ", "niqe": "NIQE", "pi": "PI", "psnr": "PSNR (dB)",
    "topiq_fr": "TOPIQ",
}
CODEC_LABELS = {"bpg": "BPG", "jpeg": "JPEG"}


def method_label(m: str) -> str:
    """The paper's name of a method; a run of several training seeds adds its seed: "ESRGAN (seed 1)"."""
    method, seed = split_run(m)
    label = METHOD_LABELS.get(method, method)
    return label if seed is None else f"{label} (seed {seed})"


def metric_label(m: str) -> str:
    return METRIC_LABELS.get(m, m)


def _order(items: Iterable[str], canon: list[str]) -> list[str]:
    items = list(dict.fromkeys(items))
    known = [c for c in canon if c in items]
    return known + sorted(i for i in items if i not in canon)


def order_methods(methods: Iterable[str]) -> list[str]:
    """Paper order for known methods, then the rest alphabetically; a method's runs (method@seedS)
    together, by seed."""

    def key(m):
        method, seed = split_run(m)
        known = method in METHOD_ORDER
        return (0 if known else 1, METHOD_ORDER.index(method) if known else 0, method, -1 if seed is None else seed)

    return sorted(dict.fromkeys(methods), key=key)


def order_metrics(metrics: Iterable[str]) -> list[str]:
    return _order(metrics, METRIC_ORDER)


def level_key(level) -> tuple:
    """Sort key for levels: numeric where possible."""
    try:
        return (0, float(level), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(level))
