"""PI (Blau et al., ECCV Workshops 2018): (Ma's score's complement + NIQE) / 2; statistics
files only, so it cannot run without them."""

from .registry import register_metric


def _files():
    from pyiqa.archs.niqe_arch import default_model_urls as niqe_urls
    from pyiqa.archs.nrqm_arch import default_model_urls as nrqm_urls

    from ...weights.metric_weights import pyiqa_file

    return [pyiqa_file("pi", nrqm_urls["url"]), pyiqa_file("pi", niqe_urls["url"])]


register_metric("pi", files=_files, random_init=None)
