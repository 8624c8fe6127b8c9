"""VGG-19 feature extractor with named layers, shared by the losses.

One instance serves both the perceptual loss and the domain-divergence
regularisation: build it with the union of the layers both need and call it
once per image batch; it returns ``{name: feature}`` for every requested
layer from a single forward pass.

Layer names follow the torchvision ``vgg19().features`` layout: ``convB_L``,
``reluB_L`` and ``poolB`` (B = block 1..5). A short name ``B_L`` means the
conv output when ``before_relu`` is true (the paper's psi_l, "before ReLU")
and the ReLU output otherwise. ReLUs are not in-place, so a conv feature is
never overwritten by the following activation.

The module is frozen (parameters do not require grad, always in eval mode)
but gradients flow to its input. Weights come from the registry entry
``vgg19`` (torchvision's ``vgg19-dcbb9e9d.pth``) through
:mod:`debiasqe.weights.store` and the ``pretrained`` policy (``required`` by
default; ``auto`` falls back to random init with a warning, ``random`` never
looks; random init is torchvision's, see :func:`_torchvision_init`); ``weights`` may name an explicit file instead. ``provenance``
records what was loaded: ``{"name", "file", "sha256" | "random-init"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..core.errors import ConfigError
from ..weights import store as wreg

# torchvision's vgg19 "E" configuration
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> list[str]:
    names = []
    block, idx = 1, 1
    for v in _CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


#: name -> index in torchvision's ``vgg19().features``
VGG19_LAYERS: dict[str, int] = {name: i for i, name in enumerate(_layer_names())}


def _build_features(num_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    features = nn.Sequential(*layers[:num_layers])
    _torchvision_init(features)
    return features


@torch.no_grad()
def _torchvision_init(features: nn.Sequential) -> None:
    """torchvision's VGG init (``vgg19(weights=None)``): Kaiming-normal, fan-out, zero bias.

    Only a random-init VGG keeps it (loaded weights overwrite it). PyTorch's default conv
    init shrinks activations about 6x per layer, so conv5_4 features of two images would
    differ by ~1e-8 and the perceptual loss and L_R would vanish; this init keeps their scale.
    """
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)


def resolve_layer(name: str, before_relu: bool = True) -> str:
    """Canonical layer name for ``name`` (accepts the short form ``B_L``)."""
    if name in VGG19_LAYERS:
        return name
    full = ("conv" if before_relu else "relu") + name
    if full in VGG19_LAYERS:
        return full
    allowed = ", ".join(n for n in VGG19_LAYERS if not n.startswith("relu"))
    raise ConfigError(f"unknown VGG-19 layer {name!r}; use convB_L / reluB_L / poolB (e.g. {allowed})")


class VGGFeatures(nn.Module):
    def __init__(
        self,
        layers: Sequence[str] = ("conv5_4",),
        before_relu: bool = True,
        input_norm: bool = True,
        weights: str | Path | None = None,
        policy: str = "required",
    ) -> None:
        super().__init__()
        if not layers:
            raise ConfigError("VGGFeatures needs at least one layer name")
        self.requested = list(layers)
        self.names = {req: resolve_layer(req, before_relu) for req in self.requested}
        self.indices = {req: VGG19_LAYERS[full] for req, full in self.names.items()}
        depth = max(self.indices.values()) + 1
        self.features = _build_features(depth)
        self.input_norm = input_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.provenance = self._load(weights, policy)
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def _load(self, weights: str | Path | None, policy: str) -> dict:
        state, provenance = wreg.load_state_dict("vgg19", policy=policy, path=weights)
        if state is not None:
            prefix = "features."
            own = self.features.state_dict()
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k[len(prefix):] in own}
            missing = sorted(set(own) - set(sub))
            if missing:
                raise ConfigError(
                    f"{provenance['file']}: not a torchvision VGG-19 state dict (missing features.{missing[0]})"
                )
            self.features.load_state_dict(sub, strict=True)
        return provenance

    def train(self, mode: bool = True) -> "VGGFeatures":  # frozen: always eval
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.input_norm:
            x = (x - self.mean) / self.std
        wanted: dict[int, list[str]] = {}
        for req, idx in self.indices.items():
            wanted.setdefault(idx, []).append(req)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            for req in wanted.get(i, ()):
                out[req] = x
        return {req: out[req] for req in self.requested}
