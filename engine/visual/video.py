"""Video reading and writing through PyAV (frames as RGB arrays, soundtrack as mono float)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from engine.errors import InputError


def read_video(path: str | Path, sample_rate_hz: int) -> tuple[list[np.ndarray], list[float], np.ndarray | None, Fraction]:
    """(RGB frames, their times in s, mono soundtrack at ``sample_rate_hz`` or None, frame rate)."""
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:  # noqa: BLE001 - PyAV raises many types
        raise InputError(path, f"cannot open the video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise InputError(path, "no video stream")
        vs = container.streams.video[0]
        rate = vs.average_rate or Fraction(25)
        frames, times = [], []
        for frame in container.decode(vs):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time) if frame.time is not None else len(times) / float(rate))
    audio = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
            chunks = []
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
            audio = np.concatenate(chunks).astype(np.float32) if chunks else None
    return frames, times, audio, Fraction(rate)


def write_video(path: str | Path, frames: list[np.ndarray], rate: Fraction,
                audio: np.ndarray | None = None, sample_rate_hz: int = 16000) -> None:
    """Write RGB frames (H.264 in the container the suffix names) and an optional mono AAC track,
    to a temporary name renamed into place (no half-written output)."""
    import av

    final = Path(path)
    tmp = final.with_name(".tmp-" + final.name)
    h, w = frames[0].shape[:2]
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        as_ = out.add_stream("aac", rate=sample_rate_hz, layout="mono") if audio is not None else None
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: vs.height, : vs.width]), format="rgb24")
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if as_ is not None:
            n = as_.codec_context.frame_size or 1024
            for i in range(0, audio.size, n):
                chunk = np.zeros((1, n), dtype=np.float32)
                part = audio[i:i + n]
                chunk[0, : part.size] = part
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate = sample_rate_hz
                af.pts = i
                for pkt in as_.encode(af):
                    out.mux(pkt)
            for pkt in as_.encode():
                out.mux(pkt)
    tmp.replace(final)
