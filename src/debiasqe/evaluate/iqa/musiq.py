"""MUSIQ (Ke et al., ICCV 2021): no-reference, a multi-scale transformer (KonIQ-10k weights)."""

from .registry import register_metric


def _files():
    from pyiqa.archs.musiq_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file

    return [pyiqa_file("musiq", urls["koniq10k"])]


register_metric("musiq", files=_files, random_init={"pretrained": False})
