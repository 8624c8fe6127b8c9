"""CLIP-IQA (Wang et al., AAAI 2023): no-reference, CLIP RN50 prompts ('clipiqa' needs no pyiqa file)."""

from .registry import register_metric


def _files():
    from ...weights.metric_weights import clip_file

    return [clip_file("clipiqa", "RN50")]


register_metric("clipiqa", files=_files, random_init={"pretrained": False}, channels_last=True)
