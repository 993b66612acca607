"""Write -> read round trips: every container/subtype we promise, at awkward sizes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio import AudioWriter, probe, read_audio, write_audio

BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
CASES = [
    ("WAV", "wav", "PCM_U8"),
    ("WAV", "wav", "PCM_16"),
    ("WAV", "wav", "PCM_24"),
    ("WAV", "wav", "PCM_32"),
    ("WAV", "wav", "FLOAT"),
    ("WAV", "wav", "DOUBLE"),
    ("AIFF", "aif", "PCM_16"),
    ("AIFF", "aif", "PCM_24"),
    ("FLAC", "flac", "PCM_16"),
    ("FLAC", "flac", "PCM_24"),
]
FRAMES = 1001  # odd, so 8/24-bit mono data chunks need a pad byte


def grid_signal(subtype: str, frames: int, channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Float32 samples that lie exactly on the subtype's integer grid, plus those integers."""
    rng = np.random.default_rng(seed)
    if subtype in ("FLOAT", "DOUBLE"):
        x = rng.uniform(-1.0, 1.0, (frames, channels)).astype(np.float32)
        x[0, 0] = 1.5  # float files may exceed full scale and must keep it
        return x, None
    bits = BITS[subtype]
    full = 1 << (bits - 1)
    k = rng.integers(-full, full, (frames, channels), dtype=np.int64)
    k[0, :] = -full
    k[1, :] = full - 1
    if bits == 32:
        k = (k >> 8) << 8  # float32 holds 24 significant bits
    return (k / full).astype(np.float32), k


@pytest.mark.parametrize("rate_hz", [16000, 48000, 192000])
@pytest.mark.parametrize("channels", [1, 2, 8])
@pytest.mark.parametrize("container,ext,subtype", CASES)
def test_round_trip(tmp_path: Path, container: str, ext: str, subtype: str, channels: int, rate_hz: int) -> None:
    x, k = grid_signal(subtype, FRAMES, channels)
    path = tmp_path / f"take.{ext}"
    with AudioWriter(path, sample_rate_hz=rate_hz, channels=channels, subtype=subtype) as w:
        w.write(x[:300])
        w.write(x[300:300])  # empty block is harmless
        w.write(x[300:])

    info = probe(path)
    assert (info.container, info.subtype) == (container, subtype)
    assert (info.sample_rate_hz, info.channels, info.frames) == (rate_hz, channels, FRAMES)
    y, sr = read_audio(path)
    assert sr == rate_hz
    assert y.dtype == np.float32 and y.shape == (FRAMES, channels)
    np.testing.assert_array_equal(y, x)

    # An independent integer view through libsndfile confirms the encoding itself.
    if k is not None:
        ints, _ = sf.read(str(path), dtype="int32", always_2d=True)
        np.testing.assert_array_equal(ints.astype(np.int64), k << (32 - BITS[subtype]))


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32"])
def test_rewrite_of_foreign_file_is_bit_identical(tmp_path: Path, subtype: str) -> None:
    """A file written by libsndfile, read and re-written by us, keeps every integer sample."""
    rng = np.random.default_rng(1)
    ints = rng.integers(-(2**31), 2**31 - 1, (2000, 2), dtype=np.int64).astype(np.int32)
    src = tmp_path / "src.wav"
    sf.write(str(src), ints, 48000, subtype=subtype)
    y, sr = read_audio(src)
    dst = tmp_path / "dst.wav"
    write_audio(dst, y, sr, like=probe(src))
    assert probe(dst).subtype == subtype
    a, _ = sf.read(str(src), dtype="int32", always_2d=True)
    b, _ = sf.read(str(dst), dtype="int32", always_2d=True)
    if subtype == "PCM_32":  # float32 carries 24 bits: within half a float32 step of the original
        assert np.abs(a.astype(np.int64) - b).max() <= 128
    else:
        np.testing.assert_array_equal(a, b)


def test_integer_output_clips_instead_of_wrapping(tmp_path: Path) -> None:
    x = np.array([[1.0], [2.0], [-1.0], [-3.0], [0.49999 / 32768]], dtype=np.float32)
    path = tmp_path / "clip.wav"
    write_audio(path, x, 48000, subtype="PCM_16")
    ints, _ = sf.read(str(path), dtype="int16", always_2d=True)
    assert ints[:, 0].tolist() == [32767, 32767, -32768, -32768, 0]


def _fmt_fields(path: Path) -> dict:
    raw = path.read_bytes()
    order, pos, fields = [], 12, {}
    while pos + 8 <= len(raw):
        cid, size = struct.unpack("<4sI", raw[pos : pos + 8])
        order.append(cid.decode())
        if cid == b"fmt ":
            payload = raw[pos + 8 : pos + 8 + size]
            fields["tag"] = struct.unpack("<H", payload[:2])[0]
            fields["size"] = size
            if size >= 40:
                fields["mask"] = struct.unpack("<I", payload[20:24])[0]
        pos += 8 + size + (size & 1)
    fields["order"] = order
    fields["head"] = raw[:4]
    fields["riff_size"] = struct.unpack("<I", raw[4:8])[0]
    fields["file_size"] = len(raw)
    return fields


@pytest.mark.parametrize(
    "subtype,channels,tag,mask",
    [
        ("PCM_16", 2, 0x0001, None),
        ("PCM_U8", 8, 0x0001, None),
        ("FLOAT", 1, 0x0003, None),
        ("DOUBLE", 2, 0x0003, None),
        ("PCM_24", 2, 0xFFFE, 0x3),
        ("PCM_16", 8, 0xFFFE, 0x63F),
        ("FLOAT", 6, 0xFFFE, 0x3F),
        ("PCM_24", 3, 0xFFFE, 0),
    ],
)
def test_wav_format_tag_and_layout(tmp_path: Path, subtype: str, channels: int, tag: int, mask: int | None) -> None:
    path = tmp_path / "fmt.wav"
    write_audio(path, np.zeros((7, channels), np.float32), 48000, subtype=subtype)
    f = _fmt_fields(path)
    assert f["tag"] == tag
    assert f.get("mask") == mask
    assert f["order"] == ["JUNK", "fmt ", "data"]
    assert f["head"] == b"RIFF" and f["riff_size"] == f["file_size"] - 8
    assert f["file_size"] % 2 == 0  # odd data chunk got its pad byte


def test_forced_rf64_has_ds64_first_and_reads_back(tmp_path: Path) -> None:
    x, _ = grid_signal("PCM_24", 999, 2)
    path = tmp_path / "long.wav"
    write_audio(path, x, 48000, subtype="PCM_24", container="RF64")
    raw = path.read_bytes()
    assert raw[:4] == b"RF64" and raw[12:16] == b"ds64"
    riff_size, data_size, sample_count = struct.unpack("<QQQ", raw[20:44])
    assert (riff_size, data_size, sample_count) == (len(raw) - 8, 999 * 2 * 3, 999)
    info = probe(path)
    assert (info.container, info.frames, info.subtype) == ("RF64", 999, "PCM_24")
    np.testing.assert_array_equal(read_audio(path)[0], x)


def test_write_audio_infers_container_and_defaults_to_pcm24(tmp_path: Path) -> None:
    x = np.zeros((10, 1), np.float32)
    for name, container in [("a.wave", "WAV"), ("a.bwf", "WAV"), ("a.aiff", "AIFF"), ("a.flac", "FLAC")]:
        write_audio(tmp_path / name, x, 44100)
        info = probe(tmp_path / name)
        assert (info.container, info.subtype, info.frames) == (container, "PCM_24", 10)


def test_writer_rejects_bad_blocks(tmp_path: Path) -> None:
    with AudioWriter(tmp_path / "a.wav", sample_rate_hz=48000, channels=2) as w:
        with pytest.raises(ValueError):
            w.write(np.zeros(10, np.float32))
        with pytest.raises(ValueError):
            w.write(np.zeros((10, 3), np.float32))
        with pytest.raises(ValueError):
            w.write(np.full((10, 2), np.nan, np.float32))
        w.write(np.zeros((10, 2), np.float32))
    assert probe(tmp_path / "a.wav").frames == 10


def test_promotes_to_rf64_when_riff_sizes_overflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The >4 GiB path, exercised with a lowered limit so the test writes kilobytes, not gigabytes."""
    import engine.audio.wav_writer as wav_writer

    monkeypatch.setattr(wav_writer, "_MAX_RIFF_SIZE", 4000)
    x, _ = grid_signal("PCM_16", 1500, 2)
    small, big = tmp_path / "small.wav", tmp_path / "big.wav"
    write_audio(small, x[:100], 48000, subtype="PCM_16")
    write_audio(big, x, 48000, subtype="PCM_16")
    assert small.read_bytes()[:4] == b"RIFF" and big.read_bytes()[:4] == b"RF64"
    assert big.read_bytes()[12:16] == b"ds64"
    info = probe(big)
    assert (info.container, info.frames) == ("RF64", 1500)
    np.testing.assert_array_equal(read_audio(big)[0], x)
