"""Block reading covers a file exactly once, random access agrees, and bad samples are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio import AudioReader, read_audio, write_audio
from engine.errors import InputError


@pytest.fixture
def take(tmp_path: Path) -> tuple[Path, np.ndarray]:
    x = np.random.default_rng(5).uniform(-0.9, 0.9, (10007, 3)).astype(np.float32)
    path = tmp_path / "take.wav"
    write_audio(path, x, 48000, subtype="FLOAT")
    return path, x


@pytest.mark.parametrize("block_frames", [1, 1000, 4096, 10007, 65536])
def test_blocks_cover_file_exactly_once(take: tuple[Path, np.ndarray], block_frames: int) -> None:
    path, x = take
    if block_frames == 1:
        path = path.with_name("short.wav")
        x = x[:50]
        write_audio(path, x, 48000, subtype="FLOAT")
    with AudioReader(path, block_frames=block_frames) as reader:
        blocks = list(reader.blocks())
        again = np.concatenate(list(reader.blocks()))  # iterating twice starts over
    assert all(b.dtype == np.float32 and b.ndim == 2 and b.shape[0] <= block_frames for b in blocks)
    whole, sr = read_audio(path)
    assert sr == 48000
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    np.testing.assert_array_equal(again, whole)
    np.testing.assert_array_equal(whole, x)


def test_random_access(take: tuple[Path, np.ndarray]) -> None:
    path, x = take
    with AudioReader(path) as reader:
        assert reader.info.frames == 10007
        np.testing.assert_array_equal(reader.read(5000, 123), x[5000:5123])
        np.testing.assert_array_equal(reader.read(0, 7), x[:7])
        np.testing.assert_array_equal(reader.read(10000, 7), x[10000:])
        assert reader.read(10007, 0).shape == (0, 3)
        with pytest.raises(ValueError):
            reader.read(10000, 8)
        with pytest.raises(ValueError):
            reader.read(-1, 8)


def test_mono_is_two_dimensional(tmp_path: Path) -> None:
    path = tmp_path / "mono.flac"
    write_audio(path, np.zeros((100, 1), np.float32), 16000, subtype="PCM_16")
    y, sr = read_audio(path)
    assert y.shape == (100, 1) and y.dtype == np.float32 and sr == 16000


@pytest.mark.parametrize("subtype,bad", [("FLOAT", np.nan), ("DOUBLE", np.inf), ("FLOAT", -np.inf)])
def test_non_finite_samples_are_refused(tmp_path: Path, subtype: str, bad: float) -> None:
    x = np.zeros((3000, 2))
    x[2500, 1] = bad
    path = tmp_path / "bad.wav"
    sf.write(str(path), x, 48000, subtype=subtype)
    with pytest.raises(InputError, match="NaN or infinite"):
        read_audio(path)
    with AudioReader(path, block_frames=1000) as reader:
        it = reader.blocks()
        next(it)
        next(it)  # the clean blocks still come through
        with pytest.raises(InputError, match="NaN or infinite"):
            next(it)
        with pytest.raises(InputError, match="NaN or infinite"):
            reader.read(2400, 200)


def test_reader_probes_first(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        AudioReader(path)
