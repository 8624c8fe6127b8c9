"""BPG (HEVC intra) with the paper's QP meaning.

The authors used libbpg's ``bpgenc -q QP`` built with the HM (JCTVC)
encoder, which codes the picture at the QP asked. Two backends:

``bpgenc``
    libbpg's own tools, run as argument lists: ``bpgenc -o out.bpg -q QP
    [-e jctvc] in.png`` and ``bpgdec -o out.png in.bpg``. Stock libbpg uses
    x265, whose constant-QP mode codes intra pictures about 3 QP finer
    (ipratio 1.4) unless it was built with ``USE_JCTVC=y`` and run with
    ``-e jctvc``; set ``jctvc: true`` to pass that flag.
``libheif``
    pillow-heif's libheif + x265 with bpgenc's settings as far as libheif
    allows: fixed QP with ``ipratio 1`` (so the intra picture is coded at
    the QP asked, as HM does), 4:2:0, 8 bit, BT.601 full-range YCbCr,
    preset veryslow, tune ssim, psycho-visual RD off, one picture (no grid
    tiles). The file written is a .heic; the rate counts the HEVC payload
    only (``heif_payload.py``), which is what a .bpg file carries.

``auto`` must not change what a QP means: it takes bpgenc only when it is
on PATH *and* configured for the HM encoder (``jctvc: true``), else libheif
(stock bpgenc's x265 would code about 3 QP finer than the paper's HM). The
reason for the choice is kept in ``backend_reason`` (and the provenance).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ...core.errors import ConfigError, DebiasqeError, ToolMissingError
from .base import Codec, Encoded, register_codec
from .heif_payload import hevc_annexb

BACKENDS = ("auto", "bpgenc", "libheif")

# The one place the libheif substitute's x265 settings live. Tuned toward the
# authors' encoder (libbpg 0.9.8, HM via -e jctvc) on the reference table
# ../shared/reference/bpgenc_jctvc_reference.csv with benchmarks/bpg_x265_tuning.py:
# BD-rate +5.99 % -> +2.68 %, mean PSNR gap at equal QP 0.38 dB -> 0.04 dB
# (table per QP in benchmarks/README.md). The luma QP is always the QP asked.
X265_PARAMS = {
    "preset": "veryslow",       # bpgenc's x265 preset (x265_glue.c): the most thorough RD search
    "tune": "ssim",             # bpgenc's x265 tune; with the two psy lines and aq-mode below it
                                # codes the same as tune psnr (measured identical)
    "x265:psy-rd": "0",         # HM has no psycho-visual RD: plain SSE-based decisions
    "x265:psy-rdoq": "0",       # likewise for RDOQ
    "x265:ipratio": "1",        # intra picture at the QP asked, as HM (x265's 1.4 codes ~3 QP finer)
    "x265:aq-mode": "0",        # HM's fixed QP: no adaptive quantisation across CTUs
    "x265:tskip": "1",          # transform skip for 4x4 TUs, on in HM's intra configurations
                                # (-0.1 % BD-rate here)
    "x265:cbqpoffs": "-5",      # chroma QP offsets (luma QP unchanged): most of the gap was in
    "x265:crqpoffs": "-5",      # the chroma of this path (presumably libheif's 4:2:0 resampling,
                                # which x265 cannot change, not measured apart); -5 on both:
                                # +6.0 % -> +2.75 % BD-rate, 0.38 -> -0.03 dB (-4: +2.87 %,
                                # +0.05 dB; -6: +2.80 %, -0.11 dB; RDOQ, SAO, deblocking, TU
                                # depth, rect/AMP, CTU 32 did not help, see the benchmark)
}


@register_codec
class BpgCodec(Codec):
    name = "bpg"
    level_name = "QP"
    level_range = (0, 51)

    def __init__(self, backend: str = "auto", bpgenc: str = "bpgenc", bpgdec: str = "bpgdec",
                 jctvc: bool = False):
        if backend not in BACKENDS:
            raise ConfigError(f"codecs.bpg.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
        self._bpgenc = shutil.which(bpgenc)
        self._bpgdec = shutil.which(bpgdec)
        if backend == "bpgenc" and not (self._bpgenc and self._bpgdec):
            missing = bpgenc if not self._bpgenc else bpgdec
            raise ToolMissingError(
                f"codecs.bpg.backend is 'bpgenc' but {missing!r} is not on PATH; install libbpg "
                "(https://bellard.org/bpg/) or set codecs.bpg.backend to 'libheif' or 'auto'"
            )
        self.backend_reason = f"backend: {backend} (configured)"
        if backend == "auto":
            tools = bool(self._bpgenc and self._bpgdec)
            if tools and jctvc:
                backend, why = "bpgenc", "bpgenc/bpgdec on PATH and jctvc: true (HM encoder, the paper's QP)"
            elif tools:
                backend, why = "libheif", ("bpgenc is on PATH but jctvc is false: stock bpgenc's x265 codes "
                                           "intra pictures about 3 QP below HM's, so libheif (x265 at the QP "
                                           "asked, ipratio 1) keeps the paper's QP; set jctvc: true for an "
                                           "HM build of libbpg")
            else:
                backend, why = "libheif", "bpgenc/bpgdec not on PATH"
            self.backend_reason = f"backend: auto -> {backend}: {why}"
        self.backend = backend
        self.jctvc = jctvc
        self.extension = "bpg" if backend == "bpgenc" else "heic"

    # -- encode -----------------------------------------------------------
    def _encode(self, rgb: np.ndarray, level: int) -> Encoded:
        if self.backend == "bpgenc":
            return self._encode_bpgenc(rgb, level)
        return self._encode_libheif(rgb, level)

    def _encode_libheif(self, rgb: np.ndarray, level: int) -> Encoded:
        return encode_libheif(rgb, level)

    def _encode_bpgenc(self, rgb: np.ndarray, level: int) -> Encoded:
        with tempfile.TemporaryDirectory(prefix="debiasqe-bpg-") as tmp:
            src, out = Path(tmp, "in.png"), Path(tmp, "out.bpg")
            Image.fromarray(rgb, "RGB").save(src)
            cmd = [self._bpgenc, "-o", str(out), "-q", str(level)]
            if self.jctvc:
                cmd += ["-e", "jctvc"]
            _run(cmd + [str(src)])
            data = out.read_bytes()
        return Encoded(data, len(data))

    # -- decode -----------------------------------------------------------
    def decode(self, data: bytes) -> np.ndarray:
        if self.backend == "bpgenc":
            with tempfile.TemporaryDirectory(prefix="debiasqe-bpg-") as tmp:
                src, out = Path(tmp, "in.bpg"), Path(tmp, "out.png")
                src.write_bytes(data)
                _run([self._bpgdec, "-o", str(out), str(src)])
                with Image.open(out) as im:
                    return np.asarray(im.convert("RGB"))
        import pillow_heif  # lazy: the codec registry loads with every command; only libheif needs it

        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        return np.asarray(heif[0]).copy()

    def describe(self) -> str:
        if self.backend == "bpgenc":
            enc = "HM (jctvc)" if self.jctvc else "default encoder"
            return f"bpgenc ({self._bpgenc}, {enc})"
        import pillow_heif  # lazy: as in decode

        info = pillow_heif.libheif_info()
        return (f"libheif {info.get('libheif')} with {info.get('HEIF')} via pillow-heif "
                f"{pillow_heif.__version__} (x265 ipratio 1, rate = HEVC payload)")


#: seconds one bpgenc/bpgdec call may take (HM at jctvc on a 2K image takes about a minute)
TOOL_TIMEOUT_S = 900.0


def encode_libheif(rgb: np.ndarray, level: int, params: dict | None = None) -> Encoded:
    """HEVC intra at QP ``level`` through pillow-heif / x265 with ``params`` (default
    ``X265_PARAMS``); the rate counts the HEVC payload only."""
    import pillow_heif  # lazy: as in BPG.decode

    h, w = rgb.shape[:2]
    heif = pillow_heif.from_bytes(mode="RGB", size=(w, h), data=np.ascontiguousarray(rgb).tobytes())
    buf = io.BytesIO()
    heif.save(
        buf, format="HEIF", chroma=420, tile_size=0,
        enc_params={**(X265_PARAMS if params is None else params), "x265:qp": str(level)},
        # BT.601 matrix, full range, as bpgenc's default YCbCr.
        matrix_coefficients=6, full_range_flag=1, color_primaries=1, transfer_characteristics=13,
    )
    data = buf.getvalue()
    return Encoded(data, len(hevc_annexb(data)))


def _run(cmd: list[str]) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise DebiasqeError(f"{Path(cmd[0]).name} did not finish within {TOOL_TIMEOUT_S:g} s; killed "
                            "(a hung encoder, or one far slower than expected)") from None
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {msg[-1] if msg else ''}")
