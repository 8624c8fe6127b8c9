"""DISTS (Ding et al., TPAMI 2020): full-reference, VGG-16 structure and texture."""

from .registry import register_metric


def _files():
    import torchvision.models as tvm
    from pyiqa.archs.dists_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file, torchvision_file

    return [pyiqa_file("dists", urls["url"]), torchvision_file("dists", tvm.VGG16_Weights.IMAGENET1K_V1)]


register_metric("dists", files=_files, random_init={"pretrained": False}, channels_last=True)
