"""LPIPS (Zhang et al., CVPR 2018): full-reference, AlexNet features with learned weights."""

from .registry import register_metric


def _files():
    import torchvision.models as tvm
    from pyiqa.archs.lpips_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file, torchvision_file

    return [pyiqa_file("lpips", urls["0.1_alex"]), torchvision_file("lpips", tvm.AlexNet_Weights.IMAGENET1K_V1)]


def _non_negative_heads(model) -> None:
    """LPIPS trains its 1×1 linear heads under a non-negativity clamp, so a distance is never below 0.
    Random heads have either sign: without this, random-init LPIPS gives negative "distances" and no
    domain triangle can be drawn from them."""
    import torch

    with torch.no_grad():
        for p in model.net.lins.parameters():
            p.abs_()


register_metric("lpips", files=_files, random_init={"pretrained": False}, channels_last=True,
                random_fixup=_non_negative_heads)
