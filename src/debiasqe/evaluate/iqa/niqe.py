"""NIQE (Mittal et al., IEEE SPL 2013): no-reference, natural-scene statistics (a .mat of
pristine-image statistics: nothing to initialise randomly)."""

from .registry import register_metric


def _files():
    from pyiqa.archs.niqe_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file

    return [pyiqa_file("niqe", urls["url"])]


register_metric("niqe", files=_files, random_init=None)
