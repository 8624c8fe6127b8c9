"""TOPIQ-FR (Chen et al., IEEE TIP 2024): full-reference, top-down attention over ResNet-50
(KADID-10k weights)."""

from .registry import register_metric


def _files():
    from pyiqa.archs.topiq_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file, timm_file

    return [pyiqa_file("topiq_fr", urls["cfanet_fr_kadid_res50"]), timm_file("topiq_fr", "resnet50")]


register_metric("topiq_fr", files=_files, random_init={"pretrained": False, "backbone_pretrain": False},
                channels_last=True)
