"""Outputs appear complete or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.audio import AudioWriter, probe, write_audio
from engine.errors import InputError


class Boom(Exception):
    pass


@pytest.mark.parametrize("name", ["out.wav", "out.flac", "out.aif"])
def test_exception_inside_with_leaves_nothing(tmp_path: Path, name: str) -> None:
    final = tmp_path / name
    with pytest.raises(Boom):
        with AudioWriter(final, sample_rate_hz=48000, channels=2) as w:
            w.write(np.zeros((1000, 2), np.float32))
            raise Boom
    assert list(tmp_path.iterdir()) == []


def test_temporary_is_hidden_and_not_an_audio_name(tmp_path: Path) -> None:
    final = tmp_path / "out.wav"
    with AudioWriter(final, sample_rate_hz=48000, channels=1) as w:
        w.write(np.zeros((10, 1), np.float32))
        [tmp] = list(tmp_path.iterdir())
        assert tmp.name.startswith(".out.wav.partial-")
        assert tmp.suffix.lower() not in (".wav", ".flac", ".aif", ".aiff")
        assert not final.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_abort_and_failure_keep_previous_output(tmp_path: Path) -> None:
    final = tmp_path / "out.wav"
    write_audio(final, np.zeros((10, 1), np.float32), 48000)
    before = final.read_bytes()
    w = AudioWriter(final, sample_rate_hz=48000, channels=1)
    w.write(np.ones((99, 1), np.float32) * 0.5)
    w.abort()
    with pytest.raises(Boom):
        with AudioWriter(final, sample_rate_hz=48000, channels=1) as w2:
            w2.write(np.ones((99, 1), np.float32) * 0.5)
            raise Boom
    assert final.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_close_replaces_and_is_idempotent(tmp_path: Path) -> None:
    final = tmp_path / "out.wav"
    write_audio(final, np.zeros((10, 1), np.float32), 48000)
    w = AudioWriter(final, sample_rate_hz=48000, channels=1)
    w.write(np.zeros((20, 1), np.float32))
    w.close()
    w.close()
    assert probe(final).frames == 20
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_unwritable_subtype_is_refused_before_any_file(tmp_path: Path) -> None:
    src = tmp_path / "u8.wav"
    write_audio(src, np.zeros((10, 1), np.float32), 48000, subtype="PCM_U8")
    with pytest.raises(InputError, match="FLAC cannot hold PCM_U8"):
        AudioWriter(tmp_path / "out.flac", like=probe(src))
    with pytest.raises(InputError, match="AIFF cannot hold"):
        AudioWriter(tmp_path / "out.aif", sample_rate_hz=48000, channels=1, subtype="PCM_S8")
    with pytest.raises(InputError):
        AudioWriter(tmp_path / "out.mp3", sample_rate_hz=48000, channels=1)
    assert [p.name for p in tmp_path.iterdir()] == ["u8.wav"]
