"""Pretrained weights: the registry of every pretrained file, its lookup, fetch and manifest."""
