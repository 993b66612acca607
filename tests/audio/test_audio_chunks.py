"""BWF metadata (bext, iXML) survives from input to output, byte for byte."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from engine.audio import AudioWriter, probe, read_audio, read_chunks, write_audio

BEXT = (b"Scene 12 take 3".ljust(256, b"\0") + b"Roomtone test".ljust(32, b"\0") + bytes(314) + b"A=PCM,F=48000\r\n")[
    :603
]  # odd length on purpose: the chunk needs a pad byte
IXML = b'<?xml version="1.0" encoding="UTF-8"?><BWFXML><SCENE>12</SCENE><TAKE>3</TAKE></BWFXML>\n'


def chunk(cid: bytes, payload: bytes) -> bytes:
    return cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def pcm16_fmt(channels: int, rate_hz: int) -> bytes:
    return struct.pack("<HHIIHH", 1, channels, rate_hz, rate_hz * channels * 2, channels * 2, 16)


def handmade_bwf(path: Path, samples: np.ndarray, rate_hz: int, ixml_after_data: bool = False) -> None:
    """A BWF built with struct alone, as a field recorder would lay it out (plus odd LIST padding)."""
    data = samples.astype("<i2").tobytes()
    body = chunk(b"fmt ", pcm16_fmt(samples.shape[1], rate_hz)) + chunk(b"LIST", b"INFOodd")
    body += chunk(b"bext", BEXT)
    if not ixml_after_data:
        body += chunk(b"iXML", IXML)
    body += chunk(b"data", data)
    if ixml_after_data:
        body += chunk(b"iXML", IXML)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)


def handmade_rf64(path: Path, samples: np.ndarray, rate_hz: int, bext: bytes, ixml: bytes) -> None:
    data = samples.astype("<i2").tobytes()
    rest = chunk(b"fmt ", pcm16_fmt(samples.shape[1], rate_hz)) + chunk(b"bext", bext) + chunk(b"iXML", ixml)
    rest += b"data" + struct.pack("<I", 0xFFFFFFFF) + data
    total = 4 + 36 + len(rest)
    ds64 = chunk(b"ds64", struct.pack("<QQQI", total, len(data), samples.shape[0], 0))
    path.write_bytes(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + ds64 + rest)


def chunk_order(path: Path) -> list[str]:
    raw, pos, order = path.read_bytes(), 12, []
    while pos + 8 <= len(raw):
        cid, size = struct.unpack("<4sI", raw[pos : pos + 8])
        order.append(cid.decode())
        pos += 8 + size + (size & 1)
    return order


@pytest.fixture
def samples() -> np.ndarray:
    return np.random.default_rng(3).integers(-32768, 32767, (1234, 2)).astype(np.int16)


@pytest.mark.parametrize("ixml_after_data", [False, True])
def test_handmade_bwf_chunks_are_copied_byte_identical(tmp_path: Path, samples: np.ndarray, ixml_after_data: bool) -> None:
    src = tmp_path / "field.wav"
    handmade_bwf(src, samples, 48000, ixml_after_data=ixml_after_data)
    assert read_chunks(src) == {"bext": BEXT, "iXML": IXML}
    info = probe(src)
    assert info.chunks == {"bext": BEXT, "iXML": IXML}
    assert (info.frames, info.channels, info.subtype) == (1234, 2, "PCM_16")

    x, sr = read_audio(src)
    np.testing.assert_array_equal(x, samples / 32768.0)
    dst = tmp_path / "out.wav"
    write_audio(dst, x, sr, like=info)
    assert read_chunks(dst) == {"bext": BEXT, "iXML": IXML}
    assert chunk_order(dst) == ["JUNK", "fmt ", "bext", "iXML", "data"]
    assert probe(dst).subtype == "PCM_16"
    np.testing.assert_array_equal(read_audio(dst)[0], x)


def test_writer_explicit_chunks_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "bwf.wav"
    with AudioWriter(path, sample_rate_hz=48000, channels=1, subtype="PCM_24", chunks={"iXML": IXML, "bext": BEXT}) as w:
        w.write(np.zeros((11, 1), np.float32))
    assert chunk_order(path) == ["JUNK", "fmt ", "bext", "iXML", "data"]
    assert read_chunks(path) == {"bext": BEXT, "iXML": IXML}
    copy = tmp_path / "copy.wav"
    with AudioWriter(copy, like=probe(path)) as w:
        w.write(np.zeros((5, 1), np.float32))
    header_bytes = path.read_bytes().index(b"data")
    assert copy.read_bytes()[8:header_bytes] == path.read_bytes()[8:header_bytes]


BEXT_EVEN = BEXT + b"\0"
IXML_EVEN = IXML + b" " if len(IXML) % 2 else IXML


def test_handmade_rf64_ds64_sizes(tmp_path: Path, samples: np.ndarray) -> None:
    src = tmp_path / "big.wav"
    handmade_rf64(src, samples, 96000, bext=BEXT_EVEN, ixml=IXML_EVEN)
    assert read_chunks(src) == {"bext": BEXT_EVEN, "iXML": IXML_EVEN}
    info = probe(src)
    assert (info.container, info.frames, info.sample_rate_hz) == ("RF64", 1234, 96000)
    np.testing.assert_array_equal(read_audio(src)[0], samples / 32768.0)
    dst = tmp_path / "big_out.wav"
    write_audio(dst, read_audio(src)[0], 96000, like=info)
    assert probe(dst).container == "RF64"
    assert read_chunks(dst) == {"bext": BEXT_EVEN, "iXML": IXML_EVEN}


def test_rf64_odd_chunks_parse_and_output_stays_readable(tmp_path: Path, samples: np.ndarray) -> None:
    """Our parser honours pad bytes in RF64; libsndfile 1.2.2 does not, so RF64 outputs NUL-extend
    odd payloads (a harmless trailing NUL) to stay readable by it."""
    src = tmp_path / "odd.wav"
    assert len(BEXT) % 2 == 1
    handmade_rf64(src, samples, 48000, bext=BEXT, ixml=IXML_EVEN)
    assert read_chunks(src) == {"bext": BEXT, "iXML": IXML_EVEN}
    dst = tmp_path / "odd_out.wav"
    with AudioWriter(dst, sample_rate_hz=48000, channels=2, container="RF64", chunks=read_chunks(src)) as w:
        w.write(samples / 32768.0)
    assert read_chunks(dst) == {"bext": BEXT + b"\0", "iXML": IXML_EVEN}
    assert probe(dst).frames == 1234


def test_non_wav_containers_have_no_chunks(tmp_path: Path, samples: np.ndarray) -> None:
    src = tmp_path / "field.wav"
    handmade_bwf(src, samples, 48000)
    flac = tmp_path / "out.flac"
    write_audio(flac, read_audio(src)[0], 48000, like=probe(src))  # chunks cannot travel; audio does
    assert read_chunks(flac) == {} and probe(flac).chunks == {}
    with pytest.raises(ValueError):
        AudioWriter(tmp_path / "x.flac", sample_rate_hz=48000, channels=1, chunks={"bext": BEXT})
