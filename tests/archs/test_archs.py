"""Network zoo: shapes, parameter counts worked out by hand, discriminators,
and the "no inference overhead" property of the debiasing method."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from debiasqe.archs import (
    DISCRIMINATORS,
    GENERATORS,
    build_discriminator,
    build_generator,
    count_parameters,
    identity_args,
    start_as_identity,
)
from debiasqe.core.errors import ConfigError

torch.set_num_threads(1)


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("hw", [(37, 50), (64, 64), (17, 9)])
def test_tiny_generator_preserves_shape_and_backprops(name, hw):
    torch.manual_seed(0)
    net = build_generator(name, "tiny")
    x = torch.rand(2, 3, *hw, requires_grad=True)
    y = net(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["arcnn", "dcad", "dncnn", "cbdnet", "rbqe", "mprnet"])
def test_residual_nets_are_identity_when_last_conv_is_zero(name):
    """The fidelity nets that add the input (as the originals do) return it
    unchanged when the final conv is zeroed."""
    net = build_generator(name, "tiny")
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 3][-1]
    with torch.no_grad():
        last.weight.zero_()
        if last.bias is not None:
            last.bias.zero_()
    x = torch.rand(1, 3, 21, 30)
    torch.testing.assert_close(net(x), x)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_identity_start_returns_the_input_exactly(name):
    """training.generator_init: identity: every generator, built with identity_args, outputs its input."""
    torch.manual_seed(0)
    net = build_generator(name, "tiny", **identity_args(name))
    start_as_identity(net)
    x = torch.rand(1, 3, 21, 30)
    assert torch.equal(net(x), x)
    # the same parameters as the paper's network: only RDN and RRDBNet gain an input skip, no weights
    assert set(net.state_dict()) == set(build_generator(name, "tiny").state_dict())
    assert identity_args(name) == ({"global_skip": True} if name in ("rdn", "rrdbnet") else {})


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_near_identity_start_moves_the_output_a_little(name):
    """generator_init_scale > 0: the last layer is Kaiming-normal × scale (zero bias), so the output
    is the input plus a residual that shrinks with the scale (every layer gets a gradient at step 0)."""
    x = torch.rand(1, 3, 21, 30)
    gaps = []
    for scale in (0.3, 0.03):
        torch.manual_seed(0)
        net = build_generator(name, "tiny", **identity_args(name))
        start_as_identity(net, scale)
        bias = net.output_layer().bias
        assert bias is None or not bias.any()
        gaps.append(float((net(x) - x).abs().mean()))
    assert 0 < gaps[1] < gaps[0]


@pytest.mark.parametrize("name", ["rdn", "rrdbnet"])
def test_identity_start_needs_the_global_skip(name):
    with pytest.raises(ConfigError, match="has no global residual"):
        start_as_identity(build_generator(name, "tiny"))


# ---------------------------------------------------------------- paper parameter counts

def test_arcnn_paper_params():
    expected = conv(3, 64, 9) + conv(64, 32, 7) + conv(32, 16, 1) + conv(16, 3, 5)
    assert expected == 117_731
    assert count_parameters(build_generator("arcnn")) == expected


def test_dcad_paper_params_and_ten_convs():
    net = build_generator("dcad")
    expected = conv(3, 64, 3) + 8 * conv(64, 64, 3) + conv(64, 3, 3)
    assert expected == 298_947
    assert count_parameters(net) == expected
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 10


def test_dncnn_paper_params_no_bn():
    net = build_generator("dncnn")
    expected = conv(3, 64, 3) + 15 * conv(64, 64, 3) + conv(64, 3, 3)
    assert expected == 557_443
    assert count_parameters(net) == expected
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_cbdnet_paper_params():
    estimate = conv(3, 32, 3) + 3 * conv(32, 32, 3) + conv(32, 3, 3)
    # U-Net: in 6 ch, widths 64/128/256, 1/2/4 extra convs per level, add-skips
    inc = conv(6, 64, 3)
    enc = (conv(64, 128, 3) + 2 * conv(128, 128, 3)) + (conv(128, 256, 3) + 4 * conv(256, 256, 3))
    up = conv(128, 64, 3) + conv(256, 128, 3)  # transposed convs, same count formula
    dec = 2 * conv(64, 64, 3) + 3 * conv(128, 128, 3)
    outc = conv(64, 3, 3)
    expected = estimate + inc + enc + up + dec + outc
    assert expected == 3_944_710
    assert count_parameters(build_generator("cbdnet")) == expected


def rdn_params(c, blocks, layers, g, io=3):
    rdb = sum(conv(c + i * g, g, 3) for i in range(layers)) + conv(c + layers * g, c, 1)
    return conv(io, c, 3) + conv(c, c, 3) + blocks * rdb + conv(c * blocks, c, 1) + conv(c, c, 3) + conv(c, io, 3)


def test_rdn_paper_params():
    expected = rdn_params(32, 4, 4, 16)
    assert expected == 166_083
    assert count_parameters(build_generator("rdn")) == expected
    assert count_parameters(build_generator("rdn", "tiny")) == rdn_params(8, 2, 2, 8)


def rbqe_params(c, levels, io=3):
    total = conv(io, c, 3) + conv(c, c, 3)  # input convs
    total += levels * 3 * conv(c, c, 3)  # each Down: conv, strided conv, conv
    for i in range(levels):  # U-Net i has i + 1 up steps
        for j in range(i + 1):
            total += conv(c, c, 3) + conv(c * (2 + j), c, 3) + conv(c, c, 3)  # convT, fuse, conv
    return total + conv(c, io, 3)  # the last exit only


def test_rbqe_paper_params():
    expected = rbqe_params(32, 5)
    assert expected == 888_451
    assert count_parameters(build_generator("rbqe")) == expected


def mprnet_params(f, s, so, num_cab, r=4, io=3):
    def cab(c):
        return 2 * conv(c, c, 3, bias=False) + 2 * c * (c // r)

    widths = (f, f + s, f + 2 * s)
    encoder = 2 * sum(cab(c) for c in widths) + f * (f + s) + (f + s) * (f + 2 * s)
    csff = 2 * sum(c * c for c in widths)
    decoder = 2 * sum(cab(c) for c in widths) + cab(f) + cab(f + s) + (f + s) * f + (f + 2 * s) * (f + s)
    c3 = f + so
    orsnet = 3 * (num_cab * cab(c3) + conv(c3, c3, 3, bias=False))
    orsnet += 2 * (f + s) * f + 2 * ((f + 2 * s) * (f + s) + (f + s) * f) + 6 * f * c3
    shallow = 3 * (conv(io, f, 3, bias=False) + cab(f))
    sam = 2 * (f * f + f * io + io * f)
    joins = conv(2 * f, f, 3, bias=False) + conv(2 * f, c3, 3, bias=False) + conv(c3, io, 3, bias=False)
    prelu = 1  # one PReLU shared by every CAB
    return shallow + 2 * encoder + csff + 2 * decoder + orsnet + sam + joins + prelu


def test_mprnet_paper_params():
    expected = mprnet_params(16, 8, 8, 1)
    assert expected == 395_065
    assert count_parameters(build_generator("mprnet")) == expected
    assert count_parameters(build_generator("mprnet", "tiny")) == mprnet_params(8, 4, 4, 1)


def rrdbnet_params(nf, nb, gc, in_ch=48, io=3):
    rdb = sum(conv(nf + i * gc, gc, 3) for i in range(4)) + conv(nf + 4 * gc, nf, 3)
    # conv_first, trunk, conv_body + up1 + up2 + hr, conv_last
    return conv(in_ch, nf, 3) + nb * 3 * rdb + 4 * conv(nf, nf, 3) + conv(nf, io, 3)


def test_rrdbnet_paper_params_match_published_16_7m():
    n = count_parameters(build_generator("rrdbnet"))
    assert n == rrdbnet_params(64, 23, 32) == 16_723_907
    assert abs(n - 16.7e6) / 16.7e6 < 0.01
    # scale 4 (no unshuffle) is BasicSR's well-known 16,697,987
    assert count_parameters(build_generator("rrdbnet", scale=4)) == rrdbnet_params(64, 23, 32, in_ch=3) == 16_697_987


def test_rrdbnet_body_runs_at_quarter_resolution():
    net = build_generator("rrdbnet", "tiny")
    seen = {}
    net.body.register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    net(torch.rand(1, 3, 32, 48))
    assert seen["shape"] == (1, 16, 8, 12)
    assert net.conv_first.in_channels == 3 * 16


# ---------------------------------------------------------------- discriminators

def vgg_d_params(nf, in_ch, input_size):
    widths = [nf, 2 * nf, 4 * nf, 8 * nf, 8 * nf] + ([8 * nf] if input_size == 256 else [])
    total, cin = 0, in_ch
    for i, c in enumerate(widths):
        total += conv(cin, c, 3, bias=(i == 0)) + (0 if i == 0 else 2 * c)
        total += conv(c, c, 4, bias=False) + 2 * c
        cin = c
    return total + (widths[-1] * 16 * 100 + 100) + (100 + 1)


def unet_d_params(nf, in_ch):
    return (
        conv(in_ch, nf, 3) + conv(nf, 2 * nf, 4, False) + conv(2 * nf, 4 * nf, 4, False) + conv(4 * nf, 8 * nf, 4, False)
        + conv(8 * nf, 4 * nf, 3, False) + conv(4 * nf, 2 * nf, 3, False) + conv(2 * nf, nf, 3, False)
        + 2 * conv(nf, nf, 3, False) + conv(nf, 1, 3)
    )


@pytest.mark.parametrize("in_ch", [3, 6])
def test_discriminator_paper_params(in_ch):
    assert count_parameters(build_discriminator("vgg", in_ch)) == vgg_d_params(64, in_ch, 128)
    assert count_parameters(build_discriminator("vgg", in_ch, input_size=256)) == vgg_d_params(64, in_ch, 256)
    assert count_parameters(build_discriminator("unet", in_ch)) == unet_d_params(64, in_ch)
    assert vgg_d_params(64, 3, 128) == 14_499_401
    assert unet_d_params(64, 3) == 4_376_897


@pytest.mark.parametrize("kind", sorted(DISCRIMINATORS))
def test_conditional_discriminator_differs_only_in_first_conv(kind):
    plain = build_discriminator(kind, 3, "tiny")
    cond = build_discriminator(kind, 6, "tiny")
    nf = DISCRIMINATORS[kind].tiny["num_feat"]
    assert count_parameters(cond) - count_parameters(plain) == 3 * nf * 9
    p_shapes = {k: v.shape for k, v in plain.state_dict().items()}
    c_shapes = {k: v.shape for k, v in cond.state_dict().items()}
    assert p_shapes.keys() == c_shapes.keys()
    assert [k for k in p_shapes if p_shapes[k] != c_shapes[k]] == [next(iter(p_shapes))]


@pytest.mark.parametrize("in_ch", [3, 6])
@pytest.mark.parametrize("size", [128, 256])
def test_vgg_discriminator_output(in_ch, size):
    d = build_discriminator("vgg", in_ch, "tiny", input_size=size)
    out = d(torch.rand(2, in_ch, size, size))
    assert out.shape == (2, 1)
    with pytest.raises(ValueError, match=f"{size}x{size}"):
        d(torch.rand(2, in_ch, 64, 64))


@pytest.mark.parametrize("in_ch", [3, 6])
@pytest.mark.parametrize("hw", [(64, 64), (37, 50)])
def test_unet_discriminator_per_pixel_output(in_ch, hw):
    d = build_discriminator("unet", in_ch, "tiny")
    x = torch.rand(2, in_ch, *hw, requires_grad=True)
    out = d(x)
    assert out.shape == (2, 1, *hw)
    out.mean().backward()
    assert x.grad is not None
    # spectral norm (the parametrization) on conv1..8
    assert sum(1 for n, _ in d.named_parameters() if n.endswith("parametrizations.weight.original")) == 8


class _LegacyUNetSN(nn.Module):
    """UNetDiscriminatorSN's layers as the legacy ``torch.nn.utils.spectral_norm`` wrote them."""

    def __init__(self, in_ch, nf):
        super().__init__()
        sn = nn.utils.spectral_norm
        shapes = [(in_ch, nf, 3, 1), (nf, 2 * nf, 4, 2), (2 * nf, 4 * nf, 4, 2), (4 * nf, 8 * nf, 4, 2),
                  (8 * nf, 4 * nf, 3, 1), (4 * nf, 2 * nf, 3, 1), (2 * nf, nf, 3, 1), (nf, nf, 3, 1),
                  (nf, nf, 3, 1), (nf, 1, 3, 1)]
        for i, (ci, co, k, s) in enumerate(shapes):
            conv = nn.Conv2d(ci, co, k, s, 1, bias=i in (0, 9))
            setattr(self, f"conv{i}", sn(conv) if 0 < i < 9 else conv)


def test_unet_discriminator_loads_legacy_spectral_norm_checkpoint():
    torch.manual_seed(3)
    legacy = _LegacyUNetSN(6, 8)
    for i in range(1, 9):  # train-mode power iterations move u and v away from their init
        conv = getattr(legacy, f"conv{i}")
        for _ in range(3):
            conv(torch.rand(1, conv.in_channels, 16, 16))
    state = legacy.state_dict()
    assert "conv1.weight_orig" in state and "conv1.weight_u" in state and "conv1.weight_v" in state
    d = build_discriminator("unet", 6, "tiny")
    d.load_state_dict(state)  # strict: every key mapped, none left over
    for i in range(1, 9):
        conv, old = getattr(d, f"conv{i}"), getattr(legacy, f"conv{i}")
        assert torch.equal(conv.parametrizations.weight.original, old.weight_orig)
        assert torch.equal(conv.parametrizations.weight[0]._u, old.weight_u)
        assert torch.equal(conv.parametrizations.weight[0]._v, old.weight_v)
    d.eval()
    legacy.eval()
    for i in range(1, 9):  # eval: sigma = u . (W v) from the stored vectors, no iteration
        conv, old = getattr(d, f"conv{i}"), getattr(legacy, f"conv{i}")
        torch.testing.assert_close(conv.weight, old.weight, rtol=1e-6, atol=1e-7)


def test_spectral_norm_power_iteration_stays_fp32_under_bf16_autocast():
    d = build_discriminator("unet", 3, "tiny")
    conv = d.conv2
    w = conv.parametrizations.weight.original.detach().flatten(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        wn = conv.weight
    assert wn.dtype == torch.float32 and conv.parametrizations.weight[0]._u.dtype == torch.float32
    u, v = conv.parametrizations.weight[0]._u, conv.parametrizations.weight[0]._v
    sigma = torch.dot(u, w @ v)  # the float32 sigma the parametrization must have divided by
    torch.testing.assert_close(wn, conv.parametrizations.weight.original / sigma, rtol=1e-6, atol=0)


# ---------------------------------------------------------------- registry

def test_registry_entries_are_complete():
    assert sorted(GENERATORS) == ["arcnn", "cbdnet", "dcad", "dncnn", "mprnet", "rbqe", "rdn", "rrdbnet"]
    for name, entry in GENERATORS.items():
        assert entry.citation.title and entry.citation.venue and 2010 < entry.citation.year < 2025
        assert count_parameters(build_generator(name, "tiny")) < count_parameters(build_generator(name, "paper"))


def test_unknown_names_raise_config_error():
    with pytest.raises(ConfigError, match="unknown generator 'edsr'.*arcnn.*rrdbnet"):
        build_generator("edsr")
    with pytest.raises(ConfigError, match="size"):
        build_generator("arcnn", "huge")
    with pytest.raises(ConfigError, match="unknown argument.*width"):
        build_generator("dcad", width=3)
    with pytest.raises(ConfigError, match="unknown discriminator 'patch'.*vgg.*unet"):
        build_discriminator("patch")
    with pytest.raises(ConfigError, match="128 or 256"):
        build_discriminator("vgg", input_size=96)


def test_overrides_apply():
    assert count_parameters(build_generator("dcad", "tiny", num_blocks=3)) == conv(3, 16, 3) + 3 * conv(16, 16, 3) + conv(16, 3, 3)


# ---------------------------------------------------------------- no inference overhead

def conv_flops(cin, cout, k, h, w):
    return 2 * cin * cout * k * k * h * w


def test_debiased_and_vanilla_generators_cost_the_same():
    """Debiasing changes only training (conditional D, regulariser): the
    generator of esrgan and esrgan_debias is the same class with the same
    kwargs, so parameters and forward FLOPs are identical."""
    torch.manual_seed(0)
    vanilla = build_generator("rrdbnet", "tiny")
    debiased = build_generator("rrdbnet", "tiny")
    assert type(vanilla) is type(debiased)
    assert count_parameters(vanilla) == count_parameters(debiased) == rrdbnet_params(16, 1, 8)

    x = torch.rand(1, 3, 64, 64)
    flops = []
    for net in (vanilla, debiased):
        with FlopCounterMode(display=False) as fc:
            net(x)
        flops.append(fc.get_total_flops())
    nf, gc = 16, 8
    expected = conv_flops(48, nf, 3, 16, 16)
    expected += 3 * (sum(conv_flops(nf + i * gc, gc, 3, 16, 16) for i in range(4)) + conv_flops(nf + 4 * gc, nf, 3, 16, 16))
    expected += conv_flops(nf, nf, 3, 16, 16)  # conv_body
    expected += conv_flops(nf, nf, 3, 32, 32) + 2 * conv_flops(nf, nf, 3, 64, 64)  # up1, up2, hr
    expected += conv_flops(nf, 3, 3, 64, 64)
    assert flops[0] == flops[1] == expected

    # the conditional discriminator exists only at training time and its
    # extra cost is the first conv's three extra input channels
    d3 = build_discriminator("unet", 3, "tiny")
    d6 = build_discriminator("unet", 6, "tiny")
    f = []
    for d, c in ((d3, 3), (d6, 6)):
        with FlopCounterMode(display=False) as fc:
            d(torch.rand(1, c, 64, 64))
        f.append(fc.get_total_flops())
    assert f[1] - f[0] == conv_flops(3, 8, 3, 64, 64)


# ---------------------------------------------------------------- docs/networks.md

def test_networks_doc_table_is_current():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "count_params.py"
    spec = importlib.util.spec_from_file_location("count_params", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.doc_table(mod.DOC.read_text()) == mod.table(), "run python benchmarks/count_params.py --write"
