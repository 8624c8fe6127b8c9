"""FID (Heusel et al., NeurIPS 2017): a distance between image sets, on Inception features
(computed by debiasqe.evaluate.fid, which builds a random Inception itself when asked)."""

from .registry import register_metric


def _files():
    from pyiqa.archs.inception import FID_WEIGHTS_URL

    from ...weights.metric_weights import pyiqa_file

    return [pyiqa_file("fid", FID_WEIGHTS_URL)]


register_metric("fid", files=_files, random_init=None, set_level=True)
