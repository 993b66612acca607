"""load_reference on audio files and on a tiny real mp4 built with PyAV."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from engine.errors import InputError
from engine.kit._assets import asset_dir
from engine.scene import load_reference


def _speech(rate: int = 48000) -> np.ndarray:
    x, _ = sf.read(asset_dir("speech") / "Front_Center.wav", dtype="float32")
    return x


def write_video(path: Path, with_audio: bool = True, seconds: float = 1.0, audio: np.ndarray | None = None) -> np.ndarray:
    """A real video file (mpeg4 + aac, 48 kHz mono) whose frames turn from red to blue halfway."""
    speech = (_speech() if audio is None else audio)[: int(seconds * 48000)]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 640, 360, "yuv420p"
        if with_audio:
            aus = out.add_stream("aac", rate=48000)
            aus.layout = "mono"
        for k in range(int(seconds * 10)):
            img = np.zeros((360, 640, 3), np.uint8)
            img[..., 0] = 200 if k < seconds * 5 else 20
            img[..., 2] = min(255, 30 + 10 * k)
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if with_audio:
            frame_n = 1024
            for i in range(0, speech.size, frame_n):
                block = np.zeros((1, frame_n), np.float32)
                chunk = speech[i : i + frame_n]
                block[0, : chunk.size] = chunk
                f = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
                f.sample_rate = 48000
                f.pts = i
                for pkt in aus.encode(f):
                    out.mux(pkt)
            for pkt in aus.encode():
                out.mux(pkt)
    return speech


def test_mp4_gives_audio_and_png_thumbnail(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    speech = write_video(path)
    audio, rate, png = load_reference(path)
    assert rate == 48000 and audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 1
    assert abs(audio.shape[0] - speech.size) < 4096
    # AAC has encoder delay; the decoded speech still carries the clip's energy.
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(np.sqrt(np.mean(speech**2)), rel=0.3)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width == 512
    _, _, png0 = load_reference(path, frame_s=0.0)
    r0 = np.asarray(Image.open(io.BytesIO(png0)).convert("RGB"))[..., 0].mean()
    assert r0 > 150  # early frames are red


def test_video_without_audio_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "mute.mp4"
    write_video(path, with_audio=False)
    with pytest.raises(InputError, match="no audio"):
        load_reference(path)


def test_audio_file_and_unreadable(tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros((4800, 2), np.float32), 44100)
    audio, rate, png = load_reference(wav)
    assert audio.shape == (4800, 2) and rate == 44100 and png is None
    bad = tmp_path / "b.flac"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(InputError, match="unreadable"):
        load_reference(bad)
