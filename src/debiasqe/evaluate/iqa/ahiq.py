"""AHIQ (Lao et al., CVPRW 2022): full-reference, attention over ViT and ResNet features."""

from .registry import register_metric


def _files():
    from pyiqa.archs.ahiq_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file, timm_file

    return [pyiqa_file("ahiq", urls["pipal"]), timm_file("ahiq", "resnet50"), timm_file("ahiq", "vit_base_patch8_224")]


register_metric("ahiq", files=_files, random_init={"pretrained": False})
