"""Extract the HEVC elementary stream from a single-image HEIF file.

A .bpg file is a few header bytes plus the HEVC bitstream; a HEIF file wraps
the same bitstream in ~400 bytes of ISOBMFF boxes (ftyp, meta, iinf, iloc,
iprp...). To report the rate a .bpg file would have, we count the HEVC
Annex-B stream: the parameter sets from the ``hvcC`` box and the slice NAL
units from ``mdat``, each preceded by a 4-byte start code. BPG replaces the
VPS/SPS by a more compact header of its own, so this count is within a few
tens of bytes of a real .bpg file of the same picture.
"""

from __future__ import annotations

import struct
from typing import Iterator

START_CODE = b"\x00\x00\x00\x01"
_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0}  # payload offset (meta is a FullBox)


class HeifParseError(ValueError):
    pass


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, payload_end) of the boxes in buf[start:end]."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise HeifParseError("truncated box header")
        size, kind = struct.unpack(">I4s", buf[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", buf[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise HeifParseError(f"box {kind!r} overruns its parent")
        yield kind, pos + header, pos + size
        pos += size


def _find(buf: bytes, start: int, end: int, path: list[bytes]) -> list[tuple[int, int]]:
    found = []
    for kind, ps, pe in _boxes(buf, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            found.append((ps, pe))
        else:
            found.extend(_find(buf, ps + _CONTAINERS.get(kind, 0), pe, path[1:]))
    return found


def _hvcc_nal_units(buf: bytes, ps: int, pe: int) -> list[bytes]:
    """NAL units of the parameter-set arrays of an HEVCDecoderConfigurationRecord."""
    rec = buf[ps:pe]
    if len(rec) < 23:
        raise HeifParseError("hvcC record too short")
    pos, nals = 23, []
    for _ in range(rec[22]):  # numOfArrays
        count = struct.unpack(">H", rec[pos + 1 : pos + 3])[0]
        pos += 3
        for _ in range(count):
            n = struct.unpack(">H", rec[pos : pos + 2])[0]
            nals.append(rec[pos + 2 : pos + 2 + n])
            pos += 2 + n
    return nals


def _length_prefixed(data: bytes, length_size: int) -> list[bytes]:
    pos, nals = 0, []
    while pos < len(data):
        if pos + length_size > len(data):
            raise HeifParseError("truncated NAL length")
        n = int.from_bytes(data[pos : pos + length_size], "big")
        if n == 0 or pos + length_size + n > len(data):
            raise HeifParseError("NAL unit overruns mdat")
        nals.append(data[pos + length_size : pos + length_size + n])
        pos += length_size + n
    return nals


def hevc_annexb(heif: bytes) -> bytes:
    """The Annex-B HEVC stream (parameter sets + slices) of a one-picture HEIF."""
    hvcc = _find(heif, 0, len(heif), [b"meta", b"iprp", b"ipco", b"hvcC"])
    mdat = _find(heif, 0, len(heif), [b"mdat"])
    if len(hvcc) != 1 or len(mdat) != 1:
        raise HeifParseError(f"expected one hvcC and one mdat, found {len(hvcc)} and {len(mdat)}")
    ps, pe = hvcc[0]
    length_size = (heif[ps + 21] & 0x3) + 1
    nals = _hvcc_nal_units(heif, ps, pe) + _length_prefixed(heif[mdat[0][0] : mdat[0][1]], length_size)
    return b"".join(START_CODE + n for n in nals)
