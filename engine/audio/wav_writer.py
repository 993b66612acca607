"""A small streaming WAV/BWF writer.

libsndfile places `bext`/`iXML` wherever it likes (or drops them); DAWs and conform tools expect
them before `data`, and expect the RF64 `ds64` chunk to be the first chunk after `WAVE`. Writing
the header ourselves keeps the layout under our control:

    RIFF/RF64 . WAVE . JUNK|ds64 (28 bytes) . fmt . bext . iXML . data

The 28-byte JUNK reservation becomes `ds64` (and RIFF becomes RF64) on close only when the file
outgrew what 32-bit RIFF sizes can express, so ordinary files stay plain WAV.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import numpy as np

from engine.audio.pcm import BITS, FLOAT_SUBTYPES, encode_wav

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

_GUID_TAIL = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_* after Data1
_DS64_PAYLOAD_BYTES = 28
_MAX_RIFF_SIZE = 0xFFFFFFFF
_RESERVED_IDS = frozenset({"RIFF", "RF64", "WAVE", "fmt ", "data", "ds64", "JUNK", "fact"})

# Conventional speaker masks (Microsoft / SMPTE order); other counts stay unassigned (0), which
# is right for poly-WAV iso tracks from location recorders.
_CHANNEL_MASKS: dict[int, int] = {
    1: 0x4,  # FC
    2: 0x3,  # FL FR
    4: 0x33,  # FL FR BL BR
    6: 0x3F,  # 5.1: FL FR FC LFE BL BR
    8: 0x63F,  # 7.1: FL FR FC LFE BL BR SL SR
}


def channel_mask(channels: int) -> int:
    """Speaker mask for WAVE_FORMAT_EXTENSIBLE; 0 means 'no speaker assignment'."""
    return _CHANNEL_MASKS.get(channels, 0)


def fmt_payload(subtype: str, channels: int, sample_rate_hz: int, extensible: bool | None = None) -> bytes:
    """The `fmt ` chunk payload: the plainest format tag readers accept, or, when `extensible`
    is given, the input's own choice (8-bit always stays plain: libsndfile refuses it extended)."""
    bits = BITS[subtype]
    block_align = channels * bits // 8
    byte_rate = sample_rate_hz * block_align
    is_float = subtype in FLOAT_SUBTYPES
    common = struct.pack("<HIIHH", channels, sample_rate_hz, byte_rate, block_align, bits)
    # 8-bit stays plain PCM at any channel count: libsndfile refuses 8-bit WAVE_FORMAT_EXTENSIBLE.
    if extensible is None:
        extensible = channels > 2 or bits > 16 and not is_float
    if not is_float and (bits == 8 or not extensible):
        return struct.pack("<H", WAVE_FORMAT_PCM) + common
    if is_float and not extensible:
        return struct.pack("<H", WAVE_FORMAT_IEEE_FLOAT) + common + struct.pack("<H", 0)
    sub_tag = WAVE_FORMAT_IEEE_FLOAT if is_float else WAVE_FORMAT_PCM
    guid = struct.pack("<I", sub_tag) + _GUID_TAIL
    ext = struct.pack("<HHI", 22, bits, channel_mask(channels)) + guid
    return struct.pack("<H", WAVE_FORMAT_EXTENSIBLE) + common + ext


def _chunk(chunk_id: str, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) & 1 else b""
    return chunk_id.encode("ascii") + struct.pack("<I", len(payload)) + payload + pad


def ordered_chunks(chunks: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """bext first, then iXML, then anything else, so DAWs find the metadata they expect early."""
    for cid in chunks:
        if len(cid) != 4 or not cid.isascii() or cid in _RESERVED_IDS:
            raise ValueError(f"cannot write chunk id {cid!r}")
    order = {"bext": 0, "iXML": 1}
    return sorted(chunks.items(), key=lambda kv: order.get(kv[0], 2))


class WavStreamWriter:
    """Streams frames into an already-open binary file and patches sizes in `finish()`."""

    def __init__(
        self,
        f: BinaryIO,
        sample_rate_hz: int,
        channels: int,
        subtype: str,
        chunks: dict[str, bytes] | None = None,
        force_rf64: bool = False,
        even_chunks: bool = False,
        extensible: bool | None = None,
    ) -> None:
        """`even_chunks` NUL-extends odd metadata payloads instead of relying on a pad byte:
        libsndfile 1.2.2 ignores RIFF pad bytes in RF64 files and then cannot find `data`."""
        if subtype not in BITS or subtype == "PCM_S8":
            raise ValueError(f"WAV cannot hold subtype {subtype!r}")
        self._f = f
        self._channels = channels
        self._subtype = subtype
        self._frame_bytes = channels * BITS[subtype] // 8
        self._force_rf64 = force_rf64
        self._data_bytes = 0
        header = bytearray(b"RIFF\x00\x00\x00\x00WAVE")
        self._junk_offset = len(header)
        header += _chunk("JUNK", bytes(_DS64_PAYLOAD_BYTES))
        header += _chunk("fmt ", fmt_payload(subtype, channels, sample_rate_hz, extensible))
        for cid, payload in ordered_chunks(chunks or {}):
            if even_chunks and len(payload) & 1:
                payload = payload + b"\x00"
            header += _chunk(cid, payload)
        self._data_size_offset = len(header) + 4
        header += b"data\x00\x00\x00\x00"
        self._data_offset = len(header)
        f.write(header)

    @property
    def frames(self) -> int:
        return self._data_bytes // self._frame_bytes

    def write(self, block: np.ndarray) -> None:
        """Append (frames, channels) float samples."""
        data = encode_wav(block, self._subtype)
        self._f.write(data)
        self._data_bytes += len(data)

    def finish(self) -> None:
        """Pad, then patch RIFF/data sizes (or promote to RF64) now that the length is known."""
        if self._data_bytes & 1:
            self._f.write(b"\x00")
        end = self._data_offset + self._data_bytes + (self._data_bytes & 1)
        riff_size = end - 8
        f = self._f
        if self._force_rf64 or riff_size > _MAX_RIFF_SIZE:
            f.seek(0)
            f.write(b"RF64" + struct.pack("<I", 0xFFFFFFFF))
            f.seek(self._junk_offset)
            ds64 = struct.pack("<QQQI", riff_size, self._data_bytes, self.frames, 0)
            f.write(b"ds64" + struct.pack("<I", _DS64_PAYLOAD_BYTES) + ds64)
            f.seek(self._data_size_offset)
            f.write(struct.pack("<I", 0xFFFFFFFF))
        else:
            f.seek(4)
            f.write(struct.pack("<I", riff_size))
            f.seek(self._data_size_offset)
            f.write(struct.pack("<I", self._data_bytes))
        f.seek(end)
