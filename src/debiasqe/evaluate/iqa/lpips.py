"""LPIPS (Zhang et al., CVPR 2018): full-reference, AlexNet features with learned weights."""

from .registry import register_metric


def _files():
    import torchvision.models as tvm
    from pyiqa.archs.lpips_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file, torchvision_file

    return [pyiqa_file("lpips", urls["0.1_alex"]), torchvision_file("lpips", tvm.AlexNet_Weights.IMAGENET1K_V1)]


register_metric("lpips", files=_files, random_init={"pretrained": False}, channels_last=True)
