"""HyperIQA (Su et al., CVPR 2020): no-reference, a hyper network over ResNet-50."""

from .registry import register_metric


def _files():
    from pyiqa.archs.hypernet_arch import default_model_urls as urls

    from ...weights.metric_weights import pyiqa_file, timm_file

    return [pyiqa_file("hyperiqa", urls["resnet50-koniq"]), timm_file("hyperiqa", "resnet50")]


register_metric("hyperiqa", files=_files, random_init={"pretrained": False}, channels_last=True)
