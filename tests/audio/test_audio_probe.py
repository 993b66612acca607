"""Every kind of bad input is refused with a short, specific reason."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio import probe, write_audio
from engine.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def reason(path: Path) -> str:
    with pytest.raises(InputError) as exc:
        probe(path)
    assert exc.value.path == path
    return exc.value.reason


def good_wav(path: Path, frames: int = 4800, channels: int = 2, rate_hz: int = 48000) -> Path:
    write_audio(path, np.zeros((frames, channels), np.float32), rate_hz, subtype="PCM_16")
    return path


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in reason(tmp_path / "nope.wav")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.wav").mkdir()
    assert "folder" in reason(tmp_path / "dir.wav")


def test_unreadable(tmp_path: Path) -> None:
    """Probed in a child process; as root, one without the capability to bypass file permissions."""
    path = good_wav(tmp_path / "locked.wav")
    code = (
        "import sys; from pathlib import Path; from engine.audio import probe; from engine.errors import InputError\n"
        "try:\n    probe(Path(sys.argv[1]))\nexcept InputError as e:\n    print(e.reason)\n"
    )
    cmd = [sys.executable, "-c", code, str(path)]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    path.chmod(0)
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    finally:
        path.chmod(0o644)
    assert out.returncode == 0, out.stderr
    assert "permission" in out.stdout


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert "empty" in reason(path)


def test_text_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("Scene 12, take 3: boom dipped into frame.\n" * 20)
    assert "not a recognised audio file" in reason(path)


def test_truncated_wav(tmp_path: Path) -> None:
    path = good_wav(tmp_path / "cut.wav")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert sf.info(str(path)).frames > 0  # libsndfile alone would have accepted it
    r = reason(path)
    assert "truncated" in r and "bytes of audio" in r


def test_truncated_inside_metadata_chunk(tmp_path: Path) -> None:
    path = tmp_path / "cut_bext.wav"
    write_audio(path, np.zeros((10, 1), np.float32), 48000)
    raw = path.read_bytes()
    fmt_end = raw.index(b"data")
    path.write_bytes(raw[:fmt_end] + b"bext" + struct.pack("<I", 602) + b"x" * 100)
    assert "truncated" in reason(path)


def test_zero_frames(tmp_path: Path) -> None:
    path = tmp_path / "zero.wav"
    write_audio(path, np.zeros((0, 2), np.float32), 48000)
    assert "0 frames" in reason(path)


def test_unsupported_container(tmp_path: Path) -> None:
    path = tmp_path / "take.au"
    sf.write(str(path), np.zeros((100, 1)), 48000, format="AU", subtype="PCM_16")
    assert "unsupported container 'AU'" in reason(path)


def test_absurd_sample_rate(tmp_path: Path) -> None:
    path = good_wav(tmp_path / "slow.wav", rate_hz=100)
    assert "sample rate" in reason(path)


@pytest.mark.parametrize(
    "rate_hz,channels", [(8000, 1), (16000, 1), (44100, 2), (192000, 8), (384000, 2), (48000, 32)]
)
def test_supported_shapes(tmp_path: Path, rate_hz: int, channels: int) -> None:
    path = good_wav(tmp_path / "ok.wav", frames=rate_hz // 100, channels=channels, rate_hz=rate_hz)
    info = probe(path)
    assert (info.container, info.subtype) == ("WAV", "PCM_16")
    assert (info.sample_rate_hz, info.channels, info.frames) == (rate_hz, channels, rate_hz // 100)
    assert info.duration_s == pytest.approx(0.01)
    assert info.chunks == {}
